"""Raster outputs that load styled: the QML written beside an output is applied when Processing
loads the layer into the project (QGIS does not apply a raster's .qml by itself)."""

from qgis.core import QgsProcessingLayerPostProcessorInterface
from qgis.PyQt import sip


class StyleFromFile(QgsProcessingLayerPostProcessorInterface):
    """Applies the QML written beside the output when the layer is loaded into the project.

    QGIS runs a clone of the algorithm and deletes it before it loads the results; the context
    owns the C++ side of a post-processor, but its Python side lives only while Python holds a
    reference. So each one is kept here until the context has deleted it (see :meth:`create`).
    """

    _alive: list["StyleFromFile"] = []

    def __init__(self, qml: str):
        super().__init__()
        self.qml = qml

    @classmethod
    def create(cls, qml: str) -> "StyleFromFile":
        cls._alive = [p for p in cls._alive if not sip.isdeleted(p)]
        cls._alive.append(cls(qml))
        return cls._alive[-1]

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS's name
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()


def load_styled(context, destination: str, qml, name: str) -> None:
    """When Processing loads ``destination`` (an output's path as the algorithm received it), name
    the layer ``name`` and apply ``qml`` to it."""
    if destination and qml and context.willLoadLayerOnCompletion(destination):
        details = context.layerToLoadOnCompletionDetails(destination)
        details.name = name
        details.setPostProcessor(StyleFromFile.create(str(qml)))
