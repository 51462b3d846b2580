"""Maps with 0-based class values (IGN's flair-detect, FLAIR-HUB) read as FLAIR codes: the core's
decision (flair_qgis.class_codes) and the four algorithms that read class rasters (CODES)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from conftest import make_raster
from flair_qgis import class_codes
from flair_qgis.class_codes import HUB_TO_CODE, ClassCodes, resolve
from flair_qgis.errors import FlairError


def zero_based_map() -> np.ndarray:
    """40 × 60 px as flair-detect writes it: 0 (building) on the left 20 columns, 5 (coniferous,
    FLAIR code 6) elsewhere, and a 4 × 4 block of 18 (other, code 19); no nodata."""
    values = np.full((40, 60), 5, dtype=np.uint8)
    values[:, :20] = 0
    values[10:14, 40:44] = 18
    return values[None]


@pytest.fixture
def project(qgis_app):
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    yield QgsProject.instance()
    QgsProject.instance().clear()


@pytest.fixture
def zero_based(tmp_path):
    return make_raster(tmp_path / "flair_detect.tif", zero_based_map())


# --- core ------------------------------------------------------------------------------------

def test_auto_reads_a_raster_with_zeros_and_no_nodata_as_flair_detect_order(zero_based):
    said = []
    codes = resolve(zero_based, "auto", said.append)
    assert codes.convention == "zero_based"
    assert "0-based" in said[0] and "zero_based_hub" in said[0]
    with rasterio.open(zero_based) as src:
        read = codes.read(src, rasterio.windows.Window(0, 0, 60, 40))
    assert (read[:, :20] == 1).all() and read[0, 30] == 6 and read[12, 42] == 19


def test_auto_recognises_flair_codes_by_tags_colours_or_nodata(tmp_path):
    plain = np.where(zero_based_map() == 0, 1, 6).astype(np.uint8)
    with_nodata = make_raster(tmp_path / "nodata.tif", np.where(plain == 1, 0, plain).astype(np.uint8), nodata=0)
    assert resolve(with_nodata).convention == "flair"
    tagged = make_raster(tmp_path / "tagged.tif", np.zeros_like(plain))
    with rasterio.open(tagged, "r+") as dst:
        dst.update_tags(FLAIR_CLASSES=json.dumps([[1, "building", "#db0e9a"]]))
    assert resolve(tagged).convention == "flair"
    coloured = make_raster(tmp_path / "coloured.tif", np.zeros_like(plain))
    with rasterio.open(coloured, "r+") as dst:
        dst.write_colormap(1, {0: (0, 0, 0, 0), 1: (0xdb, 0x0e, 0x9a, 255)})
    assert resolve(coloured).convention == "flair"
    assert resolve(make_raster(tmp_path / "no_zero.tif", plain)).convention == "flair"


def test_hub_order_differs_from_flair_detect_order():
    values = np.arange(19, dtype=np.uint8)
    assert ClassCodes("zero_based", "").to_flair(values).tolist() == list(range(1, 20))
    assert ClassCodes("zero_based_hub", "").to_flair(values).tolist() == list(HUB_TO_CODE)
    assert ClassCodes("zero_based_hub", "").to_flair(np.array([1, 2, 99])).tolist() == [18, 13, 0]


def test_unknown_convention_and_float_rasters_are_refused(tmp_path, zero_based):
    with pytest.raises(FlairError, match="'one_based' are unknown: choose one of auto, flair"):
        resolve(zero_based, "one_based")
    floats = make_raster(tmp_path / "float.tif", np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(FlairError, match="float32, not integer class codes"):
        resolve(floats)


# --- the four algorithms ---------------------------------------------------------------------


@pytest.mark.qgis
def test_classareas_names_and_counts_a_zero_based_map(provider, zero_based, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer

    out = processing.run("flair:classareas", {"INPUT": str(zero_based), "OUTPUT": str(tmp_path / "a.gpkg")})["OUTPUT"]
    rows = {f["code"]: (f["class"], f["pixels"]) for f in QgsVectorLayer(out).getFeatures()}
    assert rows == {1: ("building", 800), 6: ("coniferous", 1584), 19: ("other", 16)}


@pytest.mark.qgis
def test_classareas_per_zone_reads_a_hub_map_in_hub_order(provider, zero_based, tmp_path):
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    zones = QgsVectorLayer("Polygon?crs=EPSG:2154&field=name:string", "zones", "memory")
    feature = QgsFeature(zones.fields())
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((650000 6859992,650012 6859992,650012 6860000,"
                                            "650000 6860000,650000 6859992))"))  # the whole map
    feature.setAttributes(["all"])
    zones.dataProvider().addFeatures([feature])
    out = processing.run("flair:classareas", {"INPUT": str(zero_based), "ZONES": zones, "ZONE_FIELD": "name",
                                              "CODES": "zero_based_hub", "OUTPUT": str(tmp_path / "z.gpkg")})["OUTPUT"]
    rows = {f["code"]: f["pixels"] for f in QgsVectorLayer(out).getFeatures()}
    assert rows == {1: 800, 4: 1584, 19: 16}  # hub 5 = bare soil (4), hub 18 = undefined (19)


@pytest.mark.qgis
def test_evaluate_reads_a_zero_based_map_against_flair_labels(provider, zero_based, tmp_path):
    import processing

    labels = make_raster(tmp_path / "labels.tif", (zero_based_map() + 1).astype(np.uint8), nodata=0)
    result = processing.run("flair:evaluate", {"INPUT": str(zero_based), "REFERENCE": str(labels),
                                               "TABLE": str(tmp_path / "s.csv"), "JSON": str(tmp_path / "r.json"),
                                               "HEATMAP": str(tmp_path / "h.png")})
    assert result["OVERALL_ACCURACY"] == pytest.approx(1.0) and result["MIOU"] == pytest.approx(1.0)
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["class_values"] == {"prediction": "zero_based", "reference": "flair"}


@pytest.mark.qgis
def test_polygonize_gives_zero_based_regions_their_flair_codes(provider, zero_based, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer

    out = processing.run("flair:polygonize", {"INPUT": str(zero_based), "TOLERANCE": 0, "MIN_AREA": 0,
                                              "OUTPUT": str(tmp_path / "p.gpkg")})["OUTPUT"]
    polygons = {(f["code"], f["class"]): round(f["area_m2"], 2) for f in QgsVectorLayer(out).getFeatures()}
    assert polygons == {(1, "building"): 32.0, (6, "coniferous"): 63.36, (19, "other"): 0.64}


@pytest.mark.qgis
def test_applystyle_styles_a_zero_based_map_on_its_own_values(provider, project, zero_based):
    import processing
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(zero_based), "detect")
    project.addMapLayer(layer)
    result = processing.run("flair:applystyle", {"INPUT": layer.id(), "PALETTE": "flair-19"})
    qml = open(result["STYLE"], encoding="utf-8").read()
    assert 'value="0" color="#db0e9a" alpha="255" label="building"' in qml
    assert 'value="18" color="#000000" alpha="255" label="other"' in qml
    assert {c.label for c in layer.renderer().classes() if c.value == 5} == {"coniferous"}


def test_zero_based_module_constants_are_consistent():
    assert sorted(HUB_TO_CODE) == list(range(1, 20)) and class_codes.CONVENTIONS[0] == "auto"


def test_an_image_is_refused_as_a_class_raster_with_what_to_choose(tmp_path):
    """An orthophoto given where a land-cover map is expected (three bands, no classes recorded) is
    refused, not read as codes 0–255; a map with a colour table or class tags of any band count is read."""
    from conftest import random_image

    image = make_raster(tmp_path / "ortho.tif", random_image(32, 32, bands=3))
    with pytest.raises(FlairError, match=r"ortho.tif has 3 bands and records no classes .*looks like an image "
                                         r"\(an orthophoto\), not a land-cover map. Choose a class raster"):
        resolve(image)
    tagged = make_raster(tmp_path / "tagged.tif", np.ones((3, 8, 8), np.uint8))
    with rasterio.open(tagged, "r+") as dst:
        dst.update_tags(1, CLASS_1="building")
    assert resolve(tagged).convention == "flair"
    assert resolve(make_raster(tmp_path / "one.tif", np.ones((1, 8, 8), np.uint8))).convention == "flair"
