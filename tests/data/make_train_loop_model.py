"""Writes ``train_loop.model3`` beside this script: a Processing model chaining flair:exportpatches →
flair:train → flair:segment → flair:evaluate, the loop of training your own model.

Inputs: an orthophoto (ORTHOPHOTO) and its labels (LABELS, a class raster), the patch size, the
classes (code, name, weight, colour), the epochs and the encoder; then another orthophoto
(NEW_ORTHOPHOTO) to segment with the trained model and its reference labels (REFERENCE) to measure
the result. Outputs: the land-cover map (LANDCOVER), the scores per class (SCORES), the JSON report
and the confusion-matrix heat map. Run from the plugin folder, headless:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/data/make_train_loop_model.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL_FILE = HERE / "train_loop.model3"


def build_model():
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource as Source, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterMatrix, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer, QgsProcessingParameterString)
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Train, segment and evaluate (FLAIR)", "FLAIR", "flair_train_loop_model")
    model.setHelpContent({"ALG_DESC": "Exports training patches from an orthophoto and its labels, trains a model "
                                      "on them, segments another orthophoto with it and evaluates the result "
                                      "against that orthophoto's reference labels."})
    parameters = [
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
    ]
    for i, definition in enumerate(parameters):
        component = QgsProcessingModelParameter(definition.name())
        component.setDescription(definition.description())
        component.setPosition(QPointF(120 + 200 * (i % 4), 60 + 80 * (i // 4)))
        model.addModelParameter(definition, component)

    def child(alg_id, child_id, description, y, sources, outputs=()):
        c = QgsProcessingModelChildAlgorithm(alg_id)
        c.setChildId(child_id)
        c.setDescription(description)
        c.setPosition(QPointF(400, y))
        for key, source in sources.items():
            c.addParameterSources(key, [source])
        model_outputs = {}
        for name, description_, child_output in outputs:
            out = QgsProcessingModelOutput(name, description_)
            out.setChildId(child_id)
            out.setChildOutputName(child_output)
            out.setPosition(QPointF(650, y))
            model_outputs[name] = out
        c.setModelOutputs(model_outputs)
        model.addChildAlgorithm(c)

    child("flair:exportpatches", "export", "Export training patches (FLAIR)", 240, {
        "INPUT": Source.fromModelParameter("ORTHOPHOTO"), "LABELS": Source.fromModelParameter("LABELS"),
        "PATCH_SIZE": Source.fromModelParameter("PATCH_SIZE")})
    child("flair:train", "train", "Train land-cover model (FLAIR)", 340, {
        "TRAIN": Source.fromChildOutput("export", "OUTPUT"), "CLASSES": Source.fromModelParameter("CLASSES"),
        "EPOCHS": Source.fromModelParameter("EPOCHS"), "ENCODER": Source.fromModelParameter("ENCODER")})
    child("flair:segment", "segment", "Segment land cover (FLAIR)", 440, {
        "INPUT": Source.fromModelParameter("NEW_ORTHOPHOTO"),
        "CHECKPOINT": Source.fromChildOutput("train", "BEST_CHECKPOINT")},
        [("LANDCOVER", "Land cover", "OUTPUT")])
    child("flair:evaluate", "evaluate", "Evaluate land-cover map (FLAIR)", 540, {
        "INPUT": Source.fromChildOutput("segment", "OUTPUT"), "REFERENCE": Source.fromModelParameter("REFERENCE")},
        [("SCORES", "Scores per class", "TABLE"), ("REPORT", "Report (JSON)", "JSON"),
         ("HEATMAP", "Confusion matrix (PNG)", "HEATMAP")])
    return model


def main() -> int:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    plugins = Path(tempfile.mkdtemp(prefix="flair-plugins-"))
    (plugins / "flair_for_qgis").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(plugins))
    from flair_for_qgis.provider import FlairProvider

    provider = FlairProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    ok = build_model().toFile(str(MODEL_FILE))
    QgsApplication.processingRegistry().removeProvider(provider)
    app.exitQgis()
    print(f"wrote {MODEL_FILE}" if ok else f"could not write {MODEL_FILE}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
