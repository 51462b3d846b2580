"""Writes ``segment.model3`` beside this script: a Processing model around flair:segment.

The model is generic: its inputs are a raster layer (ORTHOPHOTO) and an optional checkpoint file
(CHECKPOINT; empty: the default zoo model), its output the land-cover GeoTIFF (LANDCOVER); every
other setting of flair:segment keeps its default. Run from the plugin folder, headless:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/data/make_segment_model.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL_FILE = HERE / "segment.model3"


def build_model():
    """The model, built with QgsProcessingModelAlgorithm (flair:segment must be registered)."""
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterFile,
                           QgsProcessingParameterRasterLayer)
    from qgis.PyQt.QtCore import QPointF

    model = QgsProcessingModelAlgorithm("Land cover of an orthophoto (FLAIR)", "FLAIR", "flair_segment_model")
    model.setHelpContent({"ALG_DESC": "Runs flair:segment on a raster layer with a zoo model or a checkpoint file."})
    inputs = [
        (QgsProcessingParameterRasterLayer("ORTHOPHOTO", "Orthophoto"), "INPUT", QPointF(120, 60)),
        (QgsProcessingParameterFile("CHECKPOINT", "Checkpoint file (empty: the default zoo model)", optional=True,
                                    fileFilter="PyTorch checkpoints (*.pth *.pt *.ckpt);;All files (*)"),
         "CHECKPOINT", QPointF(360, 60)),
    ]
    child = QgsProcessingModelChildAlgorithm("flair:segment")
    child.setChildId("segment")
    child.setDescription("Segment land cover (FLAIR)")
    child.setPosition(QPointF(240, 180))
    for definition, child_key, position in inputs:
        component = QgsProcessingModelParameter(definition.name())
        component.setDescription(definition.description())
        component.setPosition(position)
        model.addModelParameter(definition, component)
        source = QgsProcessingModelChildParameterSource.fromModelParameter(definition.name())
        child.addParameterSources(child_key, [source])
    output = QgsProcessingModelOutput("LANDCOVER", "Land cover")
    output.setChildId("segment")
    output.setChildOutputName("OUTPUT")
    output.setPosition(QPointF(240, 280))
    child.setModelOutputs({"LANDCOVER": output})
    model.addChildAlgorithm(child)
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
