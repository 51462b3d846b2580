"""Styling a class raster: which classes it holds, and its QML written beside it."""

from __future__ import annotations

from pathlib import Path

from . import raster_io
from .class_codes import AUTO, recorded_classes, resolve
from .palette import ClassInfo, palette, style_path, write_qml


def classes_of(path: Path) -> tuple[ClassInfo, ...] | None:
    """The classes recorded in a class raster written by this plugin (its FLAIR_CLASSES tag)."""
    with raster_io.open_raster(path) as src:
        return recorded_classes(src) if "FLAIR_CLASSES" in src.tags() else None


def style_raster(path: Path, palette_name: str | None = None, codes: str = AUTO,
                 log=None) -> tuple[Path, tuple[ClassInfo, ...]]:
    """Write ``path``'s QML from the named palette, or from its own classes (else FLAIR's 19).

    A 0-based raster (``codes``, decided by ``class_codes.resolve``; ``log`` is told) is styled
    with FLAIR's 19 classes on its own values (0 = building …); the palette then does not apply.
    """
    convention = resolve(path, codes, log)
    if convention.zero_based:
        classes = tuple(convention.raster_classes())
    else:
        classes = palette(palette_name) if palette_name else (classes_of(path) or palette("flair-19"))
    return write_qml(style_path(path), classes), classes
