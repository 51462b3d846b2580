"""The plugin inside a REAL QGIS desktop (``qgis --code``) under Xvfb, not only ``qgis_process``.

The desktop differs from ``qgis_process``: its OpenGL is Mesa's software renderer under Xvfb
(as on virtual machines and remote desktops), whose ``libLLVM`` clashed with triton's own LLVM and
crashed QGIS (signal 11) on the first ``flair:segment`` (issue #10, item 1). The desktop runs
``tests/desktop_script.py``, which runs ``flair:segment`` through ``processing.run`` and writes
what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import PLUGIN_NAME, PLUGINS_DIR, ROOT, SITE_PACKAGES, TINY_ENCODER, make_raster, random_image, tiny_model

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

SCRIPT = ROOT / "tests" / "desktop_script.py"

if not (shutil.which("qgis") and shutil.which("xvfb-run")):
    pytest.skip("the QGIS desktop or xvfb-run is not installed (make setup)", allow_module_level=True)


def _profiles(folder: Path) -> Path:
    """A throw-away profiles folder whose default profile has the plugin enabled, no tips, no news."""
    ini = folder / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n[qgis]\ncheckVersion=false\nshowTips=false\n"
                   "[locale]\noverrideFlag=true\nuserLocale=en_GB\n", encoding="utf-8")
    return folder


def test_segment_runs_in_the_qgis_desktop_without_importing_triton(tmp_path):
    """Also checks the segment dialog's defaults there (issue #10, item 11): a real dialog needs a real iface."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-19"),
                     active=(True,) * 19, normalisation=Normalisation.for_bands(rgb), tile_size=128, margin=32)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(3, 19), spec)
    raster = make_raster(tmp_path / "ortho.tif", random_image(100, 140))
    output, result = tmp_path / "landcover.tif", tmp_path / "result.json"
    env = {**os.environ, "QGIS_PLUGINPATH": str(PLUGINS_DIR), "PYTHONPATH": str(SITE_PACKAGES),
           "OMP_NUM_THREADS": "1", "FLAIR_DESKTOP_INPUT": str(raster), "FLAIR_DESKTOP_CHECKPOINT": str(checkpoint),
           "FLAIR_DESKTOP_OUTPUT": str(output), "FLAIR_DESKTOP_RESULT": str(result),
           "FLAIR_DESKTOP_CHANGE": str(tmp_path / "change.tif")}
    for name in ("QT_QPA_PLATFORM", "FLAIR_ALLOW_TRITON"):  # the real xcb desktop, the plugin's defaults
        env.pop(name, None)
    command = ["xvfb-run", "-a", "qgis", "--nologo", "--noversioncheck", "--profiles-path",
               str(_profiles(tmp_path / "qgis")), "--code", str(SCRIPT)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)

    assert result.is_file(), (f"QGIS ended with {done.returncode} before the script reported "
                              f"(-11 / 134: a crash):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    report = json.loads(result.read_text(encoding="utf-8"))
    assert "error" not in report, report.get("error")
    assert report["plugin_loaded"] and report["torch_imported"]
    assert report["triton_modules"] == [] and not report["libtriton_mapped"], report
    assert Path(report["output"]) == output
    with rasterio.open(output) as out, rasterio.open(raster) as src:
        assert (out.width, out.height, out.crs, out.transform) == (src.width, src.height, src.crs, src.transform)
        codes = out.read(1)
    assert codes.min() >= 1 and codes.max() <= 19 and np.unique(codes).size > 1
    assert output.with_suffix(".qml").is_file()
    # The dialog opened with the new land-cover map active offers the orthophoto, and an empty batch size.
    assert report["dialog_input_is_ortho"], report["dialog_input"]
    assert report["dialog_batch_size"] is None
    # flair:change's map loads styled from Processing (issue #16, item 7): its classes, not 256 bare entries.
    from flair_qgis.change_spec import CHANGE_CLASSES

    assert report["change_loaded"] and report["change_name"] == "Change map"
    assert report["change_renderer"] == "paletted"
    assert report["change_classes"] == [[c.code, c.name] for c in CHANGE_CLASSES]
