"""Figures drawn without log noise (issue #16, item 12): the pyparsing that flair:installdependencies
installs (rasterio needs it: 3.3 here) warns ~20 times a figure about the old names Debian's
matplotlib 3.6 calls, and QGIS shows every warning (``warnings.simplefilter('default')`` in
qgis.utils). Exactly that category is silenced while a figure is drawn.

``tests/data/pyparsing-3.3.3-py3-none-any.whl`` is pyparsing's own wheel (MIT licence, pure Python,
importable as it is), so that the test sees the pyparsing users get without a network."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

WHEEL = ROOT / "tests" / "data" / "pyparsing-3.3.3-py3-none-any.whl"

DRAW = """
import sys
sys.path[:0] = [{wheel!r}, {root!r}]
import warnings
warnings.simplefilter("default")  # as qgis.utils does
from types import SimpleNamespace
import numpy as np
import pyparsing
from flair_qgis import change_plot, plots
assert pyparsing.__version__ == "3.3.3", pyparsing.__file__

def draw(f):
    return getattr(f, "__wrapped__", f) if {bare} else f

history = [dict(epoch=e, train_loss=1.0 / e, val_loss=1.2 / e, val_miou=0.2 * e) for e in (1, 2, 3)]
draw(plots.curves_png)(history, {out!r} + "/curves.png", title="training")
draw(plots.heatmap_png)(np.eye(3) * 5, ["a", "b", "c"], ["a", "b", "c"], {out!r} + "/heatmap.png")
transitions = [SimpleNamespace(from_code=a, to_code=b, pixels=100 * (a + b), area_m2=4.0 * (a + b),
                               area_ha=4e-4 * (a + b), from_class=str(a), to_class=str(b))
               for a in (1, 10) for b in (1, 10)]
draw(change_plot.change_png)(transitions, {out!r} + "/change.png")
print("drawn")
"""


def _draw(tmp_path, bare: bool) -> str:
    code = DRAW.format(wheel=str(WHEEL), root=str(ROOT), out=str(tmp_path), bare=bare)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "drawn" in done.stdout, done.stderr
    return done.stderr


def test_figures_are_drawn_without_pyparsing_deprecation_warnings(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")

    quiet = _draw(tmp_path, bare=False)

    assert "PyparsingDeprecationWarning" not in quiet, quiet
    for name in ("curves.png", "heatmap.png", "change.png"):
        assert (tmp_path / name).stat().st_size > 1000
    if matplotlib.__version__.startswith(("3.5.", "3.6.")):  # Debian 12's: the noise is real without the filter
        assert _draw(tmp_path, bare=True).count("PyparsingDeprecationWarning") >= 5
