"""What makes the engine keep up with the model: 8-bit normalisation through a table into a reused
buffer (the same numbers as the float64 formula, nothing left over from another batch), and the
pipeline starting batch k + 1 before it stitches batch k."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import tiny_model
from flair_qgis import raster_io, zoo
from flair_qgis.normalisation import Normalisation
from flair_qgis.pipeline import run_cropped
from flair_qgis.prediction import Predictor
from flair_qgis.progress import Progress
from test_pipeline import _setup


def _float64_formula(norm: Normalisation, pixels: np.ndarray) -> np.ndarray:
    """flair-detect's normalisation: float64, then cast."""
    x = pixels.astype(np.float64)
    if norm.type == "without":
        return x.astype(np.float32)
    if norm.type == "scaling":
        return (x / 255).astype(np.float32)
    shape = (1, -1, 1, 1)
    return ((x - np.array(norm.means).reshape(shape)) / np.array(norm.stds).reshape(shape)).astype(np.float32)


@pytest.mark.parametrize("norm", [Normalisation.for_bands(("R", "G", "B", "NIR")), Normalisation("scaling"),
                                  Normalisation("without")], ids=lambda n: n.type)
def test_the_8_bit_table_gives_exactly_the_float64_formulas_numbers(norm):
    every = np.broadcast_to(np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16), (2, 4, 16, 16)).copy()
    every[1] = every[1, :, ::-1]
    expected = _float64_formula(norm, every)
    got = norm.apply(every)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(norm.apply(every[0]), expected[0])  # one tile, bands first
    out = np.full(every.shape, np.nan, np.float32)
    assert norm.apply(every, out=out) is out
    np.testing.assert_array_equal(out, expected)
    if norm.type != "scaling":  # 16-bit scaling divides by 65535: the formula, not the table
        np.testing.assert_array_equal(norm.apply(every.astype(np.uint16), out=out), expected)


def test_a_band_count_the_statistics_do_not_cover_is_refused():
    from flair_qgis.errors import FlairError

    with pytest.raises(FlairError, match="3 means/stds but 4 bands"):
        Normalisation.for_bands(("R", "G", "B")).apply(np.zeros((1, 4, 8, 8), np.uint8))


def test_the_reused_batch_buffer_leaks_nothing_between_batches_nor_into_a_last_partial_batch():
    spec = zoo.get_entry(zoo.DEFAULT_MODEL).spec
    spec = replace(spec, bands=spec.bands[:3], normalisation=Normalisation.for_bands(("R", "G", "B")))
    model = tiny_model()
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, (4, 3, 64, 64), dtype=np.uint8) for _ in range(2))
    partial = second[:3]
    reused = Predictor(model, spec, torch.device("cpu"), channels_last=False)
    reused(first)
    buffer = reused._buffer
    got_second = reused(second)
    assert reused._buffer is buffer  # the same buffer, batch after batch
    got_partial = reused(partial)
    for tiles, got in ((second, got_second), (partial, got_partial)):
        fresh = Predictor(model, spec, torch.device("cpu"), channels_last=False)
        np.testing.assert_array_equal(got, fresh(tiles))


class Staged:
    """A predictor with ``submit``: records when each batch starts and when its result is taken."""

    def __init__(self):
        self.events: list[tuple[str, int]] = []

    def __call__(self, tiles):
        raise AssertionError("the pipeline uses submit when the predictor has it")

    def submit(self, tiles):
        k = sum(1 for e in self.events if e[0] == "start")
        self.events.append(("start", k))
        result = tiles[:, :1].copy()

        def collect():
            self.events.append(("collect", k))
            return result
        return collect


def test_the_pipeline_starts_the_next_batch_before_it_stitches_the_previous_one(tmp_path):
    path, grid, validity = _setup(tmp_path)
    out = np.zeros((1, 200, 300), np.int32)

    def put(block, window, valid):
        out[:, window.row_off:window.row_off + window.height, window.col_off:window.col_off + window.width] += \
            block.astype(np.int32) + 1

    assert len(grid) % 3  # a last partial batch
    staged = Staged()
    computed = run_cropped(path, [1, 2, 3], grid, staged, 1, validity, put, Progress(), batch_size=3, readers=1)
    assert computed == len(grid)
    with raster_io.open_raster(path) as src:
        np.testing.assert_array_equal(out[0], src.read(1).astype(np.int32) + 1)  # every pixel once, in place
    batches = -(-len(grid) // 3)
    starts = [i for i, e in enumerate(staged.events) if e[0] == "start"]
    collects = [i for i, e in enumerate(staged.events) if e[0] == "collect"]
    assert len(starts) == len(collects) == batches > 2
    for k in range(batches - 1):
        assert starts[k + 1] < collects[k]  # batch k + 1 runs while batch k is stitched
    assert staged.events[-1] == ("collect", batches - 1)



def _nodata_raster(tmp_path, dtype=np.uint8):
    from conftest import make_raster, random_image

    data = random_image(200, 300, seed=5).astype(dtype)
    data[:, :80, :120] = 0  # a corner without data
    data[0, 150:, :] = 0  # a band without data where the others have some
    return make_raster(tmp_path / "nodata.tif", data, nodata=0)


def test_a_nodata_value_mask_comes_from_the_pixels_read_and_equals_gdals(tmp_path, monkeypatch):
    from flair_qgis import pipeline
    from flair_qgis.tiling import tile_grid

    path = _nodata_raster(tmp_path)
    grid = tile_grid(300, 200, 64, 16)
    with raster_io.open_raster(path) as src:
        validity = raster_io.Validity(src, [1, 2, 3])
        np.testing.assert_array_equal(validity.values, [0, 0, 0])
        expected = {t: raster_io.read_valid(src, [1, 2, 3], raster_io.Window(t.out_col, t.out_row, t.out_width,
                                                                               t.out_height)) for t in grid}
        assert not all(v.all() for v in expected.values()) and any(v.any() for v in expected.values())
        monkeypatch.setattr(raster_io, "read_valid", lambda *a: pytest.fail("the pixels were read twice"))
        for chunk in pipeline.row_chunks(grid, 3):
            for w in pipeline.read_chunk(src, [1, 2, 3], chunk, validity):
                np.testing.assert_array_equal(w.valid, expected[w.tile])
                assert (w.pixels is None) == (not w.valid.any())


def test_masks_other_than_an_integer_nodata_value_are_still_read_from_gdal(tmp_path):
    from conftest import make_raster, random_image

    with raster_io.open_raster(_nodata_raster(tmp_path, np.float32)) as src:
        assert raster_io.Validity(src, [1, 2, 3]).values is None  # floats: NaN and rounding left to GDAL
    with raster_io.open_raster(make_raster(tmp_path / "plain.tif", random_image(20, 30))) as src:
        validity = raster_io.Validity(src, [1, 2, 3])
        assert validity.values is None and not validity.active
