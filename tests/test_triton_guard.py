"""triton kept out of the process that loads the plugin (issue #10, item 1), and said so in the
diagnostics. Each check runs in a fresh interpreter: this test process has imported torch already."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PLUGIN_NAME, PLUGINS_DIR, ROOT

IMPORTS_LIKE_THE_ALGORITHMS = (
    "import segmentation_models_pytorch, timm, torchmetrics, torch\n"
    "from flair_qgis import diagnostics, triton_guard\n"
    "maps = open('/proc/self/maps').read()\n"
    "print('LOADED', triton_guard.loaded(), 'libtriton' in maps)\n"
    "print([line for line in diagnostics.report(verify=False).splitlines() if line.startswith('triton')][0])\n")


def _python(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_blocked_triton_is_never_imported_and_diagnostics_say_so():
    out = _python("from flair_qgis.triton_guard import block_triton\nassert block_triton()\n"
                  + IMPORTS_LIKE_THE_ALGORITHMS)
    assert "LOADED False False" in out
    assert "triton: blocked" in out


def test_plugin_entry_point_blocks_triton():
    """QGIS calls classFactory first: the guard must be set there, before the plugin imports anything."""
    out = _python("import importlib, sys\n"
                  "sys.modules['qgis'] = None  # stop at the plugin's first QGIS import\n"
                  f"sys.path.insert(0, {str(PLUGINS_DIR)!r})\n"
                  f"plugin = importlib.import_module({PLUGIN_NAME!r})\n"
                  "try:\n    plugin.classFactory(None)\nexcept ImportError:\n    pass\n"
                  "from flair_qgis import triton_guard\nprint('BLOCKED', triton_guard.blocked())\n")
    assert "BLOCKED True" in out


def test_without_the_guard_diagnostics_warn_that_smp_imports_triton():
    out = _python("from flair_qgis import diagnostics, triton_guard\n"
                  "print([l for l in diagnostics.report(verify=False).splitlines() if l.startswith('triton')][0])\n")
    assert "triton: installed, not blocked" in out or "triton: not installed" in out
