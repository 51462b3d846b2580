"""Writes the graphical models shipped in ``resources/models/`` (``make models``).

- ``landcover_workflow.model3``: orthophoto → land cover (flair:segment) → polygons
  (flair:polygonize) → area table (flair:classareas).
- ``training_workflow.model3``: patch export (flair:exportpatches) → training (flair:train) →
  map of a test zone with the trained model (flair:segment) → evaluation (flair:evaluate).
- ``landtake_workflow.model3``: two orthophotos (two dates) → two maps with the same model
  (flair:segment twice) → change and land take per zone (flair:change).

The provider loads every ``.model3`` of that folder into the toolbox. Child ids are upper case
so that the models' output keys (``SEGMENT:LANDCOVER``) follow the plugin's key style. Run from
the plugin folder, headless:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/make_models.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "resources" / "models"
GROUP, GROUP_ID = "Workflows", "workflows"


class ModelBuilder:
    """A small layer over QgsProcessingModelAlgorithm: inputs, children wired by name, outputs."""

    def __init__(self, name: str, description: str, group: str = GROUP, group_id: str = GROUP_ID):
        from qgis.core import QgsProcessingModelAlgorithm

        self.model = QgsProcessingModelAlgorithm(name, group, group_id)
        self.help = {"ALG_DESC": description, "ALG_CREATOR": "FLAIR for QGIS", "ALG_VERSION": "1"}
        self.x = 120

    def input(self, definition, help_text: str = ""):
        from qgis.core import QgsProcessingModelParameter
        from qgis.PyQt.QtCore import QPointF

        component = QgsProcessingModelParameter(definition.name())
        component.setDescription(definition.description())
        component.setPosition(QPointF(self.x, 60))
        self.x += 200
        self.model.addModelParameter(definition, component)
        self.help[definition.name()] = help_text

    def child(self, child_id: str, alg_id: str, description: str, row: int, inputs: dict, outputs: dict,
              statics: dict | None = None):
        """``inputs``: child key → model input name, or (child id, output name); ``outputs``: child
        output → (model output name, description, help)."""
        from qgis.core import (QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                               QgsProcessingModelOutput)
        from qgis.PyQt.QtCore import QPointF

        child = QgsProcessingModelChildAlgorithm(alg_id)
        child.setChildId(child_id)
        child.setDescription(description)
        child.setPosition(QPointF(400, 80 + 130 * row))
        for key, source in inputs.items():
            if isinstance(source, tuple):
                child.addParameterSources(key, [QgsProcessingModelChildParameterSource.fromChildOutput(*source)])
            else:
                child.addParameterSources(key, [QgsProcessingModelChildParameterSource.fromModelParameter(source)])
        for key, value in (statics or {}).items():
            child.addParameterSources(key, [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
        model_outputs = {}
        for child_output, (name, text, help_text) in outputs.items():
            output = QgsProcessingModelOutput(name, text)
            output.setChildId(child_id)
            output.setChildOutputName(child_output)
            output.setPosition(QPointF(700, 80 + 130 * row))
            model_outputs[name] = output
            self.help[f"{child_id}:{name}"] = help_text
        child.setModelOutputs(model_outputs)
        self.model.addChildAlgorithm(child)

    def save(self, path: Path) -> bool:
        self.model.setHelpContent(self.help)
        return self.model.toFile(str(path))


def landcover_workflow() -> ModelBuilder:
    from qgis.core import (QgsProcessing, QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource,
                           QgsProcessingParameterField, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer)

    from flair_for_qgis.flair_qgis.zoo import DEFAULT_MODEL, ZOO

    m = ModelBuilder("Land cover map, polygons and areas",
                     "From an orthophoto to a styled FLAIR land-cover map, its class polygons (GeoPackage, "
                     "styled) and a table of the area and share of each class, for the whole image or per "
                     "zone (communes, parcels…). The model is downloaded on first use, or give a checkpoint "
                     "file. Runs flair:segment, flair:polygonize and flair:classareas with their defaults "
                     "otherwise: open the model in the Graphical Modeler to change them.")
    m.input(QgsProcessingParameterRasterLayer("ORTHOPHOTO", "Orthophoto"),
            "The aerial image to map (8-bit R, G, B at 0.2 m, like IGN's BD ORTHO).")
    m.input(QgsProcessingParameterEnum("MODEL", "Model", options=list(ZOO), defaultValue=DEFAULT_MODEL,
                                       usesStaticStrings=True),
            "Pretrained IGNF model, downloaded from HuggingFace on first use.")
    m.input(QgsProcessingParameterFile("CHECKPOINT", "Checkpoint file (instead of the model)", optional=True,
                                       fileFilter="PyTorch checkpoints (*.pth *.pt *.ckpt);;All files (*)"),
            "Optional local weights used instead of the pretrained model (e.g. one you trained).")
    m.input(QgsProcessingParameterNumber("MIN_AREA", "Minimum polygon area (m²)", QgsProcessingParameterNumber.Double,
                                         1.0, minValue=0),
            "Regions smaller than this are merged into their largest neighbour before vectorising.")
    m.input(QgsProcessingParameterNumber("TOLERANCE", "Simplification tolerance (m)",
                                         QgsProcessingParameterNumber.Double, 0.5, minValue=0),
            "Polygon outlines are simplified within this distance; 0 keeps the pixel outlines.")
    m.input(QgsProcessingParameterFeatureSource("ZONES", "Zones for the area table (optional)",
                                                [QgsProcessing.TypeVectorPolygon], optional=True),
            "Polygons (communes, parcels…) to count areas in; empty: the whole image.")
    m.input(QgsProcessingParameterField("ZONE_FIELD", "Zone name field", parentLayerParameterName="ZONES",
                                        optional=True),
            "The zones' field that names them in the table (empty: feature number).")
    m.child("SEGMENT", "flair:segment", "Segment land cover (FLAIR)", 0,
            {"INPUT": "ORTHOPHOTO", "MODEL": "MODEL", "CHECKPOINT": "CHECKPOINT"},
            {"OUTPUT": ("LANDCOVER", "Land cover", "The styled land-cover GeoTIFF (FLAIR class codes).")})
    m.child("POLYGONIZE", "flair:polygonize", "Land-cover polygons", 1,
            {"INPUT": ("SEGMENT", "OUTPUT"), "MIN_AREA": "MIN_AREA", "TOLERANCE": "TOLERANCE"},
            {"OUTPUT": ("POLYGONS", "Land-cover polygons", "One styled polygon per region of a class.")},
            {"SMALL_POLYGONS": "merge"})
    m.child("CLASSAREAS", "flair:classareas", "Land-cover areas per class", 2,
            {"INPUT": ("SEGMENT", "OUTPUT"), "ZONES": "ZONES", "ZONE_FIELD": "ZONE_FIELD"},
            {"OUTPUT": ("AREAS", "Areas per class", "Area (m², ha) and share (%) of each class (per zone).")})
    return m


def training_workflow() -> ModelBuilder:
    from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

    from flair_for_qgis.flair_qgis.zoo import ZOO

    m = ModelBuilder("Train and evaluate a model",
                     "Trains a model on your own labelled zone and measures it on a test zone: cuts the "
                     "image and its class raster into patches (flair:exportpatches), trains a model on them "
                     "(flair:train, a part of the patches held out for validation), maps the test image with "
                     "the best checkpoint (flair:segment) and compares the map with the test labels "
                     "(flair:evaluate: IoU, precision, recall per class, confusion matrix). Use a test zone "
                     "that was not used for training, or the scores will be optimistic.")
    m.input(QgsProcessingParameterRasterLayer("IMAGE", "Training image"), "Orthophoto of the labelled zone.")
    m.input(QgsProcessingParameterRasterLayer("LABELS", "Training labels (class raster)"),
            "Class codes of the labelled zone, on the image's grid or any grid (resampled).")
    m.input(QgsProcessingParameterRasterLayer("TEST_IMAGE", "Test image"), "Orthophoto of the test zone.")
    m.input(QgsProcessingParameterRasterLayer("TEST_LABELS", "Test labels (class raster)"),
            "Class codes of the test zone, the reference the map is scored against.")
    m.input(QgsProcessingParameterNumber("PATCH_SIZE", "Patch size (px)", QgsProcessingParameterNumber.Integer,
                                         512, minValue=32),
            "Side of the square training patches.")
    m.input(QgsProcessingParameterEnum("START", "Start from", options=["from scratch"] + list(ZOO),
                                       defaultValue="from scratch", usesStaticStrings=True),
            "Fine-tune a pretrained IGNF model, or train from scratch.")
    m.input(QgsProcessingParameterString("ENCODER", "Encoder (from scratch)", defaultValue="resnet34"),
            "The U-Net's encoder when training from scratch (a timm or smp encoder name).")
    m.input(QgsProcessingParameterNumber("EPOCHS", "Epochs", QgsProcessingParameterNumber.Integer, 20, minValue=1),
            "Passes over the training patches (training stops early when validation stops improving).")
    m.child("EXPORTPATCHES", "flair:exportpatches", "Export training patches", 0,
            {"INPUT": "IMAGE", "LABELS": "LABELS", "PATCH_SIZE": "PATCH_SIZE"},
            {"OUTPUT": ("PATCHES", "Patch folder", "The image/label patch pairs and their CSV list.")})
    m.child("TRAIN", "flair:train", "Train a model", 1,
            {"TRAIN": ("EXPORTPATCHES", "OUTPUT"), "START": "START", "ENCODER": "ENCODER", "EPOCHS": "EPOCHS"},
            {"OUTPUT_FOLDER": ("MODEL_FOLDER", "Trained model folder",
                               "Checkpoints (best and last), per-epoch metrics and curves.")})
    m.child("SEGMENT", "flair:segment", "Map the test image", 2,
            {"INPUT": "TEST_IMAGE", "CHECKPOINT": ("TRAIN", "BEST_CHECKPOINT")},
            {"OUTPUT": ("TEST_MAP", "Test map", "The test image mapped with the trained model.")})
    m.child("EVALUATE", "flair:evaluate", "Evaluate the test map", 3,
            {"INPUT": ("SEGMENT", "OUTPUT"), "REFERENCE": "TEST_LABELS"},
            {"TABLE": ("SCORES", "Scores per class", "IoU, precision, recall and F1 per class."),
             "JSON": ("REPORT", "Evaluation report (JSON)", "Every score and the confusion matrix."),
             "HEATMAP": ("CONFUSION", "Confusion matrix (PNG)", "The confusion matrix as a heat map.")})
    return m


def landtake_workflow() -> ModelBuilder:
    from qgis.core import (QgsProcessing, QgsProcessingParameterEnum, QgsProcessingParameterFeatureSource,
                           QgsProcessingParameterField, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer)

    from flair_for_qgis.flair_qgis.change_spec import DEFAULT_MIN_AREA
    from flair_for_qgis.flair_qgis.zoo import DEFAULT_MODEL, ZOO

    m = ModelBuilder("Land take between two dates",
                     "From the orthophotos of two dates to land-cover change and land take per zone: maps both "
                     "orthophotos with the same model (flair:segment twice), then compares the two maps "
                     "(flair:change): a table of the transitions between classes, the artificialised area at both "
                     "dates with its gain, loss and net change per zone (communes…), a styled change map and a "
                     "figure. Give orthophotos of the same place (they may differ in extent or pixel size) and "
                     "the same kind of image (bands, resolution) at both dates, so that the model sees them alike. "
                     "Both are mapped on the map-anchored tile grid (flair:segment's TILE_GRID), so that the same "
                     "ground is cut into the same tiles at both dates whatever each orthophoto's extent.")
    m.input(QgsProcessingParameterRasterLayer("ORTHOPHOTO_BEFORE", "Orthophoto, first date"),
            "The aerial image of the first date (8-bit R, G, B at 0.2 m, like IGN's BD ORTHO).")
    m.input(QgsProcessingParameterRasterLayer("ORTHOPHOTO_AFTER", "Orthophoto, second date"),
            "The aerial image of the second date, same place.")
    m.input(QgsProcessingParameterEnum("MODEL", "Model", options=list(ZOO), defaultValue=DEFAULT_MODEL,
                                       usesStaticStrings=True),
            "Pretrained IGNF model, downloaded from HuggingFace on first use; both dates are mapped with it.")
    m.input(QgsProcessingParameterFile("CHECKPOINT", "Checkpoint file (instead of the model)", optional=True,
                                       fileFilter="PyTorch checkpoints (*.pth *.pt *.ckpt);;All files (*)"),
            "Optional local weights used instead of the pretrained model, for both dates.")
    m.input(QgsProcessingParameterFeatureSource("ZONES", "Zones (optional)", [QgsProcessing.TypeVectorPolygon],
                                                optional=True),
            "Polygons (communes, parcels…) to report land take in; empty: the whole overlap.")
    m.input(QgsProcessingParameterField("ZONE_FIELD", "Zone name field", parentLayerParameterName="ZONES",
                                        optional=True),
            "The zones' field that names them in the table (empty: feature number).")
    m.input(QgsProcessingParameterNumber("MIN_AREA", "Minimum change area (m²)", QgsProcessingParameterNumber.Double,
                                         DEFAULT_MIN_AREA, minValue=0),
            "Changed regions smaller than this are counted as unchanged (misregistration slivers).")
    # Both dates on the map-anchored tile grid: the same ground is cut into the same tiles whatever
    # each orthophoto's extent, so unchanged imagery gives unchanged classes (no false change at seams).
    m.child("SEGMENT_BEFORE", "flair:segment", "Map the first date", 0,
            {"INPUT": "ORTHOPHOTO_BEFORE", "MODEL": "MODEL", "CHECKPOINT": "CHECKPOINT"},
            {"OUTPUT": ("LANDCOVER_BEFORE", "Land cover, first date", "The styled land-cover map of the first date.")},
            {"TILE_GRID": "map-anchored"})
    m.child("SEGMENT_AFTER", "flair:segment", "Map the second date", 1,
            {"INPUT": "ORTHOPHOTO_AFTER", "MODEL": "MODEL", "CHECKPOINT": "CHECKPOINT"},
            {"OUTPUT": ("LANDCOVER_AFTER", "Land cover, second date", "The styled land-cover map of the second date.")},
            {"TILE_GRID": "map-anchored"})
    m.child("CHANGE", "flair:change", "Land-cover change and land take", 2,
            {"BEFORE": ("SEGMENT_BEFORE", "OUTPUT"), "AFTER": ("SEGMENT_AFTER", "OUTPUT"), "ZONES": "ZONES",
             "ZONE_FIELD": "ZONE_FIELD", "MIN_AREA": "MIN_AREA"},
            {"TRANSITIONS": ("TRANSITIONS", "Transitions between classes",
                             "Pixels and area of every (first date, second date) class pair."),
             "ZONE_TABLE": ("LAND_TAKE", "Land take per zone",
                            "Artificialised area at both dates, gain, loss and net change per zone."),
             "CHANGE": ("CHANGE_MAP", "Change map", "Unchanged, artificialised, de-artificialised, other change."),
             "PLOT": ("FIGURE", "Figure (PNG)", "Area per class at both dates and the largest transitions.")})
    return m


BUILDERS = {"landcover_workflow.model3": landcover_workflow, "training_workflow.model3": training_workflow,
            "landtake_workflow.model3": landtake_workflow}


def write_models(builders: dict[Path, Callable[[], ModelBuilder]]) -> int:
    """Start a headless QGIS with the plugin's provider registered, save each builder's model to its
    path; 0 when every model was written."""
    os.environ.setdefault("QT_HASH_SEED", "0")  # Qt writes XML attributes in hash order: make it fixed
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    plugins = Path(tempfile.mkdtemp(prefix="flair-plugins-"))
    (plugins / "flair_for_qgis").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(plugins))
    from flair_for_qgis.provider import FlairProvider

    provider = FlairProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    ok = True
    for path, builder in builders.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        written = builder().save(path)
        print(f"wrote {path}" if written else f"could not write {path}")
        ok &= written
    QgsApplication.processingRegistry().removeProvider(provider)
    app.exitQgis()
    return 0 if ok else 1


def main() -> int:
    return write_models({MODELS / name: builder for name, builder in BUILDERS.items()})


if __name__ == "__main__":
    sys.exit(main())
