"""The GDAL calls flair_qgis.vrt makes through the osgeo bindings leave the process's exception
setting as they found it (QGIS and other plugins share it), raise the core's own error whatever that
setting is (GDAL ≥ 3.7), and do not make GDAL 3.10 warn that no setting was chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_raster

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, warnings
warnings.simplefilter("error")  # GDAL 3.10's FutureWarning about the unchosen setting fails the run
sys.path.insert(0, {root!r})
from osgeo import gdal
if {exceptions_on}:
    gdal.UseExceptions()  # as another plugin may have done
from flair_qgis import vrt
from flair_qgis.errors import FlairError
vrt.mosaic([{raster!r}], __import__("pathlib").Path({out!r}))
try:
    vrt.mosaic([{missing!r}], __import__("pathlib").Path({out!r} + ".bad.vrt"))
except FlairError as e:
    print("FlairError:", e)
print("exceptions on after:", gdal.GetUseExceptions())
"""


@pytest.mark.parametrize("exceptions_on", [False, True])
def test_vrt_calls_keep_gdals_exception_setting_and_raise_the_cores_error(tmp_path, exceptions_on):
    from osgeo import gdal

    if exceptions_on and not hasattr(gdal, "ExceptionMgr"):
        pytest.skip(f"GDAL {gdal.__version__} has no per-thread exception setting (ExceptionMgr, GDAL 3.7)")
    raster = make_raster(tmp_path / "a.tif", np.ones((1, 8, 8), np.uint8))
    script = SCRIPT.format(root=str(ROOT), exceptions_on=exceptions_on, raster=str(raster),
                           out=str(tmp_path / "m.vrt"), missing=str(tmp_path / "missing.tif"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "m.vrt").is_file()
    assert f"FlairError: reading {tmp_path / 'missing.tif'} failed" in done.stdout
    assert f"exceptions on after: {int(exceptions_on)}" in done.stdout
