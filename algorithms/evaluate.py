"""flair:evaluate — per-class IoU, F1, precision, recall, mIoU, overall accuracy and confusion matrix."""

from pathlib import Path

from qgis.core import (QgsCoordinateReferenceSystem, QgsFields,
                       QgsProcessing, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterDefinition, QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFile, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMatrix, QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsWkbTypes)

from .base import FlairAlgorithm, import_core
from .class_values import codes_parameter
from .qt_compat import DOUBLE, INT, LONG, STRING, field
from .tables import add_rows
from .train import DEVICES, matrix_rows, numbers

CLASS_COLUMNS = ["code", "name", "colour"]
SCORES = ["iou", "f1", "precision", "recall"]


def raster_path(layer, what):
    path = Path(layer.source().split("|")[0])
    if layer.providerType() != "gdal" or not path.is_file():
        raise QgsProcessingException(f"{what}: {layer.name()} is not a raster file; save it as a GeoTIFF first")
    return path


class EvaluateAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    REFERENCE = "REFERENCE"
    CHECKPOINT = "CHECKPOINT"
    PATCHES = "PATCHES"
    PATCHES_CSV = "PATCHES_CSV"
    CLASSES = "CLASSES"
    IGNORE = "IGNORE"
    BANDS = "BANDS"
    DEVICE = "DEVICE"
    CODES = "CODES"
    TABLE = "TABLE"
    JSON = "JSON"
    HEATMAP = "HEATMAP"
    MIOU = "MIOU"
    OVERALL_ACCURACY = "OVERALL_ACCURACY"

    def name(self):
        return "evaluate"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Evaluate land-cover map (FLAIR)")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Measures how good a land-cover map is: either a class raster against a reference class raster "
            "(for example the output of 'Segment land cover' against your own labels), or a model "
            "checkpoint against labelled patches (a folder, or a FLAIR-1 CSV list such as the validation "
            "list 'Train land-cover model' writes).\n\n"
            "Scores per class: IoU, F1, precision and recall; their mean IoU (mIoU) and the overall "
            "accuracy; the confusion matrix (rows: reference, columns: prediction). Nodata pixels of either "
            "raster and the ignored codes are left out; a class that "
            "is in the reference but never predicted there has IoU 0 and is reported in a warning.\n\n"
            "Classes: by default those recorded in the class raster by 'Segment land cover' (else FLAIR's "
            "19); or one row per class (code, name, colour). The rasters must be on the same grid, or on "
            "aligned grids (then their overlap is evaluated); rasters on different grids are refused. Maps "
            "with 0-based class values (IGN's flair-detect, FLAIR-HUB) are read as FLAIR codes, each raster "
            "decided on its own (see 'Class values').\n\n"
            "Outputs: a table (one row per class, then the mIoU and the overall accuracy) the modeler can "
            "pass on, the full report as JSON, and the confusion matrix normalised by rows as a PNG heat map.")

    def flags(self):
        return super().flags() | self.FlagNoThreading

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Class raster to evaluate"),
                                                            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, self.tr("Reference class raster"),
                                                            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Or: model checkpoint to evaluate on patches"), optional=True,
            fileFilter="PyTorch checkpoints (*.pt *.pth *.ckpt);;All files (*)"))
        self.addParameter(QgsProcessingParameterFile(
            self.PATCHES, self.tr("Labelled patches folder"), behavior=QgsProcessingParameterFile.Behavior.Folder,
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.PATCHES_CSV, self.tr("Or: labelled patches list (FLAIR-1 CSV)"), extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterMatrix(
            self.CLASSES, self.tr("Classes (code, name, colour); empty: those recorded in the class raster"),
            headers=CLASS_COLUMNS, optional=True))
        self.addParameter(codes_parameter(self.tr("Class values of the two rasters")))
        advanced = [
            QgsProcessingParameterString(self.IGNORE, self.tr("Reference codes to leave out, comma-separated"),
                                         optional=True),
            QgsProcessingParameterString(self.BANDS, self.tr("Patch image bands, comma-separated"), optional=True),
            QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=DEVICES, defaultValue="auto",
                                       usesStaticStrings=True),
        ]
        for p in advanced:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterFeatureSink(self.TABLE, self.tr("Scores per class"),
                                                            QgsProcessing.SourceType.TypeVector))
        self.addParameter(QgsProcessingParameterFileDestination(self.JSON, self.tr("Report (JSON)"),
                                                                fileFilter="JSON files (*.json)"))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.HEATMAP, self.tr("Confusion matrix heat map (PNG)"), fileFilter="PNG images (*.png)"))
        self.addOutput(QgsProcessingOutputNumber(self.MIOU, self.tr("Mean IoU")))
        self.addOutput(QgsProcessingOutputNumber(self.OVERALL_ACCURACY, self.tr("Overall accuracy")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        json_path = Path(self.parameterAsFileOutput(parameters, self.JSON, context))
        png_path = Path(self.parameterAsFileOutput(parameters, self.HEATMAP, context))
        progress = self.progress(feedback)
        prediction = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context)
        patches = [Path(p) for p in (self.parameterAsFile(parameters, self.PATCHES, context),
                                     self.parameterAsFile(parameters, self.PATCHES_CSV, context)) if p]
        if prediction is not None or reference is not None:
            if prediction is None or reference is None:
                raise QgsProcessingException(self.tr("Give both the class raster and the reference class raster"))
            rasters = import_core("raster_evaluation")
            scores = self.run_core(rasters.evaluate_rasters, rasters.RasterEvaluation(
                prediction=raster_path(prediction, self.tr("Class raster")),
                reference=raster_path(reference, self.tr("Reference")),
                classes=self._classes(parameters, context),
                ignored=tuple(numbers(self.parameterAsString(parameters, self.IGNORE, context), self.IGNORE, int)),
                json_path=json_path, png_path=png_path,
                codes=self.parameterAsEnumString(parameters, self.CODES, context)), progress)
        elif checkpoint and patches:
            training = import_core("training")
            bands = numbers(self.parameterAsString(parameters, self.BANDS, context), self.BANDS, int)
            scores = self.run_core(training.evaluate_patches, training.PatchEvaluation(
                sources=patches, checkpoint=Path(checkpoint), bands=bands or None,
                device=self.parameterAsEnumString(parameters, self.DEVICE, context),
                json_path=json_path, png_path=png_path), progress)
        else:
            raise QgsProcessingException(self.tr(
                "Give a class raster and a reference class raster, or a checkpoint and patches (folder or list)"))
        table = self._write_table(scores, parameters, context)
        return {self.TABLE: table, self.JSON: str(json_path), self.HEATMAP: str(png_path),
                self.MIOU: scores.miou, self.OVERALL_ACCURACY: scores.oa}

    def _classes(self, parameters, context):
        rows = matrix_rows(self.parameterAsMatrix(parameters, self.CLASSES, context), len(CLASS_COLUMNS))
        if not rows:
            return None
        from ..flair_qgis.palette import ClassInfo

        try:
            return tuple(ClassInfo(int(r[0]), str(r[1]), str(r[2] or "#808080")) for r in rows)
        except (TypeError, ValueError):
            raise QgsProcessingException(self.tr("Classes: each code must be an integer")) from None

    def _write_table(self, scores, parameters, context):
        fields = QgsFields()
        fields.append(field("code", INT))
        fields.append(field("name", STRING))
        for name in SCORES:
            fields.append(field(name, DOUBLE))
        fields.append(field("reference_pixels", LONG))
        fields.append(field("predicted_pixels", LONG))
        sink, dest = self.parameterAsSink(parameters, self.TABLE, context, fields, QgsWkbTypes.Type.NoGeometry,
                                          QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.TABLE))
        rows = [[c.code, c.name, c.iou, c.f1, c.precision, c.recall, c.reference_pixels, c.predicted_pixels]
                for c in scores.classes]
        rows += [[None, "mIoU", scores.miou, None, None, None, scores.pixels, None],
                 [None, "overall accuracy", scores.oa, None, None, None, scores.pixels, None]]
        add_rows(sink, fields, rows)
        return dest
