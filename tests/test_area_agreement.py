"""The area table is exact (pixels counted), the polygons are not (small regions merged into their
neighbours, outlines simplified): both outputs say so, per class, instead of silently disagreeing
(issue #10, item 10: building 347.6 m² in the table, 4.9 m² as polygons on a noisy map)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from conftest import KeepingFeedback, make_raster
from flair_qgis.areas import area_differences
from flair_qgis.palette import palette


def noisy_map() -> np.ndarray:
    """200 × 200 px of herbaceous vegetation (code 10) with one building pixel (code 1) in every 5 × 5
    cell — specks of 0.04 m², all merged away by a 1 m² minimum — and one 30 × 30 px building."""
    codes = np.full((200, 200), 10, dtype=np.uint8)
    codes[2::5, 2::5] = 1
    codes[100:130, 100:130] = 1
    return codes[None]




def test_area_differences_name_the_classes_that_disagree_largest_first():
    flair = palette("flair-19")
    lines = area_differences({1: 347.6, 2: 100.0, 10: 5000.0}, {1: 4.9, 2: 100.4, 10: 5360.0}, flair)

    assert lines == ["herbaceous vegetation: 5000.0 m² in the raster, 5360.0 m² as polygons",
                     "building: 347.6 m² in the raster, 4.9 m² as polygons"]  # 2: within 1 %


@pytest.mark.qgis
def test_polygons_and_area_table_say_which_areas_are_exact(provider, tmp_path):
    import processing

    raster = make_raster(tmp_path / "noisy.tif", noisy_map(), nodata=0)
    polygon_feedback, table_feedback = KeepingFeedback(), KeepingFeedback()

    polygons = processing.run("flair:polygonize", {"INPUT": str(raster), "MIN_AREA": 1.0, "TOLERANCE": 0.0,
                                                   "OUTPUT": str(tmp_path / "noisy.gpkg")},
                              feedback=polygon_feedback)["OUTPUT"]
    processing.run("flair:classareas", {"INPUT": str(raster), "OUTPUT": str(tmp_path / "areas.csv")},
                   feedback=table_feedback)

    building_pixels = int((noisy_map() == 1).sum())
    warning = next(w for w in polygon_feedback.warnings if "differ from the raster's exact pixel areas" in w)
    assert f"building: {building_pixels * 0.04:.1f} m² in the raster, 36.0 m² as polygons" in warning
    assert "regions under 1 m² merged" in warning and "flair:classareas" in warning
    assert any(m.startswith("These areas are exact: counted from the raster's pixels") for m in table_feedback.infos)
    with sqlite3.connect(polygons.split("|")[0]) as db:
        (description,) = db.execute("SELECT description FROM layer_styles").fetchone()
    assert "exact areas per class come from flair:classareas" in description


@pytest.mark.qgis
def test_dropped_small_polygons_are_named_as_the_cause(provider, tmp_path):
    """Found trying the plugin as a new user: with SMALL_POLYGONS drop the warning said "small regions
    dropped or kept", whichever was chosen."""
    import processing

    raster = make_raster(tmp_path / "noisy.tif", noisy_map(), nodata=0)
    feedback = KeepingFeedback()
    processing.run("flair:polygonize", {"INPUT": str(raster), "MIN_AREA": 2.0, "SMALL_POLYGONS": "drop",
                                        "TOLERANCE": 0.0, "OUTPUT": str(tmp_path / "dropped.gpkg")}, feedback=feedback)
    warning = next(w for w in feedback.warnings if "differ from the raster's exact pixel areas" in w)
    assert "(regions under 2 m² dropped, outlines simplified)" in warning and "dropped or kept" not in warning


@pytest.mark.qgis
def test_child_algorithms_do_not_echo_their_internal_results_into_the_log(provider, tmp_path):
    """flair:polygonize and flair:classareas run QGIS algorithms inside: their `Results: {'OUTPUT':
    '…/step0.fgb'}` lines (temporary files the user never asked for) stay out of the user's log,
    while the algorithms' own lines and the progress still reach it (issue #16, item 12)."""
    import processing
    from osgeo import ogr, osr

    raster = make_raster(tmp_path / "noisy.tif", noisy_map(), nodata=0)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "zones.gpkg"))
    layer = source.CreateLayer("zones", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        "POLYGON((650000 6859960,650040 6859960,650040 6860000,650000 6860000,650000 6859960))"))
    layer.CreateFeature(feature)
    source = None
    polygon_feedback, table_feedback = KeepingFeedback(), KeepingFeedback()
    progress = []
    polygon_feedback.progressChanged.connect(progress.append)

    processing.run("flair:polygonize", {"INPUT": str(raster), "MIN_AREA": 1.0, "TOLERANCE": 0.5,
                                        "OUTPUT": str(tmp_path / "noisy.gpkg")}, feedback=polygon_feedback)
    processing.run("flair:classareas", {"INPUT": str(raster), "ZONES": str(tmp_path / "zones.gpkg"),
                                        "OUTPUT": str(tmp_path / "areas.csv")}, feedback=table_feedback)

    for feedback, output in ((polygon_feedback, "noisy.gpkg"), (table_feedback, "areas.csv")):
        results = [m for m in feedback.infos if m.startswith("Results:")]
        assert len(results) == 1 and output in results[0], results  # this test's own processing.run's only
        assert feedback.infos  # the algorithm's own lines are kept
    assert any("differ from the raster's exact pixel areas" in w for w in polygon_feedback.warnings)
    assert max(progress) > 50
