"""flair_qgis.change: transitions checked against an independent numpy cross-tabulation on
hand-made rasters of different grids, MIN_AREA and zones on hand-counted cases, and bad inputs."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import make_raster
from flair_qgis import change_plot, change_spec
from flair_qgis.change import ChangeOptions, Zone, compare
from flair_qgis.errors import FlairError

ORIGIN = (650000.0, 6860000.0)


def expected_counts(before: np.ndarray, after_on_before: np.ndarray) -> np.ndarray:
    """The 20 × 20 transition matrix by a plain bincount of before * 20 + after (0 = nodata)."""
    valid = (before > 0) & (after_on_before > 0)
    return np.bincount((before.astype(np.int64) * 20 + after_on_before)[valid], minlength=400).reshape(20, 20)


def matrix_of(result) -> np.ndarray:
    m = np.zeros((20, 20), dtype=np.int64)
    for t in result.transitions:
        m[t.from_code, t.to_code] = t.pixels
    return m


def random_codes(shape, seed, low=1, high=20) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, shape, dtype=np.uint8)


def test_transitions_on_a_coarser_shifted_larger_after_grid_match_bincount(tmp_path):
    """BEFORE: FLAIR codes at 0.2 m, with nodata. AFTER: flair-detect's 0-based indices at 0.4 m,
    starting 2 BEFORE pixels right and down and running past BEFORE's right and bottom edges."""
    before = random_codes((30, 40), 1)
    before[:3, :5] = 0
    after0 = random_codes((20, 25), 2, 0, 19)  # 0-based, 0.4 m, 8 m × 10 m
    b = make_raster(tmp_path / "before.tif", before[None], nodata=0)
    a = make_raster(tmp_path / "after.tif", after0[None], res=0.4, origin=(ORIGIN[0] + 0.4, ORIGIN[1] - 0.4))
    result = compare(ChangeOptions(b, a, min_area=0, transitions_csv=tmp_path / "t.csv"))

    on_before = np.kron(after0.astype(np.int64) + 1, np.ones((2, 2), dtype=np.int64))  # after pixel = 2 × 2 before
    expected_after = np.zeros_like(before, dtype=np.int64)
    expected_after[2:, 2:] = on_before[:28, :38]
    expected = expected_counts(before[2:, 2:], expected_after[2:, 2:])  # the overlap: rows and columns from 2
    assert np.array_equal(matrix_of(result), expected)
    rows = list(csv.DictReader(open(tmp_path / "t.csv", encoding="utf-8")))
    assert len(rows) == np.count_nonzero(expected)
    first = rows[0]
    assert set(first) == set(change_spec.TRANSITION_FIELDS)
    f, t = int(first["from_code"]), int(first["to_code"])
    assert int(first["pixels"]) == expected[f, t]
    assert float(first["area_m2"]) == pytest.approx(expected[f, t] * 0.04)
    assert result.outside_before_pct == pytest.approx(100 * (1 - 28 * 38 / (30 * 40)))


def test_a_finer_after_grid_is_read_at_befores_pixel_centres(tmp_path):
    """AFTER at 0.1 m, starting 0.03 m east and south of BEFORE, smaller than it: BEFORE pixel (i, j)'s
    centre, 0.1 + 0.2 i m from the edge, lies in AFTER pixel (2 i, 2 j) (0.07 + 0.2 i m into its grid)."""
    before = random_codes((30, 40), 9)
    after = random_codes((50, 70), 10)
    b = make_raster(tmp_path / "before.tif", before[None], nodata=0)
    a = make_raster(tmp_path / "after.tif", after[None], nodata=0, res=0.1,
                    origin=(ORIGIN[0] + 0.03, ORIGIN[1] - 0.03))
    result = compare(ChangeOptions(b, a, min_area=0, block=16))
    assert np.array_equal(matrix_of(result), expected_counts(before[:25, :35], after[::2, ::2][:25, :35]))


def test_a_sub_pixel_origin_shift_is_not_a_one_pixel_shift(tmp_path):
    """AFTER's pixels start 0.06 m further east: each BEFORE centre still lies in the AFTER pixel
    of the same index (nearest neighbour), so identical maps show no change at all."""
    codes = random_codes((16, 16), 3)
    b = make_raster(tmp_path / "before.tif", codes[None], nodata=0)
    a = make_raster(tmp_path / "after.tif", codes[None], nodata=0, origin=(ORIGIN[0] + 0.06, ORIGIN[1]))
    result = compare(ChangeOptions(b, a, min_area=0))
    assert np.array_equal(matrix_of(result), expected_counts(codes, codes))
    assert all(t.from_code == t.to_code for t in result.transitions)


def test_zero_based_before_and_hub_order(tmp_path):
    """Both maps 0-based in FLAIR-HUB's order: hub 1 (greenhouse, 18) → hub 4 (pervious surface, 2)."""
    before = np.ones((1, 8, 8), dtype=np.uint8)
    after = np.full((1, 8, 8), 4, dtype=np.uint8)
    before[0, 0, 0] = after[0, 0, 0] = 0  # a building at both dates: 0 is a class here, not nodata
    b, a = make_raster(tmp_path / "b.tif", before), make_raster(tmp_path / "a.tif", after)
    result = compare(ChangeOptions(b, a, codes="zero_based_hub", min_area=0))
    assert {(t.from_code, t.to_code, t.pixels) for t in result.transitions} == {(18, 2, 63), (1, 1, 1)}
    zone = result.zones[0]
    assert zone.zone == change_spec.WHOLE_OVERLAP and zone.gain_m2 == 0 and zone.loss_m2 == 0  # both artificialised
    assert zone.artificialised_before_m2 == pytest.approx(64 * 0.04) == zone.mapped_m2


def test_small_changed_regions_are_counted_as_unchanged_across_blocks(tmp_path):
    """Herbaceous (10) everywhere before. After: a 3 × 3 building (9 px, 0.36 m²), a pixel of impervious
    surface touching it only by a corner (its own region), and a 6 × 6 building (36 px, 1.44 m²)
    across a block edge. MIN_AREA 1 m² (25 px): only the 6 × 6 counts, whatever the blocks."""
    before = np.full((1, 40, 40), 10, dtype=np.uint8)
    after = before.copy()
    after[0, 5:8, 5:8] = 1
    after[0, 8, 8] = 3
    after[0, 13:19, 13:19] = 1  # crosses the block edge at 16
    b, a = make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)
    for block in (16, 2048):
        result = compare(ChangeOptions(b, a, min_area=1.0, block=block))
        assert {(t.from_code, t.to_code): t.pixels for t in result.transitions} == {(10, 10): 1600 - 36, (10, 1): 36}
        assert result.reverted_pixels == 10
        assert result.zones[0].gain_m2 == pytest.approx(36 * 0.04)
    unfiltered = compare(ChangeOptions(b, a, min_area=0))
    assert {(t.from_code, t.to_code): t.pixels for t in unfiltered.transitions} == {
        (10, 10): 1600 - 46, (10, 1): 45, (10, 3): 1}


def test_zones_count_the_pixels_whose_centre_they_hold(tmp_path):
    """20 × 20 px (4 m × 4 m). West half: buildings built on herbaceous (gain); east half: an
    impervious surface turned to bare soil (loss) on 10 of its 200 px. Zones: west, east, one
    overlapping both (x 1–3 m), and one outside the rasters."""
    before = np.full((1, 20, 20), 10, dtype=np.uint8)
    before[0, :, 10:] = 3
    after = before.copy()
    after[0, :, :10] = 1
    after[0, 0, 10:] = 4
    b, a = make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)
    x0, y0 = ORIGIN

    def box(left, right, bottom=y0 - 4, top=y0):
        return {"type": "Polygon", "coordinates": [[(x0 + left, bottom), (x0 + right, bottom), (x0 + right, top),
                                                    (x0 + left, top), (x0 + left, bottom)]]}

    zones = [Zone("west", box(0, 2)), Zone("east", box(2, 4)), Zone("middle", box(1, 3)),
             Zone("away", box(100, 110))]
    result = compare(ChangeOptions(b, a, zones=zones, min_area=0, zones_csv=tmp_path / "z.csv", block=8))
    by_name = {z.zone: z for z in result.zones}
    west, east, middle, away = (by_name[n] for n in ("west", "east", "middle", "away"))
    assert west.gain_m2 == pytest.approx(8.0) and west.loss_m2 == 0 and west.net_pct == pytest.approx(100.0)
    assert east.loss_m2 == pytest.approx(10 * 0.04) and east.gain_m2 == 0
    assert east.artificialised_before_m2 == pytest.approx(8.0) and east.artificialised_after_m2 == pytest.approx(7.6)
    assert middle.gain_m2 == pytest.approx(100 * 0.04) and middle.loss_m2 == pytest.approx(5 * 0.04)
    assert middle.net_m2 == pytest.approx(95 * 0.04) and middle.mapped_m2 == pytest.approx(8.0)
    assert away.mapped_m2 == 0 and away.net_pct is None
    rows = list(csv.DictReader(open(tmp_path / "z.csv", encoding="utf-8")))
    assert [r["zone"] for r in rows] == ["west", "east", "middle", "away"] and rows[3]["net_pct"] == ""


def test_change_rasters_are_styled_on_befores_grid(tmp_path):
    before = np.array([[[0, 10, 1, 10], [10, 1, 6, 10]]], dtype=np.uint8)
    after = np.array([[[1, 1, 10, 10], [10, 1, 7, 3]]], dtype=np.uint8)
    b, a = make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)
    result = compare(ChangeOptions(b, a, min_area=0, change=tmp_path / "change.tif",
                                   change_codes=tmp_path / "codes.tif", plot=tmp_path / "change.png"))
    with rasterio.open(tmp_path / "change.tif") as dst:
        assert dst.read(1).tolist() == [[0, 2, 3, 1], [1, 1, 4, 2]]
        assert dst.nodata == 0 and dst.colormap(1)[2][:3] == (0xe3, 0x1a, 0x1c)
        assert dst.transform == rasterio.open(b).transform
    with rasterio.open(tmp_path / "codes.tif") as dst:
        assert dst.dtypes[0] == "uint16" and dst.read(1).tolist() == [[0, 1001, 110, 1010], [1010, 101, 607, 1003]]
    assert (tmp_path / "change.qml").is_file() and 'label="artificialised (gain)"' in (
        tmp_path / "change.qml").read_text(encoding="utf-8")
    assert (tmp_path / "change.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.written) == {"change", "change_codes", "plot"}
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_plot_without_matplotlib_is_still_a_png(tmp_path, monkeypatch):
    monkeypatch.setattr(change_plot, "_matplotlib", lambda: None)
    codes = random_codes((1, 8, 8), 4)
    b, a = make_raster(tmp_path / "b.tif", codes, nodata=0), make_raster(tmp_path / "a.tif", codes[:, ::-1], nodata=0)
    compare(ChangeOptions(b, a, plot=tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_equivalent_unnamed_crs_is_the_same_crs(tmp_path):
    from contextlib import nullcontext

    from osgeo import osr

    proj4 = rasterio.crs.CRS.from_epsg(2154).to_proj4()
    # the process's exception setting left alone (GDAL 3.10 warns when none was chosen)
    with osr.ExceptionMgr(useExceptions=False) if hasattr(osr, "ExceptionMgr") else nullcontext():
        srs = osr.SpatialReference()
        srs.ImportFromProj4(proj4)
    codes = random_codes((1, 6, 6), 5)
    b = make_raster(tmp_path / "b.tif", codes, nodata=0)
    a = make_raster(tmp_path / "a.tif", codes, nodata=0, crs=srs.ExportToWkt())
    assert compare(ChangeOptions(b, a, min_area=0)).zones[0].mapped_m2 == pytest.approx(36 * 0.04)


# --- bad inputs: a clear message, and no file left ---------------------------------------------

def _outputs(tmp_path):
    out = tmp_path / "out"
    return dict(change=out / "change.tif", change_codes=out / "codes.tif", plot=out / "plot.png",
                transitions_csv=out / "t.csv", zones_csv=out / "z.csv")


@pytest.mark.parametrize("case, message", [
    ("no_overlap", r"BEFORE .*b.tif and AFTER .*a.tif do not overlap \(BEFORE covers x 650000.0–650001.6"),
    ("other_crs", r"BEFORE .*b.tif is in EPSG:2154 and AFTER .*a.tif in EPSG:32631: the two dates must be in "
                  r"the same CRS; reproject"),
    ("float", r"BEFORE .*b.tif: band 1 is float32, not integer class codes: it is not a class raster"),
    ("bands", r"BEFORE .*b.tif has 3 bands: it is not a class raster"),
    ("groups", r"artificialised classes \(GROUPS\): 0, 25 are not FLAIR codes; list codes between 1 and 19"),
])
def test_bad_inputs_are_refused_and_leave_nothing(tmp_path, case, message):
    codes = random_codes((1, 8, 8), 6)
    before = {"float": codes.astype(np.float32), "bands": np.repeat(codes, 3, axis=0)}.get(case, codes)
    b = make_raster(tmp_path / "b.tif", before)
    a = make_raster(tmp_path / "a.tif", codes, crs="EPSG:32631" if case == "other_crs" else "EPSG:2154",
                    origin=(ORIGIN[0] + 100, ORIGIN[1]) if case == "no_overlap" else ORIGIN)
    groups = (0, 1, 25) if case == "groups" else change_spec.ARTIFICIALISED
    with pytest.raises(FlairError, match=message):
        compare(ChangeOptions(b, a, artificialised=groups, **_outputs(tmp_path)))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    codes = random_codes((1, 8, 8), 7)
    b, a = make_raster(tmp_path / "b.tif", codes, nodata=0), make_raster(tmp_path / "a.tif", codes, nodata=0)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    with pytest.raises(FlairError, match="cannot create the output folder .*notes.txt is a file, not a folder"):
        compare(ChangeOptions(b, a, change=blocker / "change.tif", transitions_csv=tmp_path / "t.csv"))
    assert sorted(os.listdir(tmp_path)) == ["a.tif", "b.tif", "notes.txt"]
    if os.geteuid() == 0:  # root writes into read-only folders, not into /proc
        for outputs in ({"change": Path("/proc/flair-out/change.tif")}, {"zones_csv": Path("/proc/flair-out/z.csv")}):
            with pytest.raises(FlairError, match="output folder /proc/flair-out"):
                compare(ChangeOptions(b, a, **outputs))
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(FlairError, match="the output folder .*locked is not writable"):
            compare(ChangeOptions(b, a, change=locked / "change.tif", transitions_csv=locked / "t.csv"))
        assert not list(locked.iterdir())
    finally:
        locked.chmod(stat.S_IRWXU)


def test_a_failure_after_the_rasters_leaves_no_output(tmp_path, monkeypatch):
    """The plot fails after the change raster is complete: neither it nor the tables are left."""
    codes = random_codes((1, 8, 8), 8)
    b, a = make_raster(tmp_path / "b.tif", codes, nodata=0), make_raster(tmp_path / "a.tif", codes, nodata=0)

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(change_plot, "change_png", broken)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError, match="disk full"):
        compare(ChangeOptions(b, a, **_outputs(tmp_path)))
    assert not list(out.iterdir())


def test_a_cancelled_run_stops_its_block_threads_and_writes_nothing(tmp_path):
    """Blocks are read and labelled on worker threads: cancelling stops the run at the next block,
    leaves no output (not even a temporary file) and no thread behind."""
    import threading

    from flair_qgis.errors import Cancelled
    from flair_qgis.progress import Progress

    rng = np.random.default_rng(0)
    before = rng.integers(1, 4, (1, 96, 96), dtype=np.uint8)
    after = np.where(rng.random(before.shape) < 0.2, rng.integers(1, 4, before.shape, dtype=np.uint8), before)
    b, a = make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)
    out = tmp_path / "out"
    reports: list[float] = []
    threads = threading.active_count()
    with pytest.raises(Cancelled):
        compare(ChangeOptions(b, a, min_area=0.2, block=16, change=out / "change.tif",
                              transitions_csv=out / "transitions.csv"),
                Progress(fraction=reports.append, cancelled=lambda: len(reports) >= 3))
    assert len(reports) == 3  # 36 blocks: stopped after the third
    assert not out.exists() or not list(out.iterdir())
    assert threading.active_count() == threads


def test_a_block_that_fails_to_read_stops_the_run_with_its_error_and_writes_nothing(tmp_path, monkeypatch):
    """An error on a worker thread (a damaged tile in the middle of a map) reaches the caller as it
    is; the other threads stop and no output is left."""
    import threading

    from flair_qgis import change

    rng = np.random.default_rng(1)
    before = rng.integers(1, 4, (1, 96, 96), dtype=np.uint8)
    after = np.where(rng.random(before.shape) < 0.2, rng.integers(1, 4, before.shape, dtype=np.uint8), before)
    b, a = make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)
    read = change._Counting._codes
    calls = []

    def failing(self, window):
        calls.append(window)
        if len(calls) == 5:
            raise FlairError("AFTER a.tif: tile at row 32 cannot be read (damaged)")
        return read(self, window)

    monkeypatch.setattr(change._Counting, "_codes", failing)
    out = tmp_path / "out"
    threads = threading.active_count()
    with pytest.raises(FlairError, match="tile at row 32 cannot be read"):
        compare(ChangeOptions(b, a, min_area=0.2, block=16, change=out / "change.tif",
                              transitions_csv=out / "transitions.csv"))
    assert not out.exists() or not list(out.iterdir())
    assert threading.active_count() == threads
