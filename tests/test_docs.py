"""The documentation: docs/algorithms.md and README.md's algorithm list are what `make docs` writes
from the algorithms' help, every algorithm's help is complete, the README's pictures exist and its
Python example is valid Python."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.qgis


def test_generated_documentation_is_up_to_date(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "algorithms.py"), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stdout + done.stderr
    for name, committed in (("algorithms.md", ROOT / "docs" / "algorithms.md"), ("README.md", ROOT / "README.md")):
        assert (tmp_path / name).read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), \
            f"{committed.relative_to(ROOT)} is out of date: run `make docs`"


def test_every_algorithm_is_documented_with_its_parameters():
    text = (ROOT / "docs" / "algorithms.md").read_text(encoding="utf-8")
    for alg_id, keys in (("flair:segment", ("INPUT", "MODEL", "CHECKPOINT", "OUTPUT")),
                         ("flair:polygonize", ("TOLERANCE", "MIN_AREA", "SMALL_POLYGONS")),
                         ("flair:classareas", ("ZONES", "ZONE_FIELD")),
                         ("flair:installdependencies", ("TORCH_BUILD", "CHECK_ONLY")),
                         ("flair:landcover_workflow", ("ORTHOPHOTO", "SEGMENT:LANDCOVER"))):
        section = text.split(f"`{alg_id}`\n", 1)[1].split("\n## ", 1)[0]
        for key in keys:
            assert f"`{key}`" in section, f"{alg_id}: {key}"


def test_every_algorithm_has_a_complete_help(provider):
    from qgis.core import QgsProcessingModelAlgorithm

    for alg in provider.algorithms():
        text = alg.helpContent().get("ALG_DESC", "") if isinstance(alg, QgsProcessingModelAlgorithm) \
            else alg.shortHelpString()
        assert len(text) >= 150 and text.rstrip().endswith("."), f"{alg.id()}: help too short or unfinished"
        assert alg.helpUrl() or isinstance(alg, QgsProcessingModelAlgorithm), alg.id()


def test_readme_pictures_exist_and_its_python_example_is_python():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert {"docs/screenshot_map.png", "docs/screenshot_segment_dialog.png"} <= set(pictures)
    for picture in pictures:
        data = (ROOT / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, picture
    python = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert python and all(ast.parse(block) for block in python)
    for section in ("## Install for users", "## Troubleshooting the installation", "## Screenshots"):
        assert section in readme
