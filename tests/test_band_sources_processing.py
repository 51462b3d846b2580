"""flair:segment with bands from several layers, in QGIS (processing.run) and through the real
``qgis_process.bin``: an RGB ortho + an IRC ortho at another resolution + a DSM/DTM pair feed an
rgbie model, and the map equals the one of the same bands stacked by hand."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import from_bounds

from conftest import PLUGIN_NAME, PLUGINS_DIR, SITE_PACKAGES, TINY_ENCODER, make_raster, random_image, tiny_model

pytestmark = pytest.mark.qgis

ORIGIN = (650000.0, 6860000.0)
QGIS_PROCESS = "/usr/bin/qgis_process.bin"


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> dict:
    """RGB at 0.2 m; IRC (NIR, R, G) at 0.4 m over a larger extent; DSM and DTM at 1 m; an rgbie
    model (64/16 tiles); and the five bands stacked by hand on the RGB grid."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    base = tmp_path_factory.mktemp("layers")
    rgb = random_image(90, 120, seed=1)
    irc = random_image(50, 64, seed=2)
    rng = np.random.default_rng(3)
    dtm = (150 + rng.random((1, 20, 26)) * 3).astype(np.float32)
    dsm = dtm + (rng.random((1, 20, 26)) * 25).astype(np.float32)
    paths = dict(rgb=make_raster(base / "bd_ortho.tif", rgb, origin=ORIGIN),
                 irc=make_raster(base / "bd_ortho_irc.tif", irc, res=0.4, origin=(ORIGIN[0] - 0.6, ORIGIN[1] + 1.0)),
                 dsm=make_raster(base / "dsm.tif", dsm, res=1.0, origin=(ORIGIN[0] - 1, ORIGIN[1] + 1)),
                 dtm=make_raster(base / "dtm.tif", dtm, res=1.0, origin=(ORIGIN[0] - 1, ORIGIN[1] + 1)))

    def resampled(name: str) -> np.ndarray:
        with rasterio.open(paths["rgb"]) as ref, rasterio.open(paths[name]) as src:
            return src.read(1, window=from_bounds(*ref.bounds, transform=src.transform), out_shape=(90, 120),
                            resampling=Resampling.bilinear)

    height = resampled("dsm").astype(np.float64) * 5 - resampled("dtm").astype(np.float64) * 5
    elevation = np.clip(np.floor(height + 0.5), 0, 255).astype(np.uint8)
    stack = make_raster(base / "stack.tif", np.concatenate([rgb, resampled("irc")[None], elevation[None]]),
                        origin=ORIGIN)
    with rasterio.open(stack, "r+") as dst:
        dst.colorinterp = [ColorInterp.undefined] * 5
    bands = ("R", "G", "B", "NIR", "Elevation")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=bands, classes=palette("flair-19"),
                     active=(True,) * 19, normalisation=Normalisation.for_bands(bands), tile_size=64, margin=16,
                     name="tiny rgbie")
    paths["ckpt"] = save_checkpoint(base / "rgbie.pt", tiny_model(5, 19), spec)
    paths["stack"] = stack
    return paths


def _read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_segment_algorithm_takes_irc_dsm_and_dtm_layers(provider, layers, tmp_path):
    import processing

    from_layers = processing.run("flair:segment", {
        "INPUT": str(layers["rgb"]), "IRC": str(layers["irc"]), "DSM": str(layers["dsm"]),
        "DTM": str(layers["dtm"]), "CHECKPOINT": str(layers["ckpt"]), "OUTPUT": str(tmp_path / "layers.tif")})
    stacked = processing.run("flair:segment", {"INPUT": str(layers["stack"]), "CHECKPOINT": str(layers["ckpt"]),
                                               "OUTPUT": str(tmp_path / "stacked.tif")})
    assert (_read(from_layers["OUTPUT"]) == _read(stacked["OUTPUT"])).all()


def test_segment_algorithm_says_which_layer_is_missing(provider, layers, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="Elevation: give DSM and DTM"):
        processing.run("flair:segment", {"INPUT": str(layers["rgb"]), "IRC": str(layers["irc"]),
                                         "CHECKPOINT": str(layers["ckpt"]), "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match="a DSM was given without a DTM"):
        processing.run("flair:segment", {"INPUT": str(layers["rgb"]), "IRC": str(layers["irc"]),
                                         "DSM": str(layers["dsm"]), "CHECKPOINT": str(layers["ckpt"]),
                                         "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()


@pytest.mark.skipif(not Path(QGIS_PROCESS).is_file(), reason=f"{QGIS_PROCESS} is not installed (make setup)")
def test_qgis_process_segments_from_rgb_irc_and_dsm_dtm_layers(layers, tmp_path):
    profile = tmp_path / "profile"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(PLUGINS_DIR),
           "PYTHONPATH": str(SITE_PACKAGES),
           "QGIS_CUSTOM_CONFIG_PATH": str(profile), "OMP_NUM_THREADS": "1"}
    enable = subprocess.run([QGIS_PROCESS, "plugins", "enable", PLUGIN_NAME], env=env, capture_output=True,
                            text=True, timeout=120)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    out = tmp_path / "landcover.tif"
    done = subprocess.run([QGIS_PROCESS, "run", "flair:segment", "--", f"INPUT={layers['rgb']}",
                           f"IRC={layers['irc']}", f"DSM={layers['dsm']}", f"DTM={layers['dtm']}",
                           f"CHECKPOINT={layers['ckpt']}", f"OUTPUT={out}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest

    stacked = segment(SegmentRequest.of(layers["stack"], tmp_path / "stacked.tif", checkpoint=layers["ckpt"])).output
    assert (_read(out) == _read(stacked)).all()
