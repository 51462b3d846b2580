"""Evaluation figures against a confusion matrix worked out by hand; nodata, ignored codes and
foreign codes; grids that line up or not; the JSON, CSV and PNG reports."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from conftest import make_raster
from flair_qgis.errors import FlairError
from flair_qgis.metrics import scores_from_confusion
from flair_qgis.raster_evaluation import RasterEvaluation, evaluate_rasters
from flair_qgis.palette import ClassInfo

CLASSES = (ClassInfo(1, "grass", "#00ff00"), ClassInfo(2, "roof", "#ff0000"), ClassInfo(3, "water", "#0000ff"))
# 0 is nodata in both rasters; 9 is an ignored code; 5 is predicted but is no class.
REFERENCE = np.array([[1, 1, 2, 2, 3],
                      [1, 1, 2, 2, 3],
                      [1, 0, 2, 3, 3],
                      [9, 1, 2, 3, 3]], dtype=np.uint8)
PREDICTION = np.array([[1, 2, 2, 2, 3],
                       [1, 1, 2, 1, 3],
                       [1, 1, 2, 3, 0],
                       [1, 1, 5, 3, 2]], dtype=np.uint8)
# Counted by hand over the 17 pixels that are neither nodata nor ignored:
# rows reference grass, roof, water; columns predicted grass, roof, water, other codes.
BY_HAND = [[5, 1, 0, 0],
           [1, 4, 0, 1],
           [0, 1, 4, 0]]


@pytest.fixture
def rasters(tmp_path):
    ref = make_raster(tmp_path / "reference.tif", REFERENCE[None], nodata=0)
    pred = make_raster(tmp_path / "prediction.tif", PREDICTION[None], nodata=0)
    return pred, ref


def test_figures_equal_those_of_the_confusion_matrix_counted_by_hand(rasters, tmp_path):
    pred, ref = rasters
    scores = evaluate_rasters(RasterEvaluation(pred, ref, classes=CLASSES, ignored=(9,)))

    assert scores.matrix == BY_HAND
    assert scores.rows == ["grass", "roof", "water"] and scores.columns == ["grass", "roof", "water", "other codes"]
    assert scores.pixels == 17
    assert scores.oa == pytest.approx(13 / 17)
    expected = {  # code: (IoU, F1, precision, recall) from TP, FP, FN of BY_HAND
        1: (5 / 7, 10 / 12, 5 / 6, 5 / 6),     # TP 5, FP 1, FN 1
        2: (4 / 8, 8 / 12, 4 / 6, 4 / 6),      # TP 4, FP 2, FN 2 (one of them predicted as code 5)
        3: (4 / 5, 8 / 9, 4 / 4, 4 / 5),       # TP 4, FP 0, FN 1
    }
    for c in scores.classes:
        assert (c.iou, c.f1, c.precision, c.recall) == pytest.approx(expected[c.code]), c.name
    assert [(c.reference_pixels, c.predicted_pixels) for c in scores.classes] == [(6, 6), (6, 6), (5, 4)]
    assert scores.miou == pytest.approx((5 / 7 + 4 / 8 + 4 / 5) / 3)
    assert scores.warnings == []


def test_confusion_matrix_comes_from_torchmetrics_and_ignores_the_ignore_index():
    import torch

    from flair_qgis.evaluation import confusion
    from flair_qgis.labels import IGNORE

    cm = confusion(torch.tensor([0, 1, 1, 2, 0]), torch.tensor([0, 1, 2, IGNORE, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 0]]


def test_reports_json_csv_and_row_normalised_heat_map(rasters, tmp_path):
    pred, ref = rasters
    out = RasterEvaluation(pred, ref, classes=CLASSES, ignored=(9,), json_path=tmp_path / "r" / "scores.json",
                           csv_path=tmp_path / "r" / "scores.csv", png_path=tmp_path / "r" / "confusion.png")
    evaluate_rasters(out)

    report = json.loads(out.json_path.read_text(encoding="utf-8"))
    assert report["confusion_matrix"]["counts"] == BY_HAND
    assert report["miou"] == pytest.approx((5 / 7 + 0.5 + 0.8) / 3) and report["ignored_codes"] == [9]
    assert [c["name"] for c in report["classes"]] == ["grass", "roof", "water"]
    with open(out.csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["grass", "roof", "water", "mIoU", "overall accuracy"]
    assert float(rows[1]["iou"]) == pytest.approx(0.5) and float(rows[4]["iou"]) == pytest.approx(13 / 17)
    assert out.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heat_map_without_matplotlib_is_still_a_png(monkeypatch, tmp_path):
    from flair_qgis import plots

    monkeypatch.setattr(plots, "_matplotlib", lambda: None)
    path = plots.heatmap_png(np.array(BY_HAND), ["a", "b", "c"], ["a", "b", "c", "o"], tmp_path / "h.png")
    curves = plots.curves_png([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_miou": 0.3},
                               {"epoch": 2, "train_loss": 0.5, "val_loss": 0.7, "val_miou": None}], tmp_path / "c.png")
    for png, (width, height) in ((path, (4 * 24, 3 * 24)), (curves, (800, 300))):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (width, height)


def test_a_class_in_the_reference_never_predicted_gets_iou_0_and_a_warning(tmp_path):
    ref = make_raster(tmp_path / "ref.tif", np.array([[[1, 1, 2, 2]]], np.uint8))
    pred = make_raster(tmp_path / "pred.tif", np.array([[[1, 1, 1, 1]]], np.uint8))
    warnings = []
    from flair_qgis.progress import Progress

    scores = evaluate_rasters(RasterEvaluation(pred, ref, classes=CLASSES), Progress(warn=warnings.append))

    assert [c.iou for c in scores.classes] == [0.5, 0.0, None]  # water: in neither, no IoU
    assert scores.miou == pytest.approx(0.25)  # water left out of the mean
    assert warnings == ["class 2 'roof' has 2 reference pixels but IoU 0: it was never predicted where it is"]


def test_reference_codes_outside_the_classes_are_left_out_with_a_warning(tmp_path):
    ref = make_raster(tmp_path / "ref.tif", np.array([[[1, 7, 7, 2]]], np.uint8))
    pred = make_raster(tmp_path / "pred.tif", np.array([[[1, 1, 2, 2]]], np.uint8))

    scores = evaluate_rasters(RasterEvaluation(pred, ref, classes=CLASSES))

    assert scores.pixels == 2 and scores.oa == 1.0
    assert "codes outside the evaluated classes were left out: 7 (2 px)" in scores.warnings[0]


def test_classes_default_to_those_recorded_in_the_prediction(tmp_path):
    import rasterio

    ref = make_raster(tmp_path / "ref.tif", REFERENCE[None], nodata=0)
    pred = make_raster(tmp_path / "pred.tif", PREDICTION[None], nodata=0)
    with rasterio.open(pred, "r+") as dst:
        dst.update_tags(FLAIR_CLASSES=json.dumps([c.as_list() for c in CLASSES]))

    scores = evaluate_rasters(RasterEvaluation(pred, ref, ignored=(9,)))

    assert [c.name for c in scores.classes] == ["grass", "roof", "water"] and scores.matrix == BY_HAND


def test_aligned_grids_are_evaluated_on_their_overlap(tmp_path):
    big = np.zeros((1, 6, 8), np.uint8)
    big[0, 1:5, 2:7] = PREDICTION
    pred = make_raster(tmp_path / "pred.tif", big, nodata=0)
    # the reference starts 2 columns right and 1 row down of the prediction (0.2 m pixels)
    ref = make_raster(tmp_path / "ref.tif", REFERENCE[None], nodata=0, origin=(650000.4, 6859999.8))

    scores = evaluate_rasters(RasterEvaluation(pred, ref, classes=CLASSES, ignored=(9,)))

    assert scores.matrix == BY_HAND


@pytest.mark.parametrize("change, message", [
    (dict(origin=(650000.1, 6860000.0)), "shifted by a fraction of a pixel"),
    (dict(res=0.5), "different grids"),
    (dict(crs="EPSG:32631"), "different grids"),
    (dict(origin=(0.0, 0.0)), "do not overlap"),
])
def test_rasters_on_different_grids_are_refused_with_what_to_do(tmp_path, change, message):
    pred = make_raster(tmp_path / "pred.tif", PREDICTION[None], nodata=0)
    ref = make_raster(tmp_path / "ref.tif", REFERENCE[None], nodata=0, **change)

    with pytest.raises(FlairError, match=message) as error:
        evaluate_rasters(RasterEvaluation(pred, ref, classes=CLASSES))
    if "overlap" not in message:
        assert "Warp" in str(error.value)


def test_scores_from_a_matrix_leave_inactive_classes_rows_out():
    # channel 2 is switched off: its reference row is not counted, its predictions are errors
    cm = np.array([[3, 0, 1], [1, 2, 0], [5, 5, 5]])
    scores = scores_from_confusion(cm, CLASSES, active=[True, True, False])
    assert scores.pixels == 7 and scores.columns == ["grass", "roof", "other codes"]
    assert scores.matrix == [[3, 0, 1], [1, 2, 0]]
    assert scores.classes[0].iou == pytest.approx(3 / 5) and scores.classes[1].iou == pytest.approx(2 / 3)
    assert not any(math.isnan(c.iou) for c in scores.classes)
