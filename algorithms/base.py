"""What every FLAIR algorithm shares: group, icon, translation, and the bridge to the core."""

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..flair_qgis.errors import Cancelled, FlairError
from ..flair_qgis.progress import Progress
from ..i18n import CONTEXT

ICON = str(Path(__file__).resolve().parent.parent / "resources" / "icon.svg")


class FlairAlgorithm(QgsProcessingAlgorithm):
    """Base of the FLAIR algorithms; subclasses declare only what differs."""

    def createInstance(self):  # noqa: N802 - QGIS's name
        return type(self)()

    def tr(self, text):
        return QCoreApplication.translate(CONTEXT, text)

    def group(self):
        return self.tr("Land cover")

    def groupId(self):  # noqa: N802 - QGIS's name
        return "landcover"

    def icon(self):
        return QIcon(ICON)

    def helpUrl(self):  # noqa: N802 - QGIS's name
        return "https://github.com/flair-qgis/flair-for-qgis#readme"

    def band_numbers(self, parameters, key, context):
        """A multiple band parameter's numbers, given repeated (qgis_process ``BANDS=4 BANDS=1``, a list)
        or as one comma-separated value (``BANDS=4,1,2``, which qgis_process hands over as one string)."""
        value = parameters.get(key)
        items = value if isinstance(value, (list, tuple)) else [value]
        if not any(isinstance(v, str) and ("," in v or ";" in v) for v in items):
            return self.parameterAsInts(parameters, key, context)
        text = ",".join(str(v) for v in items).replace(";", ",")
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise QgsProcessingException(self.tr("{}: '{}' is not a list of band numbers: give them comma-separated, "
                                                 "e.g. 4,1,2").format(key, text)) from None

    @staticmethod
    def progress(feedback: QgsProcessingFeedback) -> Progress:
        """The core's progress callbacks, reporting to ``feedback``."""
        feedback = feedback or QgsProcessingFeedback()
        return Progress(fraction=lambda f: feedback.setProgress(100.0 * f),
                        cancelled=feedback.isCanceled, log=feedback.pushInfo, warn=feedback.pushWarning)

    @staticmethod
    def run_core(call, *args, **kwargs):
        """Call the core; its errors become ``QgsProcessingException`` with the core's message."""
        try:
            return call(*args, **kwargs)
        except Cancelled as e:
            raise QgsProcessingException(str(e)) from None
        except FlairError as e:
            raise QgsProcessingException(str(e)) from None
        except ImportError as e:
            raise QgsProcessingException(missing_packages_message(e)) from None
        except MemoryError:
            raise QgsProcessingException("out of memory: lower the batch size or the tile size") from None


def import_core(module: str):
    """Import a heavy core module (torch and friends) with a clear message if packages are missing."""
    import importlib

    try:
        return importlib.import_module(f"..flair_qgis.{module}", __package__)
    except ImportError as e:
        raise QgsProcessingException(missing_packages_message(e)) from None


def require_packages() -> None:
    """Refuse to start when a package FLAIR needs is missing or too old (found without importing it:
    a run that would not import PyTorch still needs it installed, to read a model the first time)."""
    from ..flair_qgis import dependencies

    statuses = dependencies.check()
    if dependencies.problems(statuses):
        raise QgsProcessingException(dependencies.explain(statuses))


def missing_packages_message(error: ImportError) -> str:
    """What is missing or too old, and the algorithm that installs it."""
    from ..flair_qgis import dependencies

    statuses = dependencies.check()
    if dependencies.problems(statuses):
        return dependencies.explain(statuses)
    return (f"a Python package FLAIR needs cannot be imported ({error.name or error}: {error}). "
            f"Run {dependencies.INSTALL_ALGORITHM}, then restart QGIS")


class ModelsAlgorithm(FlairAlgorithm):
    """An algorithm of the "Models" group (download, diagnostics)."""

    def group(self):
        return self.tr("Models")

    def groupId(self):  # noqa: N802 - QGIS's name
        return "models"
