"""Writes ``segment.model3`` beside this script: a Processing model around flair:segment.

The model is generic: its inputs are a raster layer (ORTHOPHOTO) and an optional checkpoint file
(CHECKPOINT; empty: the default zoo model), its output the land-cover GeoTIFF (LANDCOVER); every
other setting of flair:segment keeps its default. Built with the shipped workflows' builder
(``tools/make_models.py``). Run from the plugin folder, headless:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/data/make_segment_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tools"))
from make_models import ModelBuilder, write_models  # noqa: E402 - the tools folder is not a package

MODEL_FILE = HERE / "segment.model3"


def build_model() -> ModelBuilder:
    """The model (flair:segment must be registered)."""
    from qgis.core import QgsProcessingParameterFile, QgsProcessingParameterRasterLayer

    m = ModelBuilder("Land cover of an orthophoto (FLAIR)",
                     "Runs flair:segment on a raster layer with a zoo model or a checkpoint file.",
                     "FLAIR", "flair_segment_model")
    m.input(QgsProcessingParameterRasterLayer("ORTHOPHOTO", "Orthophoto"))
    m.input(QgsProcessingParameterFile("CHECKPOINT", "Checkpoint file (empty: the default zoo model)", optional=True,
                                       fileFilter="PyTorch checkpoints (*.pth *.pt *.ckpt);;All files (*)"))
    m.child("segment", "flair:segment", "Segment land cover (FLAIR)", 1,
            {"INPUT": "ORTHOPHOTO", "CHECKPOINT": "CHECKPOINT"}, {"OUTPUT": ("LANDCOVER", "Land cover", "")})
    return m


if __name__ == "__main__":
    sys.exit(write_models({MODEL_FILE: build_model}))
