"""flair:change's zones against the maps' overlap (issue #16, item 5): wholly outside → a warning
naming them (an error when none overlaps), partly outside → covered_pct in the table and a log
line; and read_zones leaves GDAL's exception state as it found it (issue #19, item 5)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import make_raster
from flair_qgis.change import ChangeOptions, Zone, compare
from flair_qgis.zone_coverage import covered_pct
from flair_qgis.errors import FlairError
from flair_qgis.progress import Progress

ORIGIN = (650000.0, 6860000.0)
X0, Y0 = ORIGIN


def box(left, right, bottom=-4.0, top=0.0, holes=()):
    rings = [[(X0 + left, Y0 + bottom), (X0 + right, Y0 + bottom), (X0 + right, Y0 + top), (X0 + left, Y0 + top),
              (X0 + left, Y0 + bottom)]]
    rings += [[(X0 + a, Y0 + b), (X0 + c, Y0 + b), (X0 + c, Y0 + d), (X0 + a, Y0 + d), (X0 + a, Y0 + b)]
              for a, b, c, d in holes]
    return {"type": "Polygon", "coordinates": rings}


@pytest.fixture
def maps(tmp_path):
    """20 × 20 px at 0.2 m (x 0–4 m, y −4–0 m from ORIGIN): herbaceous built up in the west half."""
    before = np.full((1, 20, 20), 10, dtype=np.uint8)
    after = before.copy()
    after[0, :, :10] = 1
    return make_raster(tmp_path / "b.tif", before, nodata=0), make_raster(tmp_path / "a.tif", after, nodata=0)


def test_covered_share_of_shapes_partly_outside_a_box():
    square = (X0, Y0 - 4, X0 + 4, Y0)
    assert covered_pct(box(0, 4), square) == pytest.approx(100.0)
    assert covered_pct(box(2, 6), square) == pytest.approx(50.0)
    assert covered_pct(box(10, 12), square) == 0.0
    assert covered_pct(box(-1, 3, holes=[(0, -3, 1, -1)]), square) == pytest.approx(100 * (12 - 2) / (16 - 2))
    triangle = {"type": "Polygon", "coordinates": [[(X0 - 4, Y0 - 4), (X0 + 4, Y0 - 4), (X0 - 4, Y0 + 4),
                                                    (X0 - 4, Y0 - 4)]]}  # a quarter of it inside
    assert covered_pct(triangle, square) == pytest.approx(100 * 8 / 32)
    multi = {"type": "MultiPolygon", "coordinates": [box(0, 1)["coordinates"], box(5, 6)["coordinates"]]}
    assert covered_pct(multi, square) == pytest.approx(50.0)
    assert covered_pct({"type": "Polygon", "coordinates": [[(X0, Y0), (X0 + 1, Y0), (X0, Y0)]]}, square) is None


def test_zones_outside_are_named_and_partly_covered_ones_get_their_share(tmp_path, maps):
    b, a = maps
    zones = [Zone("inside", box(0, 2)), Zone("half out", box(2, 6)), Zone("away", box(100, 110)),
             Zone("far", box(-50, -40))]
    logged, warned = [], []
    result = compare(ChangeOptions(b, a, zones=zones, min_area=0, zones_csv=tmp_path / "z.csv"),
                     Progress(log=logged.append, warn=warned.append))
    by_name = {z.zone: z for z in result.zones}
    assert by_name["inside"].covered_pct == pytest.approx(100.0)
    assert by_name["half out"].covered_pct == pytest.approx(50.0) and by_name["away"].covered_pct == 0.0
    assert by_name["half out"].mapped_m2 == pytest.approx(8.0)  # its 2 m × 4 m inside
    assert len(warned) == 1 and "2 zones lie wholly outside the compared overlap" in warned[0]
    assert "away, far" in warned[0] and "inside" not in warned[0]
    assert any(line.startswith("zone half out: 50.0 % lies outside the compared overlap") for line in logged)
    assert not any(line.startswith("zone inside") for line in logged)
    rows = list(csv.DictReader(open(tmp_path / "z.csv", encoding="utf-8")))
    assert [float(r["covered_pct"]) for r in rows] == [100.0, 50.0, 0.0, 0.0]


def test_the_overlap_of_the_two_maps_is_what_counts(tmp_path, maps):
    """AFTER covers only the east half of BEFORE: a zone in the west half is outside the overlap."""
    b, _ = maps
    a = make_raster(tmp_path / "east.tif", np.full((1, 20, 10), 1, dtype=np.uint8), nodata=0,
                    origin=(X0 + 2, Y0))
    warned = []
    result = compare(ChangeOptions(b, a, zones=[Zone("west", box(0, 2)), Zone("east", box(2, 4))], min_area=0),
                     Progress(warn=warned.append))
    assert [z.covered_pct for z in result.zones] == [0.0, pytest.approx(100.0)]
    assert warned and "west" in warned[0]


def test_no_zone_in_the_overlap_is_an_error_and_writes_nothing(tmp_path, maps):
    b, a = maps
    with pytest.raises(FlairError, match=r"no zone overlaps the compared overlap "
                                         r"\(x 650000.0–650004.0, y 6859996.0–6860000.0\): "
                                         r"zone away lies wholly outside"):
        compare(ChangeOptions(b, a, zones=[Zone("away", box(100, 110))], change=tmp_path / "out" / "c.tif"))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_one_zone_outside_is_worded_as_one_and_a_numbered_zone_is_not_read_as_a_count(tmp_path, maps):
    """Found trying the plugin as a new user: "1 zone lie wholly outside …; their rows hold zeros", and
    with zones named by feature number, "no zone overlaps …: 1 lies wholly outside it"."""
    b, a = maps
    warned = []
    compare(ChangeOptions(b, a, zones=[Zone("in", box(0, 2)), Zone("away", box(100, 110))], min_area=0),
            Progress(warn=warned.append))
    assert len(warned) == 1 and warned[0].startswith("1 zone lies wholly outside the compared overlap")
    assert "away; its row holds zeros (covered_pct 0)" in warned[0]
    with pytest.raises(FlairError, match=r"\): zones 1, 2 lie wholly outside it"):
        compare(ChangeOptions(b, a, zones=[Zone("1", box(100, 110)), Zone("2", box(-50, -40))]))
    with pytest.raises(FlairError, match=r"\): zone 1 lies wholly outside it"):
        compare(ChangeOptions(b, a, zones=[Zone("1", box(100, 110))]))


def test_without_zones_the_whole_overlap_is_covered(maps):
    b, a = maps
    assert compare(ChangeOptions(b, a, min_area=0)).zones[0].covered_pct == 100.0


# --- read_zones and GDAL's exception state ---------------------------------------------------

def _zones_file(path):
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    with_exceptions = ogr.GetUseExceptions()
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("zones", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON(({X0} {Y0 - 4},{X0 + 2} {Y0 - 4},{X0 + 2} {Y0},"
                                                  f"{X0} {Y0 - 4}))"))
    layer.CreateFeature(feature)
    source = None
    assert ogr.GetUseExceptions() == with_exceptions
    return path


@pytest.mark.parametrize("exceptions", [False, True])
def test_read_zones_leaves_gdals_exception_state_as_it_was(tmp_path, exceptions):
    from osgeo import gdal, ogr

    from flair_qgis.zones import read_zones

    path = _zones_file(tmp_path / "zones.gpkg")
    lambert = "EPSG:2154"
    from rasterio.crs import CRS

    wkt = CRS.from_string(lambert).to_wkt()
    before = (ogr.GetUseExceptions(), gdal.GetUseExceptions())
    if exceptions:
        ogr.UseExceptions()
        gdal.UseExceptions()
    try:
        state = (ogr.GetUseExceptions(), gdal.GetUseExceptions())
        zones = read_zones(path, None, wkt)
        assert [z.name for z in zones] == ["1"] and zones[0].geometry["type"] == "Polygon"
        assert (ogr.GetUseExceptions(), gdal.GetUseExceptions()) == state
        with pytest.raises(FlairError, match=r"zones .*missing.gpkg cannot be read as a vector file"):
            read_zones(tmp_path / "missing.gpkg", None, wkt)
        assert (ogr.GetUseExceptions(), gdal.GetUseExceptions()) == state
        with pytest.raises(FlairError, match=r"have no field 'nom'"):
            read_zones(path, "nom", wkt)
        assert (ogr.GetUseExceptions(), gdal.GetUseExceptions()) == state
    finally:  # in the reverse order: GDAL keeps a stack of handlers
        if exceptions and not before[1]:
            gdal.DontUseExceptions()
        if exceptions and not before[0]:
            ogr.DontUseExceptions()
    assert (ogr.GetUseExceptions(), gdal.GetUseExceptions()) == before
