"""Bands from several layers (INPUT + IRC + elevation or DSM/DTM), aligned on INPUT's grid, and IGN's
JPEG 2000 tiles as delivered: each equals the model run on the same bands stacked by hand."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import from_bounds

from conftest import EXAMPLE, ROOT, make_raster, random_image, tiny_model
from flair_qgis.band_sources import BandSources, HEIGHT_STEP
from flair_qgis.checkpoints import save_checkpoint
from flair_qgis.distributed import ZoneOptions, run_zone
from flair_qgis.engine import segment, segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.normalisation import Normalisation
from flair_qgis.progress import Progress
from flair_qgis.zoo import get_entry

ORIGIN = (650000.0, 6860000.0)
HEIGHT, WIDTH = 100, 130
RGBI = replace(get_entry("FLAIR-INC_rgbi_15cl_resnet34-unet").spec, tile_size=64, margin=16)
RGBIE = replace(get_entry("FLAIR-INC_rgbie_15cl_resnet34-unet").spec, tile_size=64, margin=16)
# Lambert-93 on the WGS 84 datum (RGF93's equal to the millimetre), as some software writes it: no EPSG code
LAMBERT93_WGS84 = "+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +datum=WGS84 +units=m"
HUB_IR = replace(RGBI, bands=("NIR", "R", "G"), name="IR model",  # FLAIR-HUB IR models' band order
                 normalisation=Normalisation.for_bands(("NIR", "R", "G")))


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    """An RGB ortho, and an IGN-like false-colour IRC (NIR, R, G) of the same place: on the same
    grid, and at 0.5 m over a larger, shifted extent."""
    base = tmp_path_factory.mktemp("scene")
    rgb = random_image(HEIGHT, WIDTH, seed=3)
    nir = random_image(HEIGHT, WIDTH, bands=1, seed=4)
    coarse = random_image(48, 60, bands=3, seed=5)
    return dict(
        base=base, rgb_data=rgb, nir_data=nir,
        rgb=make_raster(base / "rgb.tif", rgb, origin=ORIGIN),
        irc=make_raster(base / "irc.tif", np.concatenate([nir, rgb[:2]]), origin=ORIGIN),
        stack=stack_raster(base / "rgbi.tif", np.concatenate([rgb, nir])),
        irc_coarse=make_raster(base / "irc_05.tif", coarse, res=0.5, origin=(ORIGIN[0] - 1.3, ORIGIN[1] + 2.1)),
    )


def stack_raster(path: Path, data: np.ndarray) -> Path:
    """Bands stacked by hand on the 0.2 m grid at ORIGIN, none of them alpha (a 4-band 8-bit
    GeoTIFF is RGBA by default)."""
    make_raster(path, data, origin=ORIGIN)
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [ColorInterp.undefined] * dst.count
    return path


def run(model, spec, out: Path, source: Path, **kw) -> np.ndarray:
    return read(segment_with(model, spec, SegmentRequest.of(source, out, **kw)).output)


def resampled_like(path: Path, band: int, like: Path) -> np.ndarray:
    """``band`` of ``path`` read over ``like``'s extent at its size, bilinear (what
    ``gdal_translate -r bilinear -projwin … -outsize …`` writes)."""
    with rasterio.open(like) as ref, rasterio.open(path) as src:
        return src.read(band, window=from_bounds(*ref.bounds, transform=src.transform),
                        out_shape=(ref.height, ref.width), resampling=Resampling.bilinear)


def test_rgb_and_irc_layers_on_one_grid_equal_the_stacked_rgbi_raster(scene, tmp_path):
    model = tiny_model(in_channels=4)
    log: list[str] = []
    by_layers = read(segment_with(model, RGBI, SegmentRequest.of(scene["rgb"], tmp_path / "layers.tif",
                                                             sources=BandSources(irc=scene["irc"])),
                                  Progress(log=log.append)).output)
    stacked = run(model, RGBI, tmp_path / "stacked.tif", scene["stack"])
    assert (by_layers == stacked).all() and (stacked > 0).all()
    assert any("R from INPUT band 1" in line and "NIR from IRC band 1" in line for line in log), log
    assert not list(tmp_path.glob("*.vrt"))  # the view is a temporary VRT, removed; nothing stacked written


def test_irc_at_another_resolution_and_extent_is_resampled_onto_the_input_grid(scene, tmp_path):
    model = tiny_model(in_channels=4)
    by_layers = run(model, RGBI, tmp_path / "layers.tif", scene["rgb"], sources=BandSources(irc=scene["irc_coarse"]))
    nir = resampled_like(scene["irc_coarse"], 1, scene["rgb"])
    stack = stack_raster(tmp_path / "stack.tif", np.concatenate([scene["rgb_data"], nir[None]]))
    assert (by_layers == run(model, RGBI, tmp_path / "stacked.tif", stack)).all()
    with rasterio.open(tmp_path / "layers.tif") as out, rasterio.open(scene["rgb"]) as ref:
        assert (out.transform, out.width, out.height) == (ref.transform, ref.width, ref.height)


def test_resampling_never_shifts_a_linear_ramp_stays_exact(tmp_path):
    """Bilinear resampling reproduces a linear function exactly: any shift of the grids shows."""
    xs, ys = np.meshgrid(np.arange(50, dtype=np.float32), np.arange(40, dtype=np.float32))
    ramp = make_raster(tmp_path / "ramp.tif", (3 * xs + 2 * ys)[None], res=0.4,
                       origin=(ORIGIN[0] - 1.3, ORIGIN[1] + 2.1))
    rgb = make_raster(tmp_path / "rgb.tif", random_image(60, 80), origin=ORIGIN)
    seen = []
    from flair_qgis import band_sources

    with band_sources.on_input_grid(rgb, None, BandSources(irc=ramp), RGBI.bands, "", Progress()) as view:
        assert view.stacked and view.bands == [1, 2, 3, 4]
        seen.append(read(view.path)[3].astype(np.float64))
    col = ((np.arange(80) + 0.5) * 0.2 + 1.3) / 0.4 - 0.5  # target pixel centres in source pixels
    row = ((np.arange(60) + 0.5) * 0.2 + 2.1) / 0.4 - 0.5
    assert np.abs(seen[0] - (3 * col[None] + 2 * row[:, None])).max() < 1e-3


def test_dsm_and_dtm_give_flair_elevation_in_20_cm_steps_rounded_and_clipped(tmp_path):
    from flair_qgis import band_sources

    # heights exact in float32 above 112.25 m, so that the rounding seen is the encoding's
    heights = np.array([-1, 0, 0.09375, 0.109375, 0.296875, 0.3125, 0.5, 0.703125, 1.0, 10, 20.296875, 50.90625,
                        51.25, 60], np.float32)
    dtm = np.full((1, 2, heights.size), 112.25, np.float32)
    dsm = dtm + heights[None, None]
    rgb = make_raster(tmp_path / "rgb.tif", random_image(2, heights.size), origin=ORIGIN)
    sources = BandSources(dsm=make_raster(tmp_path / "dsm.tif", dsm, origin=ORIGIN),
                          dtm=make_raster(tmp_path / "dtm.tif", dtm, origin=ORIGIN))
    with band_sources.on_input_grid(rgb, None, sources, RGBIE.bands[:3] + ("Elevation",), "", Progress()) as view:
        e = read(view.path)[3, 0]
    # by hand: 0.296875 m = 1.48 steps -> 1; 0.5 m = 2.5 steps -> 3 (.5 rounds up); below the terrain -> 0;
    # 50.90625 m = 254.5 steps -> 255; above 51 m -> 255
    assert e.tolist() == [0, 0, 0, 1, 1, 2, 3, 4, 5, 50, 101, 255, 255, 255]
    exact = (dsm[0, 0].astype(np.float64) - dtm[0, 0]) / HEIGHT_STEP
    assert (e == np.clip(np.floor(exact + 0.5), 0, 255)).all()


def test_rgbie_from_rgb_irc_and_a_coarser_dsm_dtm_pair_equals_the_stack(scene, tmp_path):
    """LiDAR-like heights at 1 m: resampled (bilinear) to 0.2 m, then differenced and encoded."""
    rng = np.random.default_rng(9)
    dtm = (200 + rng.random((1, 22, 28)) * 5).astype(np.float32)
    dsm = dtm + (rng.random((1, 22, 28)) * 30).astype(np.float32)
    where = (ORIGIN[0] - 1.0, ORIGIN[1] + 1.0)
    sources = BandSources(irc=scene["irc"], dsm=make_raster(tmp_path / "dsm.tif", dsm, res=1.0, origin=where),
                          dtm=make_raster(tmp_path / "dtm.tif", dtm, res=1.0, origin=where))
    model = tiny_model(in_channels=5)
    by_layers = run(model, RGBIE, tmp_path / "layers.tif", scene["rgb"], sources=sources)
    up = resampled_like(sources.dsm, 1, scene["rgb"]).astype(np.float64) * 5 - \
        resampled_like(sources.dtm, 1, scene["rgb"]).astype(np.float64) * 5
    e = np.clip(np.floor(up + 0.5), 0, 255).astype(np.uint8)
    stack = stack_raster(tmp_path / "stack.tif", np.concatenate([scene["rgb_data"], scene["nir_data"], e[None]]))
    assert (by_layers == run(model, RGBIE, tmp_path / "stacked.tif", stack)).all()


def test_flair_hub_ir_model_takes_nir_r_g_from_the_irc_layer_or_from_an_rgbi_input(scene, tmp_path):
    model = tiny_model(in_channels=3)
    nrg = make_raster(tmp_path / "nrg.tif", np.concatenate([scene["nir_data"], scene["rgb_data"][:2]]), origin=ORIGIN)
    expected = run(model, HUB_IR, tmp_path / "nrg_out.tif", nrg, bands=[1, 2, 3])
    from_layers = run(model, HUB_IR, tmp_path / "a.tif", scene["rgb"], sources=BandSources(irc=scene["irc"]))
    assert (from_layers == expected).all()
    assert (run(model, HUB_IR, tmp_path / "b.tif", scene["stack"]) == expected).all()  # bands 4, 1, 2 of RGBI


def test_a_nodata_input_stays_nodata_with_extra_layers(scene, tmp_path):
    rgb = scene["rgb_data"].copy()
    rgb[:, :40, :50] = 0
    src = make_raster(tmp_path / "rgb0.tif", rgb, nodata=0, origin=ORIGIN)
    out = run(tiny_model(in_channels=4), RGBI, tmp_path / "o.tif", src, sources=BandSources(irc=scene["irc"]))
    assert (out[0, :40, :50] == 0).all() and (out[0, 40:, 50:] > 0).all()


def test_a_layers_own_alpha_does_not_blank_its_band_the_inputs_mask_decides(scene, tmp_path):
    """GDAL lays each layer on INPUT's grid (gdal.BuildVRT): an IRC with an alpha band gives its
    NIR values as they are, also where its alpha is 0, as when the VRT was written by hand."""
    alpha = np.where(np.random.default_rng(6).random((1, HEIGHT, WIDTH)) < 0.3, 0, 255).astype(np.uint8)
    irc = make_raster(tmp_path / "irc_alpha.tif", np.concatenate([read(scene["irc"]), alpha]), origin=ORIGIN)
    with rasterio.open(irc, "r+") as dst:
        dst.colorinterp = [ColorInterp.undefined, ColorInterp.red, ColorInterp.green, ColorInterp.alpha]
    from flair_qgis import band_sources

    with band_sources.on_input_grid(scene["rgb"], None, BandSources(irc=irc), RGBI.bands, "", Progress()) as view:
        with rasterio.open(view.path) as src:
            assert (src.read(4) == scene["nir_data"][0]).all()
            assert (src.dataset_mask() == 255).all()  # INPUT's mask: all valid
            assert src.descriptions == ("R", "G", "B", "NIR")


# --- bad input: a clear error, nothing written -------------------------------------------------------

def refused(tmp_path: Path, source: Path, sources: BandSources | None, spec=RGBI, words: tuple[str, ...] = ()):
    out = tmp_path / "out" / "map.tif"
    with pytest.raises(FlairError) as err:
        segment_with(tiny_model(in_channels=len(spec.bands)), spec, SegmentRequest.of(source, out, sources=sources))
    for w in words:
        assert w in str(err.value), f"{w!r} not in: {err.value}"
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_irc_whose_first_band_says_it_is_red_is_refused(scene, tmp_path):
    path = tmp_path / "rgb_as_irc.tif"
    with rasterio.open(scene["rgb"]) as src:
        profile = src.profile
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene["rgb_data"])
        for i, name in enumerate(("Red", "Green", "Blue"), start=1):
            dst.set_band_description(i, name)
    refused(tmp_path, scene["rgb"], BandSources(irc=path),
            words=("band 1 is described as 'Red', not near-infrared", "BD ORTHO IRC holds NIR, R, G"))
    bgr = make_raster(tmp_path / "bgr.tif", read(scene["irc"]), origin=ORIGIN)
    with rasterio.open(bgr, "r+") as dst:
        dst.colorinterp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red]
    refused(tmp_path, scene["rgb"], BandSources(irc=bgr), words=("band 1 is marked as blue",))
    log: list[str] = []
    with rasterio.open(scene["irc"]) as irc:  # says nothing: trusted, and said so
        from flair_qgis.band_sources import check_nir_band

        check_nir_band(irc, 1, Progress(log=log.append))
    assert "taken as near-infrared" in log[0]


def test_layers_in_different_crs_are_refused_naming_both(scene, tmp_path):
    other = make_raster(tmp_path / "irc_utm.tif", read(scene["irc"]), crs="EPSG:32631", origin=ORIGIN)
    refused(tmp_path, scene["rgb"], BandSources(irc=other), words=("EPSG:32631", "EPSG:2154", "reproject IRC"))


def test_same_crs_spelled_differently_is_accepted(scene, tmp_path):
    wkt = rasterio.crs.CRS.from_epsg(2154).to_wkt()
    irc = make_raster(tmp_path / "irc_wkt.tif", read(scene["irc"]), crs=wkt, origin=ORIGIN)
    model = tiny_model(in_channels=4)
    assert (run(model, RGBI, tmp_path / "a.tif", scene["rgb"], sources=BandSources(irc=irc))
            == run(model, RGBI, tmp_path / "b.tif", scene["stack"])).all()


def test_an_unnamed_lambert93_layer_is_the_same_crs_as_an_epsg_2154_input(scene, tmp_path):
    """As flair:change judges CRSs (grids.same_crs): a Lambert-93 without its EPSG code is accepted."""
    irc = make_raster(tmp_path / "irc_unnamed.tif", read(scene["irc"]), crs=LAMBERT93_WGS84, origin=ORIGIN)
    with rasterio.open(irc) as src:
        assert src.crs.to_epsg() is None and src.crs != rasterio.crs.CRS.from_epsg(2154)
    model = tiny_model(in_channels=4)
    assert (run(model, RGBI, tmp_path / "a.tif", scene["rgb"], sources=BandSources(irc=irc))
            == run(model, RGBI, tmp_path / "b.tif", scene["stack"])).all()


@pytest.mark.parametrize("which", ["dsm", "dtm"])
def test_dsm_without_dtm_and_the_reverse_are_refused(scene, tmp_path, which):
    heights = make_raster(tmp_path / "h.tif", np.zeros((1, 10, 10), np.float32), origin=ORIGIN)
    have, lack = which.upper(), ("DTM" if which == "dsm" else "DSM")
    refused(tmp_path, scene["rgb"], BandSources(**{which: heights}), spec=RGBIE,
            words=(f"a {have} was given without a {lack}", "give both"))


def test_a_layer_that_does_not_overlap_the_input_is_refused(scene, tmp_path):
    far = make_raster(tmp_path / "far.tif", read(scene["irc"]), origin=(ORIGIN[0] + 5000, ORIGIN[1]))
    refused(tmp_path, scene["rgb"], BandSources(irc=far), words=("far.tif does not overlap INPUT", "IRC tiles"))


def test_a_model_whose_bands_cannot_be_filled_says_which_layer_is_missing(scene, tmp_path):
    refused(tmp_path, scene["rgb"], None, words=("takes 4 bands (R, G, B, NIR)", "give IRC (IGN BD ORTHO IRC",
                                                 "or a 4-band INPUT"))
    refused(tmp_path, scene["rgb"], BandSources(irc=scene["irc"]), spec=RGBIE,
            words=("Elevation: give DSM and DTM",))
    refused(tmp_path, scene["rgb"], BandSources(irc=scene["irc"], irc_band=4), words=("there is no band 4",))
    refused(tmp_path, scene["irc"], None, spec=HUB_IR,  # an IRC ortho as INPUT: its bands must be chosen
            words=("takes 3 bands (NIR, R, G) and INPUT", "has 3, read as R, G, B: not NIR; the model",
                   "if INPUT is itself a false-colour IRC ortho", "choose its bands 1, 2, 3"))


# --- IGN tiles as delivered: folders of JPEG 2000 ------------------------------------------------------

def _jp2_tiles(image: np.ndarray, folder: Path, rows: tuple[int, ...], cols: tuple[int, ...]) -> Path:
    """``image`` (on the 0.2 m grid at ORIGIN) cut into lossless JPEG 2000 tiles, as IGN delivers."""
    from rasterio.shutil import copy

    folder.mkdir(parents=True)
    for r0, r1 in zip(rows, rows[1:]):
        for c0, c1 in zip(cols, cols[1:]):
            tif = make_raster(folder / "tmp.tif", np.ascontiguousarray(image[:, r0:r1, c0:c1]),
                              origin=(ORIGIN[0] + c0 * 0.2, ORIGIN[1] - r0 * 0.2))
            copy(tif, folder / f"ortho_{c0:04d}_{r0:04d}.jp2", driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES")
            tif.unlink()
    return folder


@pytest.fixture(scope="module")
def jp2_zone(tmp_path_factory) -> dict:
    """A real BD ORTHO patch (the example mosaic's corner, 0.2 m) as a folder of JPEG 2000 tiles, its IRC (a made
    up NIR, then R, G) as another folder tiled differently, and the same bands as one GeoTIFF."""
    base = tmp_path_factory.mktemp("jp2")
    with rasterio.open(EXAMPLE) as src:
        rgb = src.read(window=((0, 192), (0, 224)))
    nir = (255 - rgb[0] // 2)[None].astype(np.uint8)
    spec = replace(RGBI, encoder="tu-mobilenetv3_small_050")
    return dict(
        rgb=_jp2_tiles(rgb, base / "bd_ortho", (0, 96, 192), (0, 112, 224)),
        irc=_jp2_tiles(np.concatenate([nir, rgb[:2]]), base / "bd_ortho_irc", (0, 64, 192), (0, 80, 150, 224)),
        stack=stack_raster(base / "rgbi.tif", np.concatenate([rgb, nir])),
        ckpt=save_checkpoint(base / "rgbi.pt", tiny_model(in_channels=4), spec),
    )


def test_jp2_tiles_read_losslessly_with_their_georeferencing(jp2_zone):
    tile = sorted(jp2_zone["rgb"].glob("*.jp2"))[0]
    with rasterio.open(tile) as src:
        assert src.driver == "JP2OpenJPEG" and src.crs.to_epsg() == 2154
        assert src.transform.c == ORIGIN[0] and src.transform.f == ORIGIN[1]


def test_jp2_folders_as_input_and_irc_single_machine_and_sharded_equal_the_stack(jp2_zone, tmp_path):
    reference = read(segment(SegmentRequest.of(jp2_zone["stack"], tmp_path / "stack.tif",
                                            checkpoint=jp2_zone["ckpt"])).output)
    options = SegmentRequest.of(jp2_zone["rgb"], tmp_path / "single.tif", checkpoint=jp2_zone["ckpt"],
                             sources=BandSources(irc=jp2_zone["irc"]))
    single = run_zone(ZoneOptions(options))  # one block: what `detect` does with a folder
    sharded = run_zone(ZoneOptions(options.changed(output=tmp_path / "sharded.tif"), block_size=64))
    assert len(list(sharded.shards.glob("*.tif"))) > 4
    assert (read(single.output) == reference).all() and (read(sharded.output) == reference).all()
    # a VRT of the tiles (QGIS: Build Virtual Raster) works as INPUT and IRC of a plain run
    from flair_qgis.mosaics import build_vrt

    vrts = [build_vrt(sorted(jp2_zone[k].glob("*.jp2")), tmp_path / f"{k}.vrt") for k in ("rgb", "irc")]
    plain = segment(options.changed(input=vrts[0], output=tmp_path / "plain.tif", sources=BandSources(irc=vrts[1])))
    assert (read(plain.output) == reference).all()


def test_cli_detect_with_irc_folder(jp2_zone, tmp_path):
    conf = tmp_path / "detect.yaml"
    conf.write_text(f"input_img_path: {jp2_zone['rgb']}\noutput_path: {tmp_path}\noutput_name: cli\n"
                    f"model_weights: {jp2_zone['ckpt']}\nuse_gpu: false\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "flair_qgis", "detect", "--conf", str(conf), "--irc",
                           str(jp2_zone["irc"])], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reference = read(segment(SegmentRequest.of(jp2_zone["stack"], tmp_path / "stack.tif",
                                            checkpoint=jp2_zone["ckpt"])).output)
    assert (read(Path(done.stdout.strip().splitlines()[-1])) == reference).all()


def test_bad_sources_are_refused_before_the_model_is_fetched(scene, tmp_path):
    """A zoo model not in the cache and no hub: the layers' error comes first."""
    far = make_raster(tmp_path / "far.tif", read(scene["irc"]), origin=(ORIGIN[0] + 5000, ORIGIN[1]))
    with pytest.raises(FlairError, match="does not overlap INPUT"):
        segment(SegmentRequest.of(scene["rgb"], tmp_path / "out" / "map.tif", model="FLAIR-INC_rgbi_15cl_resnet34-unet",
                               sources=BandSources(irc=far)))
    assert not (tmp_path / "out").exists()


def test_cli_with_a_bad_irc_folder_exits_2_and_creates_nothing(jp2_zone, tmp_path):
    irc = tmp_path / "irc_utm"
    irc.mkdir()
    make_raster(irc / "t.tif", random_image(20, 20), crs="EPSG:32631", origin=ORIGIN)
    conf = tmp_path / "detect.yaml"
    conf.write_text(f"input_img_path: {jp2_zone['rgb']}\noutput_path: {tmp_path / 'out'}\noutput_name: cli\n"
                    f"model_weights: {jp2_zone['ckpt']}\nirc_path: {irc}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "flair_qgis", "detect", "--conf", str(conf)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "IRC" in done.stderr and "EPSG:32631" in done.stderr and "EPSG:2154" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_input_at_another_resolution_with_irc_equals_its_stack_at_that_resolution(tmp_path):
    """At 0.3 m the engine segments a 0.2 m view of the input: the IRC layer travels with it."""
    rgb, nir = random_image(70, 90, seed=7), random_image(70, 90, bands=1, seed=8)
    src = make_raster(tmp_path / "rgb_03.tif", rgb, res=0.3, origin=ORIGIN)
    irc = make_raster(tmp_path / "irc_03.tif", np.concatenate([nir, rgb[:2]]), res=0.3, origin=ORIGIN)
    stack = stack_raster(tmp_path / "rgbi.tif", np.concatenate([rgb, nir]))
    with rasterio.open(stack, "r+") as dst:
        dst.transform = rasterio.transform.from_origin(*ORIGIN, 0.3, 0.3)
    model = tiny_model(in_channels=4)
    by_layers = run(model, RGBI, tmp_path / "layers.tif", src, sources=BandSources(irc=irc))
    assert by_layers.shape == (1, 70, 90)
    assert (by_layers == run(model, RGBI, tmp_path / "stacked.tif", stack)).all()


def test_a_layer_the_model_does_not_take_is_ignored_with_a_warning(scene, tmp_path):
    rgb_spec = replace(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, tile_size=64, margin=16)
    model = tiny_model(in_channels=3)
    warnings: list[str] = []
    with_irc = read(segment_with(model, rgb_spec, SegmentRequest.of(scene["rgb"], tmp_path / "a.tif",
                                                                 sources=BandSources(irc=scene["irc"])),
                                 Progress(warn=warnings.append)).output)
    assert (with_irc == run(model, rgb_spec, tmp_path / "b.tif", scene["rgb"])).all()
    assert any("IRC not used" in w for w in warnings), warnings
