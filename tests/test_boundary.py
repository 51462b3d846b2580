"""flair_qgis/ is the core and imports nothing from QGIS; the plugin folder keeps its layout."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys

from conftest import ROOT

FORBIDDEN = ("qgis", "PyQt5", "PyQt6", "processing")  # osgeo (GDAL's bindings) is allowed: QGIS ships it


def test_core_modules_import_nothing_from_qgis():
    offenders = []
    for path in sorted((ROOT / "flair_qgis").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_every_core_module_loads_no_qgis():
    code = (
        "import importlib, pkgutil, sys, flair_qgis\n"
        "for m in pkgutil.iter_modules(flair_qgis.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('flair_qgis.' + m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5', 'processing')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_metadata_declares_a_processing_provider():
    meta = configparser.ConfigParser()
    meta.read(ROOT / "metadata.txt", encoding="utf-8")
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22"
    for key in ("name", "description", "version", "author", "email", "tracker", "repository", "license", "tags"):
        assert general.get(key), key
    assert (ROOT / general["icon"]).exists()


def test_plugin_entry_points_exist():
    tree = ast.parse((ROOT / "__init__.py").read_text(encoding="utf-8"))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "classFactory" for n in tree.body)
    plugin = (ROOT / "plugin.py").read_text(encoding="utf-8")
    for method in ("def initProcessing", "def initGui", "def unload"):
        assert method in plugin


def test_make_test_fails_instead_of_skipping_when_qgis_process_is_missing():
    """`make test` sets FLAIR_REQUIRE_QGIS=1: a machine without qgis_process must fail, not skip."""
    import os

    env = {**os.environ, "FLAIR_QGIS_PROCESS": "/nonexistent/qgis_process.bin"}
    env.pop("FLAIR_REQUIRE_QGIS", None)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_choices.py"]
    relaxed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    required = subprocess.run(args, cwd=ROOT, env={**env, "FLAIR_REQUIRE_QGIS": "1"}, capture_output=True,
                              text=True, timeout=300)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    assert required.returncode != 0
    assert "FLAIR_REQUIRE_QGIS=1 but /nonexistent/qgis_process.bin missing" in required.stdout + required.stderr
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "FLAIR_REQUIRE_QGIS=1" in make.split("\ntest:")[1].split("\n\n")[0]
