"""Writes ``train_loop.model3`` beside this script: a Processing model chaining flair:exportpatches →
flair:train → flair:segment → flair:evaluate, the loop of training your own model.

Inputs: an orthophoto (ORTHOPHOTO) and its labels (LABELS, a class raster), the patch size, the
classes (code, name, weight, colour), the epochs and the encoder; then another orthophoto
(NEW_ORTHOPHOTO) to segment with the trained model and its reference labels (REFERENCE) to measure
the result. Outputs: the land-cover map (LANDCOVER), the scores per class (SCORES), the JSON report
and the confusion-matrix heat map. Built with the shipped workflows' builder
(``tools/make_models.py``). Run from the plugin folder, headless:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/data/make_train_loop_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tools"))
from make_models import ModelBuilder, write_models  # noqa: E402 - the tools folder is not a package

MODEL_FILE = HERE / "train_loop.model3"


def build_model() -> ModelBuilder:
    from qgis.core import (QgsProcessingParameterMatrix, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

    m = ModelBuilder("Train, segment and evaluate (FLAIR)",
                     "Exports training patches from an orthophoto and its labels, trains a model on them, segments "
                     "another orthophoto with it and evaluates the result against that orthophoto's reference "
                     "labels.", "FLAIR", "flair_train_loop_model")
    for definition in (
        QgsProcessingParameterRasterLayer("ORTHOPHOTO", "Training orthophoto"),
        QgsProcessingParameterRasterLayer("LABELS", "Its class raster (labels)"),
        QgsProcessingParameterNumber("PATCH_SIZE", "Patch size (px)", QgsProcessingParameterNumber.Integer, 512,
                                     minValue=32),
        QgsProcessingParameterMatrix("CLASSES", "Classes (code, name, weight, colour)",
                                     headers=["code", "name", "weight", "colour"], optional=True),
        QgsProcessingParameterNumber("EPOCHS", "Epochs", QgsProcessingParameterNumber.Integer, 20, minValue=1),
        QgsProcessingParameterString("ENCODER", "Encoder", defaultValue="resnet34"),
        QgsProcessingParameterRasterLayer("NEW_ORTHOPHOTO", "Orthophoto to segment"),
        QgsProcessingParameterRasterLayer("REFERENCE", "Its reference class raster"),
    ):
        m.input(definition)
    m.child("export", "flair:exportpatches", "Export training patches (FLAIR)", 1,
            {"INPUT": "ORTHOPHOTO", "LABELS": "LABELS", "PATCH_SIZE": "PATCH_SIZE"}, {})
    m.child("train", "flair:train", "Train land-cover model (FLAIR)", 2,
            {"TRAIN": ("export", "OUTPUT"), "CLASSES": "CLASSES", "EPOCHS": "EPOCHS", "ENCODER": "ENCODER"}, {})
    m.child("segment", "flair:segment", "Segment land cover (FLAIR)", 3,
            {"INPUT": "NEW_ORTHOPHOTO", "CHECKPOINT": ("train", "BEST_CHECKPOINT")},
            {"OUTPUT": ("LANDCOVER", "Land cover", "")})
    m.child("evaluate", "flair:evaluate", "Evaluate land-cover map (FLAIR)", 4,
            {"INPUT": ("segment", "OUTPUT"), "REFERENCE": "REFERENCE"},
            {"TABLE": ("SCORES", "Scores per class", ""), "JSON": ("REPORT", "Report (JSON)", ""),
             "HEATMAP": ("HEATMAP", "Confusion matrix (PNG)", "")})
    return m


if __name__ == "__main__":
    sys.exit(write_models({MODEL_FILE: build_model}))
