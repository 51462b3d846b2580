"""Real-world inputs: other resolutions, other bit depths, other CRSs."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from conftest import make_raster, random_image
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.progress import Progress
from flair_qgis.zoo import get_entry
from test_engine import PixelModel, read, small_spec

SPEC = small_spec(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec)


def smooth_scene(size: int, seed: int = 0) -> np.ndarray:
    """A scene of large uniform blocks, so that resampling changes few pixels' classes."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (3, size // 16 + 1, size // 16 + 1), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 16, axis=1), 16, axis=2)[:, :size, :size].copy()


def resampled(pixels: np.ndarray, factor: float) -> np.ndarray:
    """``pixels`` at ``factor`` times the pixel size (nearest neighbour, same extent)."""
    bands, h, w = pixels.shape
    size = (round(h / factor), round(w / factor))
    rows = (np.arange(size[0]) * factor).astype(int).clip(0, h - 1)
    cols = (np.arange(size[1]) * factor).astype(int).clip(0, w - 1)
    return pixels[:, rows][:, :, cols]


@pytest.mark.parametrize("resolution", [0.1, 0.5])
def test_other_resolutions_are_resampled_and_written_on_the_inputs_grid(tmp_path, resolution):
    scene = smooth_scene(320, seed=1)  # 320 px at 0.2 m = 64 m
    model = PixelModel().eval()
    reference = read(segment_with(model, SPEC, SegmentRequest.of(
        make_raster(tmp_path / "ref.tif", scene), tmp_path / "ref_out.tif")).output)[0]
    pixels = resampled(scene, resolution / 0.2)
    src = make_raster(tmp_path / "in.tif", pixels, res=resolution)
    logs = []
    result = segment_with(model, SPEC, SegmentRequest.of(src, tmp_path / "out.tif"), Progress(log=logs.append))
    with rasterio.open(src) as s, rasterio.open(result.output) as o:
        assert (o.width, o.height, o.transform, o.crs) == (s.width, s.height, s.transform, s.crs)
        out = o.read(1)
    assert any("resampling the input to 0.2 m" in m for m in logs)
    same = (out == resampled(reference[None], resolution / 0.2)[0]).mean()
    assert same > 0.9, f"only {same:.1%} of pixels keep the 0.2 m run's class"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_output_can_stay_at_the_models_resolution(tmp_path):
    src = make_raster(tmp_path / "in.tif", smooth_scene(100), res=0.5)
    result = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif", output_grid="model"))
    with rasterio.open(result.output) as o:
        assert o.res == pytest.approx((0.2, 0.2)) and (o.width, o.height) == (250, 250)


def test_resampled_runs_keep_nodata(tmp_path):
    pixels = smooth_scene(120, seed=2)
    pixels[:, :, :40] = 0
    src = make_raster(tmp_path / "in.tif", pixels, nodata=0, res=0.4)
    out = read(segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif")).output)[0]
    assert (out[:, :40] == 0).all() and (out[:, 41:] > 0).all()


def test_sixteen_bit_imagery_is_stretched_onto_eight_bits(tmp_path):
    pixels8 = random_image(80, 90, seed=3)
    pixels16 = pixels8.astype(np.uint16) * 40 + 1000  # same picture, another range
    model = PixelModel().eval()
    a = read(segment_with(model, SPEC, SegmentRequest.of(make_raster(tmp_path / "a.tif", pixels8),
                                                      tmp_path / "ao.tif", value_range=(0, 255))).output)
    warnings = []
    b = segment_with(model, SPEC, SegmentRequest.of(make_raster(tmp_path / "b.tif", pixels16), tmp_path / "bo.tif",
                                                 value_range=(1000, 1000 + 255 * 40)), Progress(warn=warnings.append))
    np.testing.assert_array_equal(a, read(b.output))
    auto = segment_with(model, SPEC, SegmentRequest.of(make_raster(tmp_path / "c.tif", pixels16), tmp_path / "co.tif"),
                        Progress(warn=warnings.append))
    assert any("percentiles" in w and "uint16" in w for w in warnings)
    assert read(auto.output).min() > 0


def test_float_imagery_with_a_user_range(tmp_path):
    pixels = random_image(50, 50, seed=4).astype(np.float32) / 255.0
    src = make_raster(tmp_path / "f.tif", pixels)
    out = read(segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif",
                                                                      value_range=(0.0, 1.0))).output)
    ref = read(segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(
        make_raster(tmp_path / "u.tif", random_image(50, 50, seed=4)), tmp_path / "uo.tif")).output)
    assert (out == ref).mean() > 0.99


def test_geographic_crs_is_refused_with_the_fix(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(40, 40), crs="EPSG:4326", res=0.00001, origin=(2.0, 48.0))
    with pytest.raises(FlairError, match="geographic CRS.*EPSG:2154"):
        segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif"))
    assert not (tmp_path / "o.tif").exists()


def test_web_mercator_input_in_metres_is_accepted(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(60, 60), crs="EPSG:3857", res=0.2, origin=(260000, 6250000))
    result = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif"))
    with rasterio.open(result.output) as o:
        assert o.crs.to_epsg() == 3857


@pytest.mark.parametrize("stitch", ["crop", "blend"])
def test_mask_polygons_limit_the_output_and_skip_tiles_outside(tmp_path, stitch):
    src = make_raster(tmp_path / "in.tif", random_image(200, 200, seed=5))
    x0, y0 = 650000.0, 6860000.0  # make_raster's origin, 0.2 m pixels
    square = {"type": "Polygon", "coordinates": [[(x0 + 2, y0 - 2), (x0 + 10, y0 - 2), (x0 + 10, y0 - 10),
                                                  (x0 + 2, y0 - 10), (x0 + 2, y0 - 2)]]}
    result = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "o.tif", stitch=stitch,
                                                                    mask_geometries=[square]))
    out = read(result.output)[0]
    inside = np.zeros_like(out, bool)
    inside[10:50, 10:50] = True  # 2..10 m from the origin = pixels 10..50
    assert (out[~inside] == 0).all() and (out[inside] > 0).all()
    assert result.tiles_computed < result.tiles
