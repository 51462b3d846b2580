"""flair:applystyle — style any class raster with FLAIR class names and colours."""

from pathlib import Path

from qgis.core import (QgsProcessingException, QgsProcessingOutputFile, QgsProcessingOutputRasterLayer,
                       QgsProcessingParameterEnum, QgsProcessingParameterRasterLayer)

from ..flair_qgis.palette import palette_names
from .base import FlairAlgorithm, import_core
from .class_values import codes_parameter

FROM_RASTER = "from raster"


class ApplyStyleAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    PALETTE = "PALETTE"
    CODES = "CODES"
    OUTPUT = "OUTPUT"
    STYLE = "STYLE"

    def name(self):
        return "applystyle"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Apply FLAIR style")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Styles a class raster (band 1 holds class codes) with the FLAIR palette: one colour and "
            "name per class in the legend, 0 transparent. 'from raster' uses the classes recorded in "
            "rasters written by this plugin (including your own trained models' classes), else FLAIR's "
            "19. The style is applied to the layer and saved beside the file as a .qml, so the raster "
            "opens styled next time. A map with 0-based class values (IGN's flair-detect, FLAIR-HUB; see 'Class "
            "values') is styled on its own values: 0 = building, and so on, whatever the palette.")

    def flags(self):
        return super().flags() | self.FlagNoThreading  # the layer's style is changed in place

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Class raster")))
        self.addParameter(QgsProcessingParameterEnum(self.PALETTE, self.tr("Palette"),
                                                     options=[FROM_RASTER] + palette_names(),
                                                     defaultValue=FROM_RASTER, usesStaticStrings=True))
        self.addParameter(codes_parameter())
        self.addOutput(QgsProcessingOutputRasterLayer(self.OUTPUT, self.tr("Styled raster")))
        self.addOutput(QgsProcessingOutputFile(self.STYLE, self.tr("QML style file")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        styling = import_core("styling")
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.tr("Class raster: the layer could not be loaded"))
        chosen = self.parameterAsEnumString(parameters, self.PALETTE, context)
        path = Path(layer.source().split("|")[0])
        if layer.providerType() != "gdal" or not path.is_file():
            raise QgsProcessingException(self.tr("Class raster: {} is not a raster file").format(layer.name()))
        qml, classes = self.run_core(styling.style_raster, path, None if chosen == FROM_RASTER else chosen,
                                     self.parameterAsEnumString(parameters, self.CODES, context), feedback.pushInfo)
        message, ok = layer.loadNamedStyle(str(qml))
        if not ok:
            raise QgsProcessingException(self.tr("QGIS could not apply {}: {}").format(qml, message))
        layer.triggerRepaint()
        feedback.pushInfo(self.tr("{} classes: {}").format(len(classes), ", ".join(c.name for c in classes)))
        return {self.OUTPUT: layer.id() if context.project() and context.project().mapLayer(layer.id())
                else str(path), self.STYLE: str(qml)}
