"""The "FLAIR" Processing provider (id ``flair``)."""

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt import sip
from qgis.PyQt.QtGui import QIcon

from .algorithms.apply_style import ApplyStyleAlgorithm
from .algorithms.change import ChangeAlgorithm
from .algorithms.class_areas import ClassAreasAlgorithm
from .algorithms.diagnostics import DiagnosticsAlgorithm
from .algorithms.download_model import DownloadModelAlgorithm
from .algorithms.evaluate import EvaluateAlgorithm
from .algorithms.export_patches import ExportPatchesAlgorithm
from .algorithms.install_dependencies import InstallDependenciesAlgorithm
from .algorithms.polygonize import PolygonizeAlgorithm
from .algorithms.segment import SegmentAlgorithm
from .algorithms.shipped_models import shipped_models
from .algorithms.train import TrainAlgorithm

ICON = str(Path(__file__).resolve().parent / "resources" / "icon.svg")


class FlairProvider(QgsProcessingProvider):
    def __init__(self):
        super().__init__()
        QgsApplication.processingRegistry().providerAdded.connect(self._registered)

    def _registered(self, provider_id):
        """The shipped models find their child algorithms (flair:segment…) in the registry only
        once this provider is there: load them again then, so that they list their outputs."""
        if provider_id == "flair" and not sip.isdeleted(self):
            QgsApplication.processingRegistry().providerAdded.disconnect(self._registered)
            self.refreshAlgorithms()

    def id(self):
        return "flair"

    def name(self):
        return "FLAIR"

    def longName(self):  # noqa: N802 - QGIS's name
        return "FLAIR land-cover segmentation (IGN)"

    def icon(self):
        return QIcon(ICON)

    def svgIconPath(self):  # noqa: N802 - QGIS's name
        return ICON

    def loadAlgorithms(self):  # noqa: N802 - QGIS's name
        for alg in (SegmentAlgorithm(), DownloadModelAlgorithm(), ApplyStyleAlgorithm(),
                    InstallDependenciesAlgorithm(), PolygonizeAlgorithm(), ClassAreasAlgorithm(),
                    DiagnosticsAlgorithm()):
            self.addAlgorithm(alg)
        for alg in (ExportPatchesAlgorithm(), TrainAlgorithm(), EvaluateAlgorithm()):
            self.addAlgorithm(alg)
        self.addAlgorithm(ChangeAlgorithm())
        for model in shipped_models():
            self.addAlgorithm(model)
