"""The plugin's translations: ``flair_<lang>.qm`` files compiled from ``flair_<lang>.ts``.

Every user-visible string goes through ``QCoreApplication.translate(CONTEXT, text)`` (the
algorithms' ``tr``). ``make translations`` extracts them into the ``.ts`` files and compiles them.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QTranslator

CONTEXT = "FLAIR"
FOLDER = Path(__file__).resolve().parent


def language(locale: str | None = None) -> str:
    """Two-letter language of ``locale``, by default QGIS's (its override setting, else the system's)."""
    return (locale or QgsApplication.locale() or "en")[:2].lower()


def install_translator(locale: str | None = None):
    """Load and install the translation for QGIS's language; returns the translator, or ``None``
    when the language has none (English, the source language)."""
    path = FOLDER / f"flair_{language(locale)}.qm"
    if not path.is_file():
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)
