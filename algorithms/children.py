"""Child algorithms run inside ours (native:dissolve, native:zonalhistogram…) without their chatter.

``processing.run`` echoes every child's ``Results: {'OUTPUT': '…/step0.fgb'}`` (and the child's own
infos) into the feedback it is given: internal temporary paths the user never asked for. Children
get a feedback of their own that passes on progress, cancellation, warnings and errors only.
"""

from __future__ import annotations

from qgis.core import QgsProcessingFeedback


class QuietFeedback(QgsProcessingFeedback):
    """A feedback for a child algorithm: its progress goes to ``parent`` (a step of a
    :class:`QgsProcessingMultiStepFeedback`, typically), cancelling ``parent`` cancels it, its
    warnings and errors reach the user's log, its infos (``Results: …``) do not."""

    def __init__(self, parent: QgsProcessingFeedback):
        super().__init__()
        self.parent = parent
        self.progressChanged.connect(parent.setProgress)
        parent.canceled.connect(self.cancel)
        if parent.isCanceled():
            self.cancel()

    def pushInfo(self, info):  # noqa: N802 - QGIS's name
        pass

    def pushCommandInfo(self, info):  # noqa: N802 - QGIS's name
        pass

    def pushDebugInfo(self, info):  # noqa: N802 - QGIS's name
        pass

    def pushConsoleInfo(self, info):  # noqa: N802 - QGIS's name
        pass

    def pushWarning(self, warning):  # noqa: N802 - QGIS's name
        self.parent.pushWarning(warning)

    def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS's names
        self.parent.reportError(error, fatalError)


def run_child(alg: str, params: dict, context, feedback) -> dict:
    """``processing.run`` of child algorithm ``alg`` (layers stay owned by ``context``), its
    results returned, nothing of it echoed into ``feedback`` but progress, warnings and errors."""
    import processing

    quiet = QuietFeedback(feedback)
    try:
        return processing.run(alg, params, context=context, feedback=quiet, is_child_algorithm=True)
    finally:
        feedback.canceled.disconnect(quiet.cancel)
