"""QGIS 4 / Qt6 readiness: the plugin's Python has none of the PyQt5-only patterns that QGIS's own
migration script (qgis/QGIS, scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py) rewrites or warns about, and
names enum values fully scoped (``QgsProcessing.SourceType.TypeVectorPolygon``), which QGIS 3.22's
PyQt5 accepts too."""

from __future__ import annotations

import ast
import configparser
import enum
import importlib
from pathlib import Path

import pytest

from conftest import ROOT

# The plugin as QGIS loads it: its entry points, the algorithms, the core, the translations' helper.
PLUGIN_FILES = sorted([ROOT / "__init__.py", ROOT / "plugin.py", ROOT / "provider.py", ROOT / "i18n" / "__init__.py",
                       *(ROOT / "algorithms").glob("*.py"), *(ROOT / "flair_qgis").rglob("*.py")])
# The one place that may name QVariant.Type: the field-type fallback for QGIS < 3.38 (Qt5 only).
QVARIANT_FALLBACK = ROOT / "algorithms" / "qt_compat.py"

RENAMED_ENUMS = {("Qt", "MidButton"), ("Qt", "TextColorRole"), ("Qt", "BackgroundColorRole"),
                 ("QPainter", "HighQualityAntialiasing")}
REMOVED_IMPORTS = {"QRegExp": "QRegularExpression", "QDesktopWidget": "QScreen (QGuiApplication.screens())",
                   "resources_rc": "icons loaded by file path", "qApp": "QApplication.instance()"}


def pyqt5_only(source: str, path: Path = Path("<source>")) -> list[str]:
    """Each PyQt5-only construct of ``source``, as ``file:line: what (the Qt6 way)``: the checks of
    QGIS's pyqt5_to_pyqt6 script (imports, QVariant types and nulls, exec_, qApp, renamed enums,
    QRegExp, QDesktopWidget, compiled resources, QFontMetrics.width, activated[str], 8-argument
    QDateTime, 4-argument addAction)."""
    found = []

    def hit(node: ast.AST, what: str) -> None:
        found.append(f"{path.name}:{node.lineno}: {what}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("PyQt5", "PyQt6"):
                    hit(node, f"import {alias.name} (import from qgis.PyQt)")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in ("PyQt5", "PyQt6"):
                hit(node, f"from {node.module} import (import from qgis.PyQt)")
            if node.module == "qgis.PyQt.Qt":
                hit(node, "from qgis.PyQt.Qt import (qgis.PyQt.QtCore)")
            for alias in node.names:
                if alias.name in REMOVED_IMPORTS:
                    hit(node, f"{alias.name} is gone in Qt6 ({REMOVED_IMPORTS[alias.name]})")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attr = node.value.id, node.attr
            if owner == "QVariant" and not (path == QVARIANT_FALLBACK and attr == "Type"):
                hit(node, f"QVariant.{attr} (QMetaType.Type, or NULL from qgis.core)")
            elif owner == "qApp":
                hit(node, "qApp (QApplication.instance())")
            elif (owner, attr) in RENAMED_ENUMS:
                hit(node, f"{owner}.{attr} was renamed in Qt6")
        elif isinstance(node, ast.FunctionDef) and node.name == "exec_":
            hit(node, "def exec_ (exec)")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "activated" and isinstance(node.slice, ast.Name) and node.slice.id == "str":
            hit(node, "activated[str] (textActivated)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name == "exec_":
            hit(node, "exec_() (exec())")
        elif isinstance(func, ast.Name) and name == "QVariant" and (
                not node.args or ast.unparse(node.args[0]).startswith("QVariant.")):
            hit(node, "a null QVariant (NULL from qgis.core)")
        elif name == "QDateTime" and len(node.args) == 8:
            hit(node, "QDateTime(y, m, d, h, min, s, ms, spec) (QDateTime(QDate, QTime, spec))")
        elif name == "addAction" and isinstance(func, ast.Attribute) and len(node.args) >= 4:
            hit(node, "addAction with 4 arguments (make the QAction, then addAction it)")
        elif name == "desktop" and isinstance(func, ast.Attribute) and not node.args:
            hit(node, "QApplication.desktop() (QScreen)")
        elif name == "width" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
            inner = func.value.func
            if (isinstance(inner, ast.Attribute) and inner.attr == "fontMetrics") or \
                    (isinstance(inner, ast.Name) and inner.id in ("QFontMetrics", "QFontMetricsF")):
                hit(node, "QFontMetrics.width() (horizontalAdvance())")
    return found


def test_the_checks_find_each_pattern_of_the_migration_script():
    source = """
from PyQt5.QtCore import QVariant
import PyQt5.QtGui
from qgis.PyQt.Qt import Qt
from qgis.PyQt.QtCore import QRegExp
from qgis.PyQt.QtWidgets import qApp
from . import resources_rc
f = QgsField("a", QVariant.Int)
n = QVariant()
m = QVariant(QVariant.Int)
dialog.exec_()
def exec_(self): pass
qApp.processEvents()
b = Qt.MidButton
combo.activated[str].connect(f)
d = QDateTime(2024, 1, 2, 3, 4, 5, 6, Qt.UTC)
menu.addAction(icon, "text", receiver, slot)
w = QApplication.desktop()
x = widget.fontMetrics().width("abc")
"""
    found = pyqt5_only(source)
    for what in ("from PyQt5.QtCore", "import PyQt5.QtGui", "qgis.PyQt.Qt", "QRegExp is gone", "qApp is gone",
                 "resources_rc", "QVariant.Int", "a null QVariant", "exec_() (exec())", "def exec_", "qApp (",
                 "Qt.MidButton", "activated[str]", "QDateTime(y", "addAction", "desktop()", "QFontMetrics.width"):
        assert any(what in f for f in found), f"{what!r} not found in {found}"
    assert pyqt5_only("from qgis.PyQt.QtCore import QMetaType\nt = QMetaType.Type.Int\ndialog.exec()\n") == []


def test_the_plugin_has_no_pyqt5_only_code():
    found = [f for path in PLUGIN_FILES for f in pyqt5_only(path.read_text(encoding="utf-8"), path)]
    assert found == []


def test_metadata_declares_qt6_support():
    meta = configparser.ConfigParser()
    meta.read(ROOT / "metadata.txt", encoding="utf-8")
    assert meta["general"].get("supportsQt6") == "True"


def unscoped_enums(path: Path) -> list[str]:
    """``Class.Value`` where ``Value`` is a member of an enum nested in ``Class`` (PyQt6 needs
    ``Class.Enum.Value``), for the classes ``path`` imports from qgis.*: resolved in this QGIS."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "qgis":
            module = importlib.import_module(node.module)
            classes.update({a.asname or a.name: getattr(module, a.name, None) for a in node.names})
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in classes):
            continue
        owner = classes[node.value.id]
        value = getattr(owner, node.attr, None)
        kind = type(value)
        if owner is kind or not isinstance(value, (int, enum.Enum)) or kind in (int, bool):
            continue  # the enum itself (QgsMapLayerType.RasterLayer), a class, or a plain int constant
        scoped = f"{node.value.id}.{kind.__name__}.{node.attr}"
        found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr} ({scoped})")
    return found


@pytest.mark.qgis
def test_enums_are_fully_scoped(qgis_app):
    found = {path.name: unscoped_enums(path) for path in PLUGIN_FILES if "qgis" in path.read_text(encoding="utf-8")}
    assert [f for hits in found.values() for f in hits] == []
