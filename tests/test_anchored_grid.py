"""The map-anchored tile grid (issue #16, item 6): tiles at fixed multiples of their step in map
coordinates, so that two rasters of the same ground on one pixel grid (two dates, or a crop of a
mosaic) are cut into the same tiles and get identical maps on their shared pixels, which the
flair-detect grid (laid from each raster's own edges) does not give."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
from affine import Affine

from conftest import TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis.engine import segment, segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.model_resolution import with_tiling
from flair_qgis.tiling import anchored_tile_grid, grid_function, map_origin
from flair_qgis.zoo import get_entry
from test_engine import small_spec

SIZE, MARGIN = 64, 16
STEP = SIZE - 2 * MARGIN
SPEC = small_spec(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, SIZE, MARGIN)
ORIGIN = (650000.0, 6860000.0)  # Lambert-93, 0.2 m pixels (conftest.make_raster)


def hits_of(tiles, width, height, size, margin) -> np.ndarray:
    """How many tiles write each pixel (checking that each writes only its centre, ``margin`` px in)."""
    hits = np.zeros((height, width), int)
    for t in tiles:
        assert t.out_width > 0 and t.out_height > 0
        rows, cols = t.crop
        assert margin <= rows.start < rows.stop <= size - margin and margin <= cols.start < cols.stop <= size - margin
        window = np.s_[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width]
        hits[window] += 1
    return hits


@pytest.mark.parametrize("width,height", [(300, 420), (1, 1), (31, 17), (64, 64), (100, 33), (257, 129)])
@pytest.mark.parametrize("origin", [(0, 0), (5, 7), (-3, 40), (3_250_000, -34_300_000)])
@pytest.mark.parametrize("size,margin", [(64, 16), (128, 0), (96, 40)])
def test_every_pixel_is_written_once_by_a_tile_centred_on_the_map_lattice(width, height, origin, size, margin):
    tiles = anchored_tile_grid(width, height, size, margin, origin=origin)
    hits = hits_of(tiles, width, height, size, margin)
    assert (hits == 1).all(), "tiles must partition the raster"
    step = size - 2 * margin
    for t in tiles:  # each kept centre starts at a multiple of the step in map pixels
        assert (t.col + margin + origin[0]) % step == 0 and (t.row + margin + origin[1]) % step == 0


def test_rasters_of_the_same_ground_get_the_same_tiles_in_map_coordinates():
    big = {(t.col, t.row) for t in anchored_tile_grid(300, 200, SIZE, MARGIN, origin=(1000, 5000))}
    part = {(t.col + 37, t.row + 55) for t in anchored_tile_grid(120, 90, SIZE, MARGIN, origin=(1037, 5055))}
    assert part <= big


def test_a_window_gets_the_whole_raster_tiles_cut_to_it():
    whole = anchored_tile_grid(300, 200, SIZE, MARGIN, origin=(11, 13))
    window = (50, 40, 100, 70)
    part = anchored_tile_grid(300, 200, SIZE, MARGIN, window=window, origin=(11, 13))
    hits = np.zeros((200, 300), int)
    for t in part:
        assert (t.col, t.row) in {(w.col, w.row) for w in whole}
        hits[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width] += 1
    expected = np.zeros_like(hits)
    expected[40:110, 50:150] = 1
    np.testing.assert_array_equal(hits, expected)


def test_map_origin_is_the_top_left_pixel_in_map_pixels():
    assert map_origin(Affine(0.2, 0, 650000.0, 0, -0.2, 6860000.0)) == (3_250_000, -34_300_000)
    assert map_origin(Affine(0.2, 0, 650000.2, 0, -0.2, 6859999.8)) == (3_250_001, -34_299_999)
    assert map_origin(Affine.identity()) == (0, 0)  # no georeferencing: the raster's own pixels


def test_the_grid_is_chosen_by_name_and_presets_keep_the_model_s():
    assert grid_function("map-anchored", (1, 2)).keywords == {"origin": (1, 2)}
    assert with_tiling(SPEC, "reference").grid == SPEC.grid == "flair-detect"
    assert with_tiling(SPEC, "fast").grid == "flair-detect"
    assert with_tiling(SPEC, "reference", grid="model").grid == "flair-detect"
    assert with_tiling(SPEC, None, grid="map-anchored").grid == "map-anchored"
    with pytest.raises(FlairError, match="unknown tile grid 'map'.*map-anchored"):
        with_tiling(SPEC, None, grid="map")


def _map(model, image: np.ndarray, origin: tuple[float, float], path, grid: str | None) -> np.ndarray:
    raster = make_raster(path.with_suffix(".in.tif"), image, origin=origin)
    result = segment_with(model, SPEC, SegmentRequest.of(raster, path, batch_size=4, tile_grid=grid))
    with rasterio.open(result.output) as out:
        assert out.tags()["FLAIR_TILE_GRID"] == (grid or "flair-detect")
        return out.read(1)


@pytest.mark.parametrize("offset", [(0, 0), (21, 45)], ids=["top-left corner", "offset"])
def test_the_same_imagery_in_two_extents_gives_the_same_map_only_on_the_anchored_grid(tmp_path, offset):
    """A random-weight model (its squeeze-excitation layers see the whole tile) maps a 224×200 px
    image and a 150×130 px part of it (its top-left corner, or a part further in). On the anchored
    grid the maps are identical on every shared pixel whose tile lies inside both rasters (tiles
    reaching past the part's edges see zeros there, real imagery in the whole); on flair-detect's
    grid (rows from the bottom edge, a moved last column) they are not."""
    model = tiny_model()
    image = random_image(200, 224, seed=3)
    r0, c0 = offset
    part = image[:, r0:r0 + 130, c0:c0 + 150]
    part_origin = (ORIGIN[0] + 0.2 * c0, ORIGIN[1] - 0.2 * r0)
    same = {}
    for grid in (None, "map-anchored"):
        whole = _map(model, image, ORIGIN, tmp_path / f"whole-{grid}.tif", grid)[r0:r0 + 130, c0:c0 + 150]
        cut = _map(model, part, part_origin, tmp_path / f"part-{grid}.tif", grid)
        # Shared pixels owned by anchored tiles lying inside both rasters, or reaching out only
        # where both rasters end (the whole raster's edges).
        inside = np.zeros(cut.shape, bool)
        lattice = map_origin(Affine(0.2, 0, part_origin[0], 0, -0.2, part_origin[1]))
        for t in anchored_tile_grid(150, 130, SIZE, MARGIN, origin=lattice):
            past_right, past_bottom = t.col + SIZE > 150, t.row + SIZE > 130
            past_left, past_top = t.col < 0 and c0 > 0, t.row < 0 and r0 > 0
            if not (past_right or past_bottom or past_left or past_top):
                inside[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width] = True
        assert inside.sum() >= 60 * 60
        same[grid] = (whole == cut)[inside].mean()
    assert same["map-anchored"] == 1.0
    assert same[None] < 0.9, "with flair-detect's grid the two extents are tiled differently"


def test_cli_landtake_maps_both_dates_on_the_anchored_grid_so_unchanged_imagery_is_no_change(tmp_path, capsys):
    """``python -m flair_qgis landtake``: the same imagery at both dates, the second a part further
    in of the first: every shared pixel whose tile lies inside both is unchanged, and the maps say
    which grid made them."""
    from flair_qgis import cli
    from flair_qgis.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), replace(SPEC, encoder=TINY_ENCODER))
    image = random_image(200, 224, seed=5)
    first = make_raster(tmp_path / "2018.tif", image)
    second = make_raster(tmp_path / "2024.tif", image[:, 64:, 64:].copy(),
                         origin=(ORIGIN[0] + 0.2 * 64, ORIGIN[1] - 0.2 * 64))
    out = tmp_path / "out"

    assert cli.main(["landtake", str(first), str(second), "--checkpoint", str(checkpoint), "--device", "cpu",
                     "--min-area", "0", "--codes-map", "--out", str(out)]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert str(out / "landcover_before.tif") in printed and str(out / "landcover_after.tif") in printed
    for name in ("landcover_before.tif", "landcover_after.tif"):
        with rasterio.open(out / name) as src:
            assert src.tags()["FLAIR_TILE_GRID"] == "map-anchored"
    with rasterio.open(out / "landcover_before.tif") as b, rasterio.open(out / "landcover_after.tif") as a:
        before, after = b.read(1)[64:, 64:], a.read(1)
    # tiles of the second raster reaching past its left or top edge see zeros there, imagery in the first
    lattice = map_origin(Affine(0.2, 0, ORIGIN[0] + 0.2 * 64, 0, -0.2, ORIGIN[1] - 0.2 * 64))
    inside = np.zeros(after.shape, bool)
    for t in anchored_tile_grid(after.shape[1], after.shape[0], SIZE, MARGIN, origin=lattice):
        if t.col >= 0 and t.row >= 0:
            inside[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width] = True
    assert inside.mean() > 0.5
    np.testing.assert_array_equal(before[inside], after[inside])
    with rasterio.open(out / "change.tif") as change:
        assert change.read(1)[inside].tolist() == [1] * int(inside.sum())  # 1: unchanged


def test_detect_configurations_and_the_command_line_choose_the_grid(tmp_path):
    from flair_qgis import cli
    from flair_qgis.config import detect_options

    conf = tmp_path / "detect.yaml"
    conf.write_text("input_img_path: in.tif\noutput_path: out\noutput_name: map\nmodel_weights: w.pth\n"
                    "tile_grid: map-anchored\n", encoding="utf-8")
    assert detect_options(conf).model.tile_grid == "map-anchored"
    args = cli.parser().parse_args(["detect", "--conf", str(conf), "--tile-grid", "model"])
    assert args.tile_grid == "model"
    with pytest.raises(FlairError, match="unknown tile grid 'anchored'"):
        segment(SegmentRequest.of(conf, tmp_path / "o.tif", checkpoint=tmp_path / "w.pth", tile_grid="anchored"))


def test_a_sharded_run_on_the_anchored_grid_equals_the_single_run(tmp_path):
    """Blocks (laid on the model's own tile steps) read their tiles from the whole zone's anchored
    grid: the mosaic equals one run pixel for pixel, and the grid is part of the shards' identity."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.distributed import ZoneOptions, run_zone

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), replace(SPEC, encoder=TINY_ENCODER))
    zone = make_raster(tmp_path / "zone.tif", random_image(170, 190, seed=7), origin=(ORIGIN[0] + 2.6, ORIGIN[1]))
    options = SegmentRequest.of(zone, tmp_path / "single.tif", checkpoint=checkpoint, tile_grid="map-anchored")
    single = segment(options).output
    sharded = run_zone(ZoneOptions(options.changed(output=tmp_path / "sharded.tif"), block_size=96))
    with rasterio.open(single) as a, rasterio.open(sharded.output) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert b.tags()["FLAIR_TILE_GRID"] == "map-anchored"
    again = run_zone(ZoneOptions(options.changed(output=tmp_path / "sharded.tif", tile_grid="model"), block_size=96))
    assert not again.skipped, "shards of another grid must be recomputed"


@pytest.mark.qgis
@pytest.mark.parametrize("grid,recorded", [(None, "flair-detect"), ("model", "flair-detect"),
                                           ("map-anchored", "map-anchored")])
def test_segment_offers_the_grid_and_keeps_the_model_s_by_default(provider, tmp_path, grid, recorded):
    import processing

    from flair_qgis.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), replace(SPEC, encoder=TINY_ENCODER))
    raster = make_raster(tmp_path / "in.tif", random_image(90, 110))
    params = {"INPUT": str(raster), "CHECKPOINT": str(checkpoint), "DEVICE": "cpu", "OUTPUT": str(tmp_path / "o.tif")}
    if grid:
        params["TILE_GRID"] = grid
    output = processing.run("flair:segment", params)["OUTPUT"]
    with rasterio.open(output) as out:
        assert out.tags()["FLAIR_TILE_GRID"] == recorded


def test_cli_landtake_reads_the_bands_given_at_both_dates_with_the_backend_asked(tmp_path, capsys):
    """``--bands`` picks the orthophotos' bands for the model's at both dates (here R, G, B of a
    B, G, R image: the same maps as the R, G, B image), ``--backend`` the runtime."""
    from flair_qgis import cli
    from flair_qgis.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), replace(SPEC, encoder=TINY_ENCODER))
    image = random_image(96, 96, seed=7)
    reordered = image[::-1].copy()  # B, G, R
    plain = [make_raster(tmp_path / f"{d}.tif", image) for d in ("2018", "2024")]
    shuffled = [make_raster(tmp_path / f"{d}_bgr.tif", reordered) for d in ("2018", "2024")]
    common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--backend", "torch", "--min-area", "0"]

    assert cli.main(["landtake", *map(str, plain), *common, "--out", str(tmp_path / "plain")]) == 0
    assert cli.main(["landtake", *map(str, shuffled), *common, "--bands", "3,2,1",
                     "--out", str(tmp_path / "shuffled")]) == 0
    assert "Backend: OpenVINO" not in capsys.readouterr().err  # the default would take it where installed
    for name in ("landcover_before.tif", "landcover_after.tif"):
        with rasterio.open(tmp_path / "plain" / name) as a, rasterio.open(tmp_path / "shuffled" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
    with pytest.raises(SystemExit):
        cli.main(["landtake", *map(str, plain), *common, "--bands", "3,x", "--out", str(tmp_path / "bad")])
