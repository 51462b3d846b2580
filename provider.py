"""The "FLAIR" Processing provider (id ``flair``)."""

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms.apply_style import ApplyStyleAlgorithm
from .algorithms.class_areas import ClassAreasAlgorithm
from .algorithms.download_model import DownloadModelAlgorithm
from .algorithms.evaluate import EvaluateAlgorithm
from .algorithms.export_patches import ExportPatchesAlgorithm
from .algorithms.install_dependencies import InstallDependenciesAlgorithm
from .algorithms.polygonize import PolygonizeAlgorithm
from .algorithms.segment import SegmentAlgorithm
from .algorithms.train import TrainAlgorithm

ICON = str(Path(__file__).resolve().parent / "resources" / "icon.svg")


class FlairProvider(QgsProcessingProvider):
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
                    InstallDependenciesAlgorithm(), PolygonizeAlgorithm(), ClassAreasAlgorithm()):
            self.addAlgorithm(alg)
        for alg in (ExportPatchesAlgorithm(), TrainAlgorithm(), EvaluateAlgorithm()):
            self.addAlgorithm(alg)
