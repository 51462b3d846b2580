"""flair:exportpatches — cut image/label training patches from a raster and a label layer."""

import json
import tempfile
from pathlib import Path

from qgis.core import (NULL, QgsFeatureRequest, QgsProcessing, QgsProcessingException, QgsProcessingOutputFile,
                       QgsProcessingOutputNumber, QgsProcessingParameterBand, QgsProcessingParameterBoolean,
                       QgsProcessingParameterDefinition, QgsProcessingParameterExtent,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingUtils, QgsRectangle)

from .base import FlairAlgorithm, import_core
from .evaluate import raster_path
from .train import optional_number


class ExportPatchesAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    LABELS = "LABELS"
    POLYGONS = "POLYGONS"
    CLASS_FIELD = "CLASS_FIELD"
    EXTENT = "EXTENT"
    PATCH_SIZE = "PATCH_SIZE"
    OVERLAP = "OVERLAP"
    BANDS = "BANDS"
    SKIP_EMPTY = "SKIP_EMPTY"
    LABEL_NODATA = "LABEL_NODATA"
    OUTPUT = "OUTPUT"
    CSV = "CSV"
    COUNT = "COUNT"

    def name(self):
        return "exportpatches"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Export training patches (FLAIR)")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Cuts square image/label patch pairs from an image raster and its labels, for 'Train land-cover "
            "model': img/IMG_<id>.tif (the image bands) and msk/MSK_<id>.tif (class codes) in the output "
            "folder, FLAIR's layout, plus patches.csv listing the pairs (FLAIR-1 CSV).\n\n"
            "Labels: a class raster on the image's grid, or polygons with a numeric class field, which are "
            "rasterised onto the image's grid (reprojected if needed; later polygons win where they overlap). "
            "Unlabelled pixels get the label nodata value (the class raster's nodata, else 0), which "
            "training ignores. Patches of PATCH_SIZE px every PATCH_SIZE − OVERLAP px, within the extent if "
            "one is given; with 'Skip patches without labels', patches with no labelled pixel are not "
            "written. New patches are numbered after those already in the folder, so several rasters can be "
            "exported into one training set.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Image raster")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.LABELS, self.tr("Class raster (labels)"),
                                                            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POLYGONS, self.tr("Or: labelled polygons"), [QgsProcessing.SourceType.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Class code field of the polygons"), parentLayerParameterName=self.POLYGONS,
            type=QgsProcessingParameterField.DataType.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent (empty: the whole image)"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.PATCH_SIZE, self.tr("Patch size (px)"),
                                                       QgsProcessingParameterNumber.Type.Integer, 512, minValue=32))
        self.addParameter(QgsProcessingParameterNumber(self.OVERLAP, self.tr("Overlap between patches (px)"),
                                                       QgsProcessingParameterNumber.Type.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterBand(self.BANDS, self.tr("Image bands (empty: all but alpha)"),
                                                     parentLayerParameterName=self.INPUT, optional=True,
                                                     allowMultiple=True))
        self.addParameter(QgsProcessingParameterBoolean(self.SKIP_EMPTY, self.tr("Skip patches without labels"),
                                                        True))
        nodata = QgsProcessingParameterNumber(self.LABEL_NODATA, self.tr(
            "Code of unlabelled pixels (empty: the class raster's nodata, else 0)"),
            QgsProcessingParameterNumber.Type.Integer, None, optional=True, minValue=0)
        nodata.setFlags(nodata.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(nodata)
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Patch folder")))
        self.addOutput(QgsProcessingOutputFile(self.CSV, self.tr("List of the patch pairs (FLAIR-1 CSV)")))
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, self.tr("Number of patch pairs written")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        export = import_core("export")
        image = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if image is None:
            raise QgsProcessingException(self.tr("Image raster: the layer could not be loaded"))
        image_path = raster_path(image, self.tr("Image raster"))
        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, image.crs())
            if not rect.isEmpty():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        nodata = optional_number(parameters, self.LABEL_NODATA)
        nodata = None if nodata is None else self.parameterAsInt(parameters, self.LABEL_NODATA, context)
        labels = self.parameterAsRasterLayer(parameters, self.LABELS, context)
        polygons = self.parameterAsSource(parameters, self.POLYGONS, context)
        if (labels is None) == (polygons is None):
            raise QgsProcessingException(self.tr("Give either a class raster or labelled polygons (one of them)"))
        if labels is not None:
            labels_path = raster_path(labels, self.tr("Class raster"))
        else:
            labels_path = self._rasterise(export, polygons, image, image_path, extent, nodata or 0,
                                          parameters, context, feedback)
        options = export.ExportOptions(
            image=image_path, labels=labels_path,
            out_folder=Path(self.parameterAsString(parameters, self.OUTPUT, context)),
            patch_size=self.parameterAsInt(parameters, self.PATCH_SIZE, context),
            overlap=self.parameterAsInt(parameters, self.OVERLAP, context),
            bands=self.band_numbers(parameters, self.BANDS, context) or None, extent=extent,
            skip_empty=self.parameterAsBoolean(parameters, self.SKIP_EMPTY, context), label_nodata=nodata)
        result = self.run_core(export.export_patches, options, self.progress(feedback))
        return {self.OUTPUT: str(result.folder), self.CSV: str(result.csv), self.COUNT: len(result.pairs)}

    def _rasterise(self, export, source, image, image_path, extent, nodata, parameters, context, feedback):
        """The polygons' class codes burnt onto the image's grid, in a temporary GeoTIFF."""
        field = self.parameterAsString(parameters, self.CLASS_FIELD, context)
        if not field:
            raise QgsProcessingException(self.tr("Labelled polygons: choose the class code field"))
        request = QgsFeatureRequest().setDestinationCrs(image.crs(), context.transformContext())
        if extent is not None:
            request.setFilterRect(QgsRectangle(*extent))
        shapes, empty = [], 0
        for feature in source.getFeatures(request):
            value = feature[field]
            geometry = feature.geometry()
            if value is None or value == NULL or geometry.isEmpty():
                empty += 1
                continue
            shapes.append((json.loads(geometry.asJson()), int(value)))
        if empty:
            feedback.pushWarning(self.tr("{} polygon(s) without a class code or a geometry were left out")
                                 .format(empty))
        out = Path(tempfile.mkdtemp(dir=QgsProcessingUtils.tempFolder())) / "labels.tif"
        feedback.pushInfo(self.tr("Rasterising {} polygons onto the image's grid").format(len(shapes)))
        return self.run_core(export.rasterize_shapes, shapes, image_path, out, nodata, extent)
