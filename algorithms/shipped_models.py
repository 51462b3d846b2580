"""The graphical models shipped in ``resources/models/`` (written by ``tools/make_models.py``)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingModelAlgorithm

FOLDER = Path(__file__).resolve().parent.parent / "resources" / "models"


class ShippedModel(QgsProcessingModelAlgorithm):
    """A ``.model3`` of the plugin: its id is the file name (``flair:landcover_workflow``), lower
    case like every FLAIR id, while the toolbox shows the model's own name."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)
        self.loaded = self.fromFile(str(self.path))

    def name(self):
        return self.path.stem

    def displayName(self):  # noqa: N802 - QGIS's name
        return super().name()

    def groupId(self):  # noqa: N802 - QGIS's name
        return super().group().lower()  # a model stores only its group's name

    def createInstance(self):  # noqa: N802 - QGIS's name
        return ShippedModel(self.path)


def shipped_models(folder: Path = FOLDER) -> list[ShippedModel]:
    """Every model of ``folder`` that loads."""
    models = [ShippedModel(path) for path in sorted(folder.glob("*.model3"))]
    return [m for m in models if m.loaded]
