"""Raster-vs-raster evaluation counted with numpy gives the numbers the torchmetrics-based
implementation gave (recorded in data/raster_evaluation_before.json from the code before the
split, on the bundled example's labels against a seeded, perturbed copy), and needs no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from conftest import ROOT
from flair_qgis.palette import ClassInfo
from flair_qgis.raster_evaluation import RasterEvaluation, evaluate_rasters

LABELS = ROOT / "examples" / "parking_mosaic_labels.tif"
BEFORE = Path(__file__).parent / "data" / "raster_evaluation_before.json"
FOUR = (ClassInfo(1, "building", "#db0e9a"), ClassInfo(2, "pervious", "#938e7b"),
        ClassInfo(3, "impervious", "#f80c00"), ClassInfo(6, "water", "#0000ff"))


def perturbed(root: Path) -> tuple[Path, Path, Path]:
    """A prediction (the labels with 25 % of the pixels replaced by codes 0–24: wrong classes,
    nodata, codes outside FLAIR's 19), a reference (the labels with 5 % replaced by codes 0–21),
    and the prediction cropped by 7 columns and 3 rows (aligned grids, evaluated on the overlap)."""
    with rasterio.open(LABELS) as src:
        labels, profile, transform = src.read(1), src.profile, src.transform
    rng = np.random.default_rng(19)
    pred = labels.copy()
    flip = rng.random(labels.shape) < 0.25
    pred[flip] = rng.integers(0, 25, int(flip.sum()))
    ref = labels.copy()
    holes = rng.random(labels.shape) < 0.05
    ref[holes] = rng.integers(0, 22, int(holes.sum()))
    paths = root / "prediction.tif", root / "reference.tif", root / "crop.tif"
    for path, data in zip(paths, (pred, ref)):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
    crop = dict(profile, width=profile["width"] - 20, height=profile["height"] - 10,
                transform=transform * Affine.translation(7, 3))
    with rasterio.open(paths[2], "w", **crop) as dst:
        dst.write(pred[3:3 + crop["height"], 7:7 + crop["width"]], 1)
    return paths


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    return perturbed(tmp_path_factory.mktemp("perturbed"))


@pytest.mark.parametrize("case", ["flair-19", "flair-19, 2 and 13 ignored", "four classes", "cropped prediction"])
def test_the_numbers_are_those_of_the_implementation_before(rasters, case):
    pred, ref, crop = rasters
    options = {"flair-19": RasterEvaluation(pred, ref),
               "flair-19, 2 and 13 ignored": RasterEvaluation(pred, ref, ignored=(2, 13)),
               "four classes": RasterEvaluation(pred, ref, classes=FOUR, ignored=(6,)),
               "cropped prediction": RasterEvaluation(crop, ref)}[case]
    before = json.loads(BEFORE.read_text(encoding="utf-8"))[case]

    now = evaluate_rasters(options).as_dict()

    assert now["confusion_matrix"] == before["confusion_matrix"]
    assert now["pixels"] == before["pixels"] and now["warnings"] == before["warnings"]
    assert now["classes"] == before["classes"]  # counts exactly, ratios of the same integers
    assert (now["miou"], now["overall_accuracy"]) == (before["miou"], before["overall_accuracy"])


def test_raster_evaluation_imports_no_torch():
    code = ("import sys; import flair_qgis.raster_evaluation, flair_qgis.metrics, flair_qgis.patch_files; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
