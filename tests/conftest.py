"""Shared fixtures: tiny models saved in real checkpoint formats, small georeferenced rasters,
a loopback HuggingFace hub, and the plugin importable as the package QGIS loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"
PLUGIN_NAME = "flair_for_qgis"
TINY_ENCODER = "tu-mobilenetv3_small_050"

# QGIS imports the plugin folder as a package named after it: do the same, through a link, so
# that the relative imports of algorithms/ resolve exactly as inside QGIS.
PLUGINS_DIR = Path(tempfile.mkdtemp(prefix="flair-plugins-"))
(PLUGINS_DIR / PLUGIN_NAME).symlink_to(ROOT, target_is_directory=True)
sys.path.insert(0, str(PLUGINS_DIR))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The tests' models are tiny and some record what they are fed: BACKEND auto means PyTorch here (and in the
# qgis_process runs, which inherit it); tests/test_openvino.py runs OpenVINO explicitly.
os.environ.setdefault("FLAIR_BACKEND", "torch")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tests' models are tiny: one thread runs them as fast as two, and far faster when other
    work shares the two cores (subprocesses that need more set their own)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- QGIS: the Processing provider in this process, and qgis_process in others ---------------

QGIS_PROCESS = os.environ.get("FLAIR_QGIS_PROCESS", "/usr/bin/qgis_process.bin")
# The packages of the Python running the tests (the venv): asked from it, whatever its version.
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# Set by `make test` (and so by .ci/run): a machine without QGIS or qgis_process fails, never skips.
REQUIRE_QGIS = os.environ.get("FLAIR_REQUIRE_QGIS") == "1"
needs_qgis_process = pytest.mark.skipif(not REQUIRE_QGIS and not Path(QGIS_PROCESS).is_file(),
                                        reason=f"{QGIS_PROCESS} missing (make setup)")


def pytest_sessionstart(session) -> None:
    """With FLAIR_REQUIRE_QGIS=1, stop at once when QGIS's Python or qgis_process is missing, so that
    a green run always means the Processing layer was exercised."""
    if not REQUIRE_QGIS:
        return
    missing = [] if Path(QGIS_PROCESS).is_file() else [QGIS_PROCESS]
    try:
        import qgis.core  # noqa: F401 - only whether it imports
    except ImportError as e:
        missing.append(f"QGIS's Python bindings ({e})")
    if missing:
        pytest.exit(f"FLAIR_REQUIRE_QGIS=1 but {' and '.join(missing)} missing: install QGIS (make setup)",
                    returncode=1)


def qgis_env(profile: Path, pythonpath: list[Path] | None = None, **extra: str) -> dict[str, str]:
    """The environment of the README for qgis_process: headless, the plugin and the venv's packages
    visible, and a throw-away ``profile`` so that no user's QGIS settings are read or changed."""
    path = os.pathsep.join(map(str, [SITE_PACKAGES] if pythonpath is None else pythonpath))
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(PLUGINS_DIR),
            "QGIS_CUSTOM_CONFIG_PATH": str(profile), "PYTHONPATH": path, **extra}


def qgis_process(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real ``qgis_process.bin`` with ``args``."""
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout)


def enable_plugin(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Enable the plugin in ``env``'s profile (qgis_process loads only enabled plugins)."""
    done = qgis_process("plugins", "enable", PLUGIN_NAME, env=env, timeout=120)
    assert done.returncode == 0 and re.search(rf"^\* {PLUGIN_NAME}$", done.stdout, re.M), done.stdout + done.stderr
    return done


@contextmanager
def flair_provider():
    """Our Processing provider in this process's registry, removed afterwards."""
    from qgis.core import QgsApplication

    from flair_for_qgis.provider import FlairProvider

    provider = FlairProvider()
    assert QgsApplication.processingRegistry().addProvider(provider)
    try:
        yield provider
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)


@pytest.fixture
def provider(qgis_processing):
    """Our Processing provider in the registry for the test (pytest-qgis's ``qgis_processing``
    starts only QGIS's own providers)."""
    with flair_provider() as provider:
        yield provider


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty HF cache and no real hub: nothing touches the network."""
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(home / "flair_cache"))  # compiled OpenVINO models
    return home


def make_raster(path: Path, data: np.ndarray, nodata: float | None = None, crs: str | None = "EPSG:2154",
                res: float = 0.2, origin: tuple[float, float] = (650000.0, 6860000.0)) -> Path:
    """Write ``data`` (bands, rows, cols) as a GeoTIFF at 0.2 m in Lambert-93."""
    import rasterio
    from rasterio.transform import from_origin

    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=data.dtype, crs=crs, transform=from_origin(*origin, res, res),
                       nodata=nodata) as dst:
        dst.write(data)
    return path


def random_image(height: int, width: int, bands: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (bands, height, width), dtype=np.uint8)


def tiny_model(in_channels: int = 3, classes: int = 19, arch: str = "unet", encoder: str = TINY_ENCODER,
               seed: int = 0):
    import torch

    from flair_qgis.model_spec import build_model

    torch.manual_seed(seed)
    return build_model(arch, encoder, in_channels, classes).eval()


def ignf_state_dict(model, classes: int = 19) -> dict:
    """``model``'s weights in IGNF's ``_weights.pth`` layout."""
    import torch

    sd = {f"model.seg_model.{k}": v for k, v in model.state_dict().items()}
    sd["criterion.weight"] = torch.ones(classes)
    return sd


@pytest.fixture
def rgb_raster(tmp_path) -> Path:
    return make_raster(tmp_path / "rgb.tif", random_image(300, 420))


@pytest.fixture
def fake_hub():
    from fake_hub import FakeHub

    hub = FakeHub().start()
    yield hub
    hub.stop()


class KeepingFeedback:
    """A QgsProcessingFeedback that keeps the infos and warnings an algorithm reports."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Keeping(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.infos, self.warnings = [], []

            def pushInfo(self, info):  # noqa: N802 - QGIS's name
                self.infos.append(info)

            def pushWarning(self, warning):  # noqa: N802 - QGIS's name
                self.warnings.append(warning)

        return Keeping()
