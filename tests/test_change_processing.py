"""flair:change in QGIS Processing and `python -m flair_qgis change`: zones from a layer or a file,
the outputs the modeler sees, and refusals that leave nothing behind."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from conftest import make_raster
from flair_qgis import cli

ORIGIN = (650000.0, 6860000.0)


@pytest.fixture
def two_dates(tmp_path):
    """20 × 20 px. Before: herbaceous (10) west, impervious surface (3) east. After: west built up
    (building, 1), the top row of the east turned to bare soil (4); after is 0-based (flair-detect)."""
    before = np.full((1, 20, 20), 10, dtype=np.uint8)
    before[0, :, 10:] = 3
    after = before.copy()
    after[0, :, :10] = 1
    after[0, 0, 10:] = 4
    b = make_raster(tmp_path / "before.tif", before, nodata=0)
    a = make_raster(tmp_path / "after.tif", after - 1)  # 0-based, no nodata
    return b, a


def zones_file(path, field="nom"):
    """West (x 0–2 m) and east (x 2–4 m) halves as a GeoPackage in Lambert-93."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("zones", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn(field, ogr.OFTString))
    x0, y0 = ORIGIN
    for name, left in (("west", 0), ("east", 2)):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField(field, name)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0 + left} {y0 - 4},{x0 + left + 2} {y0 - 4},{x0 + left + 2} {y0},{x0 + left} {y0},"
            f"{x0 + left} {y0 - 4}))"))
        layer.CreateFeature(feature)
    source = None
    return path


@pytest.mark.qgis
def test_change_algorithm_writes_every_output_per_zone(provider, two_dates, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    b, a = two_dates
    zones = QgsVectorLayer(str(zones_file(tmp_path / "zones.gpkg")), "zones", "ogr")
    out = tmp_path / "out"
    result = processing.run("flair:change", {
        "BEFORE": str(b), "AFTER": str(a), "ZONES": zones, "ZONE_FIELD": "nom", "MIN_AREA": 0,
        "TRANSITIONS": str(out / "transitions.gpkg"), "ZONE_TABLE": str(out / "zones.csv"),
        "CHANGE": str(out / "change.tif"), "CHANGE_CODES": str(out / "codes.tif"), "PLOT": str(out / "change.png")})
    transitions = {(f["from_code"], f["to_code"]): (f["from_class"], f["to_class"], f["pixels"])
                   for f in QgsVectorLayer(result["TRANSITIONS"]).getFeatures()}
    assert transitions == {(10, 1): ("herbaceous vegetation", "building", 200),
                           (3, 3): ("impervious surface", "impervious surface", 190),
                           (3, 4): ("impervious surface", "bare soil", 10)}
    with open(out / "zones.csv", encoding="utf-8") as f:
        zones_rows = {r["zone"]: r for r in csv.DictReader(f)}
    assert float(zones_rows["west"]["gain_m2"]) == pytest.approx(8.0)
    assert float(zones_rows["east"]["loss_m2"]) == pytest.approx(0.4)
    assert float(zones_rows["east"]["net_pct"]) == pytest.approx(-5.0)
    change = QgsRasterLayer(result["CHANGE"])
    assert change.isValid() and change.renderer().type() == "paletted"  # its .qml, loaded by QGIS
    assert (out / "codes.tif").is_file() and (out / "change.png").stat().st_size > 0


@pytest.mark.qgis
@pytest.mark.parametrize("bad, message", [
    ({"ZONE_FIELD": "name"}, "Zones: the layer has no field 'name'; choose one of fid, nom"),
    ({"GROUPS": "1,2,99"}, r"artificialised classes \(GROUPS\): 99 is not a FLAIR code"),
])
def test_change_algorithm_refuses_bad_settings_and_writes_nothing(provider, two_dates, tmp_path, bad, message):
    import processing
    from qgis.core import QgsProcessingException

    b, a = two_dates
    out = tmp_path / "out"
    params = {"BEFORE": str(b), "AFTER": str(a), "ZONES": str(zones_file(tmp_path / "zones.gpkg")),
              "ZONE_FIELD": "nom", "TRANSITIONS": str(out / "t.gpkg"), "ZONE_TABLE": str(out / "z.gpkg"),
              "CHANGE": str(out / "change.tif"), "PLOT": str(out / "p.png"), **bad}
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("flair:change", params)
    assert not out.exists() or not os.listdir(out)


@pytest.mark.qgis
def test_zones_in_another_crs_are_reprojected_onto_the_first_map(provider, two_dates, tmp_path):
    import processing
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature, QgsGeometry,
                           QgsProject, QgsVectorLayer)

    b, a = two_dates
    x0, y0 = ORIGIN
    west = QgsGeometry.fromWkt(f"POLYGON(({x0} {y0 - 4},{x0 + 2} {y0 - 4},{x0 + 2} {y0},{x0} {y0},{x0} {y0 - 4}))")
    west.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:2154"),
                                          QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance()))
    zones = QgsVectorLayer("Polygon?crs=EPSG:4326&field=nom:string", "zones", "memory")
    feature = QgsFeature(zones.fields())
    feature.setGeometry(west)
    feature.setAttributes(["west"])
    zones.dataProvider().addFeatures([feature])
    result = processing.run("flair:change", {"BEFORE": str(b), "AFTER": str(a), "ZONES": zones, "ZONE_FIELD": "nom",
                                             "MIN_AREA": 0, "TRANSITIONS": "TEMPORARY_OUTPUT",
                                             "ZONE_TABLE": str(tmp_path / "z.gpkg"), "CHANGE": str(tmp_path / "c.tif")})
    (row,) = list(QgsVectorLayer(result["ZONE_TABLE"]).getFeatures())
    assert row["zone"] == "west" and row["gain_m2"] == pytest.approx(8.0, abs=0.1)
    assert row["mapped_m2"] == pytest.approx(8.0, abs=0.1)  # 200 px, give or take an edge pixel of the warp


def test_cli_change_with_zones_from_a_file(two_dates, tmp_path, capsys):
    b, a = two_dates
    zones = zones_file(tmp_path / "zones.gpkg")
    assert cli.main(["change", str(b), str(a), "--zones", str(zones), "--zone-field", "nom", "--min-area", "0",
                     "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "west: artificialised 0.0 m² → 8.0 m², gain 8.0, loss 0.0, net +8.0 m²" in printed
    with open(tmp_path / "out" / "zones.csv", encoding="utf-8") as f:
        assert [r["zone"] for r in csv.DictReader(f)] == ["west", "east"]
    assert sorted(os.listdir(tmp_path / "out")) == ["change.png", "change.qml", "change.tif", "transitions.csv",
                                                    "zones.csv"]


def test_cli_change_refuses_a_missing_zone_field(two_dates, tmp_path, capsys):
    b, a = two_dates
    zones = zones_file(tmp_path / "zones.gpkg")
    assert cli.main(["change", str(b), str(a), "--zones", str(zones), "--zone-field", "insee",
                     "--out", str(tmp_path / "out")]) == 2
    assert "have no field 'insee': choose one of nom" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.qgis
def test_change_maps_load_styled_with_run_and_load_results(provider, two_dates, tmp_path):
    """Issue #16, item 7: Processing loads the change map with its classes' names and colours, not
    the GeoTIFF's bare 256-entry colour table."""
    import processing
    from qgis.core import QgsProject

    from flair_qgis.change_spec import CHANGE_CLASSES

    b, a = two_dates
    out = tmp_path / "out"
    project = QgsProject.instance()
    project.clear()
    try:
        processing.runAndLoadResults("flair:change", {
            "BEFORE": str(b), "AFTER": str(a), "MIN_AREA": 0, "TRANSITIONS": "TEMPORARY_OUTPUT",
            "ZONE_TABLE": "TEMPORARY_OUTPUT", "CHANGE": str(out / "change.tif"),
            "CHANGE_CODES": str(out / "codes.tif")})
        loaded = {layer.source(): layer for layer in project.mapLayers().values()}
        change, codes = loaded[str(out / "change.tif")], loaded[str(out / "codes.tif")]
        assert change.renderer().type() == "paletted"
        assert [(c.value, c.label) for c in change.renderer().classes()] == [(c.code, c.name) for c in CHANGE_CLASSES]
        assert change.name() == "Change map"
        labels = {c.value: c.label for c in codes.renderer().classes()}
        assert labels[1001] == "herbaceous vegetation → building" and len(labels) == 19 * 19
    finally:
        project.clear()


@pytest.mark.qgis
def test_a_map_of_other_classes_needs_the_class_map(provider, two_dates, tmp_path):
    import processing
    import rasterio
    from qgis.core import QgsProcessingException

    from flair_qgis import raster_io
    from flair_qgis.palette import ClassInfo

    b, _ = two_dates
    with rasterio.open(b) as src:
        values = np.where(src.read(1) == 10, 1, 2).astype(np.uint8)  # 1 parking where herbaceous, 2 other
        spec = raster_io.OutputSpec(width=src.width, height=src.height, count=1, crs=src.crs, transform=src.transform,
                                    classes=(ClassInfo(1, "parking", "#ff0000"), ClassInfo(2, "other", "#cccccc")))
    own = tmp_path / "own.tif"
    with raster_io.AtomicRasterWriter(own, spec) as out:
        out.write(values[None], rasterio.windows.Window(0, 0, spec.width, spec.height))
        out.commit()
    params = {"BEFORE": str(b), "AFTER": str(own), "MIN_AREA": 0, "TRANSITIONS": "TEMPORARY_OUTPUT",
              "ZONE_TABLE": "TEMPORARY_OUTPUT", "CHANGE": str(tmp_path / "change.tif")}
    with pytest.raises(QgsProcessingException, match=r"records classes that are not FLAIR's: 1 parking, 2 other"):
        processing.run("flair:change", params)
    result = processing.run("flair:change", {**params, "CLASS_MAP": "parking=3, other=19"})
    pairs = {(f["from_code"], f["to_code"]): f["pixels"] for f in result["TRANSITIONS"].getFeatures()}
    assert pairs == {(10, 3): 200, (3, 19): 200}


def test_cli_change_takes_a_class_map(two_dates, tmp_path, capsys):
    b, a = two_dates
    assert cli.main(["change", str(b), str(a), "--out", str(tmp_path / "out"), "--class-map", "1=3"]) == 0
    assert "the class map (CLASS_MAP) is not used" in capsys.readouterr().err
