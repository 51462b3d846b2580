"""flair:diagnostics — versions, devices and the model cache, to paste into a bug report."""

from qgis.core import Qgis, QgsProcessingOutputString

from .base import ModelsAlgorithm, import_core


class DiagnosticsAlgorithm(ModelsAlgorithm):
    REPORT = "REPORT"

    def name(self):
        return "diagnostics"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Diagnostics (for a bug report)")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Reports the versions of QGIS, GDAL, PyTorch, segmentation-models-pytorch and the other "
            "packages FLAIR uses, whether a CUDA GPU is usable and its free memory, and the model cache "
            "with each cached model's revision and sha256 check. Paste it into your bug report.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Report")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        from osgeo import gdal

        diagnostics = import_core("diagnostics")
        text = self.run_core(diagnostics.report, {"QGIS": Qgis.QGIS_VERSION,
                                                  "GDAL (QGIS's)": gdal.__version__})
        for line in text.splitlines():
            feedback.pushInfo(line)
        return {self.REPORT: text}
