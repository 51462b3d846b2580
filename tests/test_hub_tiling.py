"""FLAIR-HUB's zonal tile grid, pixel for pixel: an independent re-implementation of its slicing and
writing (map units, floating point, as reference/FLAIR-HUB-MODELS.md §3 describes them) against the
grid the engine uses for FLAIR-HUB models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_raster, random_image
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.tiling import flair_hub_tile_grid, grid_function, tile_grid
from flair_qgis.zoo import get_entry

RES, LEFT, TOP = 0.2, 650000.0, 6860000.0


def flair_hub_paint(width: int, height: int, size: int, margin: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Paint each written centre with its tile's number, in FLAIR-HUB's order, in map units:
    x from left − m, y from bottom − m, step (t − 2m); a tile ending past the far edge + m is moved
    back; tiles whose centre bounds repeat are skipped; x outer, y (bottom to top) inner; the centre
    is written at round((left − L) / res), round((T − top) / res), clipped at the raster's edge."""
    right, bottom = LEFT + width * RES, TOP - height * RES
    tile, m, step = size * RES, margin * RES, (size - 2 * margin) * RES
    canvas = np.full((height, width), -1, np.int64)
    seen, starts = set(), []
    for x in np.arange(LEFT - m, right + m, step):
        for y in np.arange(bottom - m, TOP + m, step):
            x0 = right + m - tile if x + tile > right + m else x
            y0 = TOP + m - tile if y + tile > TOP + m else y
            c_left, c_bottom = x0 + m, y0 + m
            c_right, c_top = min(x0 + tile - m, right), min(y0 + tile - m, TOP)
            bounds = tuple(round(v, 6) for v in (c_left, c_bottom, c_right, c_top))
            if bounds in seen:
                continue
            seen.add(bounds)
            col, row = int(round((c_left - LEFT) / RES)), int(round((TOP - c_top) / RES))
            h, w = min(size - 2 * margin, height - row), min(size - 2 * margin, width - col)
            canvas[row:row + h, max(col, 0):col + w] = len(starts)
            starts.append((int(round((x0 - LEFT) / RES)), int(round((TOP - (y0 + tile)) / RES))))
    return canvas, starts


SHAPES = [(1300, 1100), (1536, 1536), (1018, 638), (513, 511), (300, 900), (2000, 700), (256, 256)]


@pytest.mark.parametrize("width,height", SHAPES)
@pytest.mark.parametrize("size,margin", [(512, 128), (1024, 256), (2048, 512), (256, 64)])
def test_each_pixel_is_owned_by_the_tile_flair_hub_writes_last(width, height, size, margin):
    if width < size - 2 * margin or height < size - 2 * margin:
        pytest.skip("FLAIR-HUB itself fails on a raster smaller than a tile's centre (negative write window)")
    canvas, starts = flair_hub_paint(width, height, size, margin)
    owner = np.full((height, width), -1, np.int64)
    hits = np.zeros((height, width), np.int64)
    number = {start: i for i, start in enumerate(starts)}
    grid = flair_hub_tile_grid(width, height, size, margin)
    for t in grid:
        window = (slice(t.out_row, t.out_row + t.out_height), slice(t.out_col, t.out_col + t.out_width))
        owner[window] = number[(t.col, t.row)]
        hits[window] += 1
    assert (hits == 1).all(), "the tiles must partition the raster"
    np.testing.assert_array_equal(owner, canvas)
    assert {(t.col, t.row) for t in grid} <= set(starts)


def test_the_reference_example_has_30_tiles_at_the_listed_places():
    _canvas, starts = flair_hub_paint(1300, 1100, 512, 128)
    assert len(starts) == 30
    assert sorted({c for c, _ in starts}) == [-128, 128, 384, 640, 896, 916]
    assert sorted({r for _, r in starts}, reverse=True) == [716, 460, 204, -52, -128]
    assert len(flair_hub_tile_grid(1300, 1100, 512, 128)) == 30


def test_hub_models_use_the_flair_hub_grid_and_flair_inc_models_flair_detects():
    assert get_entry("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet").spec.grid == "flair-hub"
    assert get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec.grid == "flair-detect"
    assert grid_function("flair-hub") is flair_hub_tile_grid and grid_function("flair-detect") is tile_grid


class PixelModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 19, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_the_engine_tiles_a_hub_model_on_the_flair_hub_grid(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(1100, 1300))
    spec = get_entry("FLAIR-HUB_LC-A_RGB_swintiny-upernet").spec
    options = SegmentRequest.of(src, tmp_path / "out.tif", batch_size=8, tile_size=512, margin=128)
    assert segment_with(PixelModel().eval(), spec, options).tiles == 30
    at_default = segment_with(PixelModel().eval(), spec, SegmentRequest.of(src, tmp_path / "default.tif"))
    assert (at_default.spec.tile_size, at_default.spec.margin) == (2048, 512) and at_default.tiles == 2 * 2


class BatchRecorder(PixelModel):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return super().forward(x)


def test_large_tiles_on_the_cpu_are_batched_by_pixels_not_by_count(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(600, 1100))
    spec = get_entry("FLAIR-HUB_LC-A_RGB_swintiny-upernet").spec
    logs: list[str] = []
    from flair_qgis.progress import Progress

    model = BatchRecorder().eval()
    result = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "o.tif", tile_size=1024, margin=256,
                                                      batch_size=4, device="cpu"), Progress(log=logs.append))
    assert result.tiles == 6 and model.batches == [1] * 7  # the CPU memory probe (one tile), then the 6 tiles
    assert any("Batch lowered from 4 to 1 tile(s) of 1024 px on the CPU" in m for m in logs)
    small = BatchRecorder().eval()
    segment_with(small, spec, SegmentRequest.of(src, tmp_path / "s.tif", tile_size=512, margin=128, batch_size=4))
    assert max(small.batches) == 4  # 4 tiles of 512 px: the batch asked for
