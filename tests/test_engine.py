"""The inference engine: exact stitching, nodata, masked classes, outputs, atomic writes, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import ignf_state_dict, make_raster, random_image, tiny_model
from flair_qgis.checkpoints import save_checkpoint
from flair_qgis.model_spec import ModelSpec
from flair_qgis.engine import segment, segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.prediction import pick_device
from flair_qgis.errors import Cancelled, FlairError
from flair_qgis.normalisation import Normalisation
from flair_qgis.palette import palette
from flair_qgis.progress import Progress
from flair_qgis.zoo import get_entry

ENTRY = get_entry("FLAIR-INC_rgb_15cl_resnet34-unet")


def small_spec(spec: ModelSpec, size: int = 64, margin: int = 16) -> ModelSpec:
    from dataclasses import replace

    return replace(spec, tile_size=size, margin=margin)


class PixelModel(torch.nn.Module):
    """Output depends on each pixel alone (a 1×1 convolution)."""

    def __init__(self, in_channels: int = 3, classes: int = 19, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(in_channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def untiled_logits(model: torch.nn.Module, spec: ModelSpec, pixels: np.ndarray) -> torch.Tensor:
    model = model.to(memory_format=torch.contiguous_format)  # the engine runs it channels-last
    x = torch.from_numpy(spec.normalisation.apply(pixels))[None]
    with torch.inference_mode():
        logits = model(x)[0].clone()
        logits[torch.tensor([not a for a in spec.active])] = float("-inf")
    return logits


def untiled_codes(model: torch.nn.Module, spec: ModelSpec, pixels: np.ndarray) -> np.ndarray:
    codes = np.array([c.code for c in spec.classes])
    return codes[untiled_logits(model, spec, pixels).argmax(0).numpy()]


def assert_same_classes(out: np.ndarray, model: torch.nn.Module, spec: ModelSpec, pixels: np.ndarray,
                        where: tuple = np.s_[...]) -> None:
    """``out`` holds the untiled argmax, except at exact ties of the two best logits, which
    another memory layout or batch may round the other way (1e-5 apart at most)."""
    logits = untiled_logits(model, spec, pixels)[(slice(None),) + tuple(np.index_exp[where])].numpy()
    expected = untiled_codes(model, spec, pixels)[where]
    differ = out != expected
    if differ.any():
        index = {c.code: i for i, c in enumerate(spec.classes)}
        chosen = np.vectorize(index.get)(out[differ])
        best = logits.max(axis=0)[differ]
        got = np.take_along_axis(logits[:, differ], chosen[None], axis=0)[0]
        assert (best - got).max() < 1e-5, f"{differ.sum()} pixels differ beyond rounding"


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.mark.parametrize("height,width", [(300, 420), (50, 70), (1, 1), (64, 64), (97, 33), (256, 128)])
def test_per_pixel_model_gives_the_same_result_tiled_as_untiled(tmp_path, height, width):
    pixels = random_image(height, width, seed=height)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    result = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "out.tif"))
    out = read(result.output)
    assert out.shape == (1, height, width)
    assert_same_classes(out[0], model, spec, pixels)


def test_each_pixel_gets_its_own_tile_prediction_exactly_in_place(tmp_path):
    """With a model that sees context, each pixel must equal the prediction of the tile that owns
    it, read with zeros outside the raster — no shift, no stretch, no seam."""
    from flair_qgis.tiling import tile_grid

    height, width, size, margin = 150, 170, 64, 16
    pixels = random_image(height, width, seed=3)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec, size, margin)
    model = tiny_model()
    out = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "out.tif", batch_size=3)).output)[0]

    padded = np.zeros((3, height + 2 * size, width + 2 * size), np.uint8)
    padded[:, size:size + height, size:size + width] = pixels
    expected = np.zeros((height, width), np.int64)
    for t in tile_grid(width, height, size, margin):
        window = padded[:, t.row + size:t.row + 2 * size, t.col + size:t.col + 2 * size]
        codes = untiled_codes(model, spec, window)
        rows, cols = t.crop
        expected[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width] = codes[rows, cols]
    # channels-last and batching may round an exact tie of two logits the other way: 1e-4 at most
    assert (out != expected).mean() < 1e-4


def test_output_has_the_input_grid_colour_table_and_class_names(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(100, 140), origin=(843210.4, 6519876.2))
    spec = small_spec(ENTRY.spec)
    result = segment_with(PixelModel().eval(), spec, SegmentRequest.of(src, tmp_path / "out.tif"))
    with rasterio.open(src) as a, rasterio.open(result.output) as b:
        assert (b.crs, b.transform, b.width, b.height) == (a.crs, a.transform, a.width, a.height)
        assert b.dtypes == ("uint8",) and b.nodata == 0 and b.count == 1
        assert b.profile["tiled"] and b.compression is not None
        cmap = b.colormap(1)
        for c in palette("flair-15"):
            assert cmap[c.code][:3] == c.rgba()[:3]
            assert b.tags(1)[f"CLASS_{c.code}"] == c.name
        assert "CLASS_16" not in b.tags(1)  # switched-off class of the 15-class models
        assert json.loads(b.tags()["FLAIR_CLASSES"])[0] == [1, "building", "#db0e9a"]
    qml = result.style.read_text()
    assert result.style == tmp_path / "out.qml"
    assert 'type="paletted"' in qml and 'label="swimming pool"' in qml and 'value="16"' not in qml


def test_switched_off_classes_are_never_predicted(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(80, 90))
    model = PixelModel().eval()
    with torch.no_grad():
        model.conv.bias[15] = 1e6  # code 16 "mixed" would win everywhere
        model.conv.bias[3] = 1e3   # code 4 is the best active class
    spec = small_spec(ENTRY.spec)
    out = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "out.tif")).output)
    assert set(np.unique(out)) == {4}


def test_class_prob_writes_one_band_per_class_and_probabilities_sum_to_255(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(70, 90))
    spec = small_spec(ENTRY.spec)
    result = segment_with(PixelModel().eval(), spec,
                          SegmentRequest.of(src, tmp_path / "p.tif", output_type="class_prob"))
    probs = read(result.output).astype(int)
    assert probs.shape == (19, 70, 90)
    assert result.style is None
    inactive = [i for i, a in enumerate(spec.active) if not a]
    assert probs[inactive].max() == 0
    assert np.abs(probs.sum(axis=0) - 255).max() <= 10  # rounding of 15 active bands
    with rasterio.open(result.output) as b:
        assert b.descriptions[0] == "building"


def test_nodata_stays_nodata_and_empty_tiles_are_skipped(tmp_path):
    pixels = random_image(200, 200, seed=5)
    pixels[:, :, :120] = 0  # left part is nodata
    src = make_raster(tmp_path / "in.tif", pixels, nodata=0)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    result = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "out.tif"))
    out = read(result.output)[0]
    assert (out[:, :120] == 0).all()
    assert (out[:, 120:] > 0).all()
    assert result.tiles_computed < result.tiles


def test_alpha_band_is_skipped_by_default_and_masks_the_output(tmp_path):
    rgb = random_image(90, 100, seed=7)
    alpha = np.full((1, 90, 100), 255, np.uint8)
    alpha[:, 60:, :] = 0
    path = tmp_path / "rgba.tif"
    with rasterio.open(path, "w", driver="GTiff", width=100, height=90, count=4, dtype="uint8",
                       crs="EPSG:2154", transform=rasterio.transform.from_origin(0, 0, 0.2, 0.2),
                       photometric="RGB", alpha="YES") as dst:
        dst.write(np.concatenate([rgb, alpha]))
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    out = read(segment_with(model, spec, SegmentRequest.of(path, tmp_path / "out.tif")).output)[0]
    assert (out[60:] == 0).all()
    assert_same_classes(out[:60], model, spec, rgb, np.s_[:60])


def test_bands_are_chosen_and_ordered_by_the_user(tmp_path):
    pixels = random_image(60, 80, bands=4, seed=9)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    four = make_raster(tmp_path / "four.tif", pixels)
    three = make_raster(tmp_path / "three.tif", pixels[[3, 1, 0]])
    a = read(segment_with(model, spec, SegmentRequest.of(four, tmp_path / "a.tif", bands=[4, 2, 1])).output)
    b = read(segment_with(model, spec, SegmentRequest.of(three, tmp_path / "b.tif")).output)
    np.testing.assert_array_equal(a, b)


def test_normalisation_override_changes_what_the_model_sees(tmp_path):
    pixels = random_image(40, 40, seed=11)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    from dataclasses import replace

    model = PixelModel().eval()
    scaled = replace(spec, normalisation=Normalisation("scaling"))
    out = read(segment_with(model, scaled, SegmentRequest.of(src, tmp_path / "s.tif")).output)[0]
    assert_same_classes(out, model, scaled, pixels)


def test_flair_normalisation_matches_flair_detect_arithmetic():
    pixels = random_image(4, 5, seed=1)
    norm = Normalisation.for_bands(("R", "G", "B"))
    expected = ((pixels.astype(np.float64) - np.array([105.08, 110.87, 101.82])[:, None, None])
                / np.array([52.17, 45.38, 44.00])[:, None, None]).astype(np.float32)
    np.testing.assert_array_equal(norm.apply(pixels), expected)
    np.testing.assert_allclose(Normalisation("scaling").apply(pixels), pixels / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(Normalisation("without").apply(pixels), pixels.astype(np.float32))


def test_cancel_stops_and_leaves_the_previous_output_untouched(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(200, 200))
    out = tmp_path / "out" / "map.tif"
    out.parent.mkdir()
    out.write_bytes(b"previous result")
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 2

    spec = small_spec(ENTRY.spec)
    with pytest.raises(Cancelled):
        segment_with(PixelModel().eval(), spec, SegmentRequest.of(src, out, batch_size=1),
                     Progress(cancelled=cancelled))
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in out.parent.iterdir()) == ["map.tif"]


def test_a_failure_while_writing_leaves_no_temporary_file(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(100, 100))
    spec = small_spec(ENTRY.spec)

    class Broken(PixelModel):
        calls = 0

        def forward(self, x):
            Broken.calls += 1
            if Broken.calls > 2:  # the CPU memory probe, one batch written, then the failure
                raise RuntimeError("boom")
            return super().forward(x)

    out_dir = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        segment_with(Broken().eval(), spec, SegmentRequest.of(src, out_dir / "map.tif", batch_size=1))
    assert list(out_dir.iterdir()) == []


def test_progress_reaches_one_and_logs_the_grid(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(130, 130))
    fractions, logs = [], []
    spec = small_spec(ENTRY.spec)
    segment_with(PixelModel().eval(), spec, SegmentRequest.of(src, tmp_path / "o.tif", batch_size=2),
                 Progress(fraction=fractions.append, log=logs.append))
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("tiles of 64 px" in m for m in logs)


def test_full_path_from_an_ignf_checkpoint_file(tmp_path):
    """segment(): the checkpoint file, its zoo entry found by name, the model, the output."""
    model = tiny_model()
    ckpt = tmp_path / "weights.pth"
    torch.save(ignf_state_dict(model), ckpt)
    src = make_raster(tmp_path / "in.tif", random_image(90, 120))
    from dataclasses import replace

    spec = small_spec(replace(ENTRY.spec, encoder="tu-mobilenetv3_small_050"))
    own = save_checkpoint(tmp_path / "own.ckpt", model, spec)
    a = segment(SegmentRequest.of(src, tmp_path / "a.tif", checkpoint=own))
    b = segment(SegmentRequest.of(src, tmp_path / "b.tif", checkpoint=ckpt, arch="unet",
                               encoder="tu-mobilenetv3_small_050", tile_size=64, margin=16))
    assert a.spec == spec
    assert b.spec.classes == palette("flair-19")  # bare file: all 19 FLAIR classes
    np.testing.assert_array_equal(read(a.output), read(segment_with(model, spec, SegmentRequest.of(
        src, tmp_path / "c.tif")).output))


@pytest.mark.parametrize("change,words", [
    (dict(output_type="probabilities"), "unknown output type"),
    (dict(batch_size=0), "batch size"),
    (dict(output=Path("same")), "is the input"),
    (dict(output=Path("map.png")), "GeoTIFF"),
    (dict(bands=[1, 2, 7]), "band 7 does not exist"),
    (dict(bands=[1, 2]), "takes 3 bands"),
])
def test_bad_requests_are_refused_before_anything_is_written(tmp_path, change, words):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    options = SegmentRequest.of(src, tmp_path / "out" / "map.tif")
    for key, value in change.items():
        options = options.changed(**{key: src if value == Path("same") else
                                     (tmp_path / "out" / value if isinstance(value, Path) else value)})
    with pytest.raises(FlairError, match=words):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec), options)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_raster_without_crs_is_refused(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40), crs=None)
    with pytest.raises(FlairError, match="no CRS"):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec), SegmentRequest.of(src, tmp_path / "o.tif"))


def test_missing_and_unreadable_inputs_are_named(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    spec = small_spec(ENTRY.spec)
    with pytest.raises(FlairError, match="does not exist"):
        segment_with(PixelModel().eval(), spec, SegmentRequest.of(tmp_path / "nope.tif", tmp_path / "o.tif"))
    with pytest.raises(FlairError, match="cannot be read"):
        segment_with(PixelModel().eval(), spec, SegmentRequest.of(bad, tmp_path / "o.tif"))


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        target = Path("/proc/flair-out/map.tif")  # root can write anywhere else
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "map.tif"
    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    with pytest.raises(FlairError, match="output folder"):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec), SegmentRequest.of(src, target))


def test_devices():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(FlairError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(FlairError, match="no CUDA"):
            pick_device("cuda")


# --- presets and speed options: same answers, whatever the pipeline does -----------------------

def test_fast_preset_doubles_the_tile_and_keeps_exact_stitching(tmp_path):
    pixels = random_image(230, 190, seed=21)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    result = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "f.tif", preset="fast"))
    assert (result.spec.tile_size, result.spec.margin) == (128, 16)
    assert_same_classes(read(result.output)[0], model, spec, pixels)


def test_unknown_preset_is_refused(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    with pytest.raises(FlairError, match="unknown preset"):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec),
                     SegmentRequest.of(src, tmp_path / "o.tif", preset="turbo"))


def test_flip_tta_of_a_flip_invariant_model_changes_nothing(tmp_path):
    pixels = random_image(90, 110, seed=22)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    out = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "t.tif", tta=True)).output)[0]
    assert_same_classes(out, model, spec, pixels)


def test_tta_averages_flipped_predictions_of_a_context_model(tmp_path):
    from flair_qgis.prediction import Predictor

    spec = small_spec(ENTRY.spec)
    model = tiny_model()
    tiles = random_image(64, 64, seed=23)[None]
    x = torch.from_numpy(spec.normalisation.apply(tiles))
    mask = torch.tensor([not a for a in spec.active])[None, :, None, None]
    with torch.inference_mode():
        expected = sum(torch.softmax(model(x.flip(d) if d else x).masked_fill(mask, float("-inf")), 1)
                       .flip(d) if d else
                       torch.softmax(model(x).masked_fill(mask, float("-inf")), 1)
                       for d in ([], [2], [3], [2, 3])) / 4
    got = Predictor(model, spec, torch.device("cpu"), argmax=False, tta=True, channels_last=False)(tiles)
    assert np.abs(got.astype(int) - (expected * 255).round().numpy().astype(int)).max() <= 1


def test_several_reader_threads_give_the_same_output(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(300, 260, seed=24), nodata=0)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    one = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "a.tif", readers=1)).output)
    three = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "b.tif", readers=3,
                                                          batch_size=5)).output)
    np.testing.assert_array_equal(one, three)


def test_bf16_autocast_agrees_with_fp32(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(64, 64, seed=25))
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    a = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "a.tif", precision="fp32")).output)
    b = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "b.tif", precision="bf16")).output)
    assert (a == b).mean() > 0.9


def test_out_of_memory_halves_the_batch_and_goes_on():
    from flair_qgis.prediction import Predictor

    class SmallMemory(PixelModel):
        seen: list = []

        def forward(self, x):
            SmallMemory.seen.append(len(x))
            if len(x) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return super().forward(x)

    spec = small_spec(ENTRY.spec)
    tiles = random_image(64, 64 * 8, seed=26).reshape(3, 64, 8, 64).transpose(2, 0, 1, 3).copy()
    model = SmallMemory().eval()
    got = Predictor(model, spec, torch.device("cpu"), channels_last=False)(tiles)
    assert got.shape == (8, 1, 64, 64)
    assert SmallMemory.seen == [8, 4, 2, 2, 4, 2, 2]
    expected = Predictor(PixelModel().eval(), spec, torch.device("cpu"), channels_last=False)(tiles)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("window", [(0, 0, 190, 230), (37, 51, 100, 77), (150, 200, 40, 30), (5, 0, 1, 1)])
def test_a_window_of_the_raster_equals_that_part_of_the_whole_run(tmp_path, window):
    src = make_raster(tmp_path / "in.tif", random_image(230, 190, seed=31), nodata=0)
    spec = small_spec(ENTRY.spec)
    model = tiny_model()
    whole = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "whole.tif"))
    part = segment_with(model, spec, SegmentRequest.of(src, tmp_path / "part.tif", window=window))
    col, row, w, h = window
    np.testing.assert_array_equal(read(part.output)[0], read(whole.output)[0, row:row + h, col:col + w])
    with rasterio.open(part.output) as p, rasterio.open(src) as s:
        assert p.transform == s.window_transform(rasterio.windows.Window(*window))
        assert (p.width, p.height) == (w, h)


def test_a_window_outside_the_raster_is_refused(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    with pytest.raises(FlairError, match="not inside"):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec),
                     SegmentRequest.of(src, tmp_path / "o.tif", window=(30, 30, 20, 5)))


# --- blend stitching ---------------------------------------------------------------------------

def blended_by_hand(model, spec, pixels):
    """Weighted average of every tile's probabilities over the whole raster, computed naively."""
    from flair_qgis.blend import window_weights
    from flair_qgis.tiling import tile_grid

    bands, height, width = pixels.shape
    size = spec.tile_size
    padded = np.zeros((bands, height + 2 * size, width + 2 * size), np.uint8)
    padded[:, size:size + height, size:size + width] = pixels
    sums = np.zeros((19, height + 2 * size, width + 2 * size))
    wsum = np.zeros((height + 2 * size, width + 2 * size))
    w = window_weights(size)
    for t in tile_grid(width, height, size, spec.margin):
        logits = untiled_logits(model, spec, padded[:, t.row + size:t.row + 2 * size, t.col + size:t.col + 2 * size])
        probs = torch.softmax(logits, 0).numpy()
        sums[:, t.row + size:t.row + 2 * size, t.col + size:t.col + 2 * size] += probs * w
        wsum[t.row + size:t.row + 2 * size, t.col + size:t.col + 2 * size] += w
    codes = np.array([c.code for c in spec.classes])
    return codes[sums[:, size:size + height, size:size + width].argmax(0)]


def test_blend_of_a_per_pixel_model_equals_the_untiled_prediction(tmp_path):
    pixels = random_image(150, 130, seed=41)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    model = PixelModel().eval()
    out = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "b.tif", stitch="blend")).output)[0]
    assert_same_classes(out, model, spec, pixels)


@pytest.mark.parametrize("stripe", [2048, 45])
def test_blend_averages_every_overlapping_tile_with_the_window(tmp_path, monkeypatch, stripe):
    import flair_qgis.blend

    monkeypatch.setattr(flair_qgis.blend, "STRIPE", stripe)
    pixels = random_image(110, 140, seed=42)
    src = make_raster(tmp_path / "in.tif", pixels)
    spec = small_spec(ENTRY.spec)
    model = tiny_model()
    out = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "b.tif", stitch="blend")).output)[0]
    assert (out != blended_by_hand(model, spec, pixels)).mean() < 1e-3


def test_blend_keeps_nodata_windows_and_probabilities(tmp_path):
    pixels = random_image(120, 100, seed=43)
    pixels[:, :50] = 0
    src = make_raster(tmp_path / "in.tif", pixels, nodata=0)
    spec = small_spec(ENTRY.spec)
    model = tiny_model()
    whole = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "w.tif", stitch="blend")).output)[0]
    assert (whole[:50] == 0).all() and (whole[50:] > 0).all()
    part = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "p.tif", stitch="blend",
                                                         window=(10, 40, 70, 60))).output)[0]
    np.testing.assert_array_equal(part, whole[40:100, 10:80])
    probs = read(segment_with(model, spec, SegmentRequest.of(src, tmp_path / "c.tif", stitch="blend",
                                                          output_type="class_prob")).output).astype(int)
    assert probs.shape[0] == 19 and np.abs(probs[:, 50:].sum(0) - 255).max() <= 10
    assert (probs[:, :50] == 0).all()


def test_unknown_stitching_is_refused(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    with pytest.raises(FlairError, match="unknown stitching"):
        segment_with(PixelModel().eval(), small_spec(ENTRY.spec),
                     SegmentRequest.of(src, tmp_path / "o.tif", stitch="feather"))


def test_automatic_batch_size(tmp_path):
    from flair_qgis.prediction import batch_for_memory

    assert batch_for_memory(10 * 2**30, 2**30) == 6  # 60 % of 10 GiB, 1 GiB a tile
    assert batch_for_memory(2**20, 2**30) == 1 and batch_for_memory(2**40, 2**20) == 64
    src = make_raster(tmp_path / "in.tif", random_image(100, 100))
    logs = []
    result = segment_with(PixelModel().eval(), small_spec(ENTRY.spec),
                          SegmentRequest.of(src, tmp_path / "o.tif", batch_size=None), Progress(log=logs.append))
    assert result.output.exists()
    expected = 4 if not torch.cuda.is_available() else None
    assert any(f"Batch size {expected or ''}" in m and "automatic" in m for m in logs)
