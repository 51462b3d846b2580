"""The plugin through the real ``/usr/bin/qgis_process.bin``, as the README and scripts use it:
a throw-away QGIS profile, the plugin enabled there, algorithms and a saved model run headless."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import (EXAMPLE, PLUGIN_NAME, QGIS_PROCESS, REQUIRE_QGIS, ROOT, TINY_ENCODER, enable_plugin,
                      ignf_state_dict, make_raster, qgis_env, qgis_process, random_image, tiny_model)

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

MODEL_FILE = ROOT / "tests" / "data" / "segment.model3"
README_RUN = "qgis_process.bin run flair:segment"

if not REQUIRE_QGIS and not Path(QGIS_PROCESS).is_file():
    pytest.skip(f"{QGIS_PROCESS} is not installed (make setup)", allow_module_level=True)


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """A fresh QGIS profile with the plugin enabled in it."""
    profile = tmp_path_factory.mktemp("qgis-profile")
    enable_plugin(qgis_env(profile))
    return profile


@pytest.fixture
def env(profile) -> dict[str, str]:
    """Read per test: the test's own HF cache and hub (conftest) are in os.environ by then.
    One torch thread: the tiny models gain nothing from two, and lose much when cores are shared."""
    return qgis_env(profile, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny model in our self-describing format (FLAIR's 19 classes, tiled 128/32)."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-19"),
                     active=(True,) * 19, normalisation=Normalisation.for_bands(rgb), tile_size=128, margin=32)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", tiny_model(3, 19), spec)


@pytest.fixture
def raster(tmp_path) -> Path:
    (tmp_path / "in").mkdir()
    return make_raster(tmp_path / "in" / "ortho.tif", random_image(300, 420))


def _assert_landcover(out: Path, like: Path) -> np.ndarray:
    """``out`` is a class raster on ``like``'s grid with its style beside it; returns its codes."""
    assert out.is_file() and out.with_suffix(".qml").is_file()
    with rasterio.open(like) as src, rasterio.open(out) as dst:
        assert (dst.width, dst.height, dst.count) == (src.width, src.height, 1)
        assert dst.crs == src.crs and dst.transform.almost_equals(src.transform)
        assert dst.nodata == 0
        return dst.read(1)


def test_plugin_algorithms_are_listed(env):
    done = qgis_process("list", env=env)

    assert done.returncode == 0, done.stderr
    for alg in ("flair:segment", "flair:downloadmodel", "flair:applystyle"):
        assert alg in done.stdout


def test_segment_runs_with_a_checkpoint(env, raster, checkpoint, tmp_path):
    out = tmp_path / "out" / "landcover.tif"

    done = qgis_process("run", "flair:segment", "--", f"INPUT={raster}", f"CHECKPOINT={checkpoint}",
                        f"OUTPUT={out}", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    codes = _assert_landcover(out, raster)
    assert codes.min() >= 1 and codes.max() <= 19
    assert f"OUTPUT:\t{out}" in done.stdout
    with rasterio.open(out) as dst:
        assert dst.tags()["FLAIR_TILING"] == "128/32"  # no TILE_SIZE/MARGIN given: the checkpoint's


def test_bands_as_one_comma_separated_value_or_repeated_give_the_same_map(env, raster, checkpoint, tmp_path):
    """qgis_process hands ``BANDS=3,2,1`` over as one string (it failed: "band 0 does not exist"); the
    repeated form arrives as a list. Both feed bands 3, 2, 1, as the core does with those bands."""
    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest

    maps = []
    for form in (["BANDS=3,2,1"], ["BANDS=3", "BANDS=2", "BANDS=1"]):
        out = tmp_path / f"out{len(form)}" / "landcover.tif"
        done = qgis_process("run", "flair:segment", "--", f"INPUT={raster}", f"CHECKPOINT={checkpoint}", *form,
                            f"OUTPUT={out}", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        maps.append(_assert_landcover(out, raster))
    expected = segment(SegmentRequest.of(raster, tmp_path / "core.tif", checkpoint=checkpoint, bands=[3, 2, 1],
                                      device="cpu")).output
    with rasterio.open(expected) as ref:
        np.testing.assert_array_equal(maps[0], ref.read(1))
    np.testing.assert_array_equal(maps[0], maps[1])


def test_saved_model_runs_from_its_file(env, raster, checkpoint, tmp_path):
    out = tmp_path / "out" / "landcover.tif"

    done = qgis_process("run", str(MODEL_FILE), "--", f"ORTHOPHOTO={raster}", f"CHECKPOINT={checkpoint}",
                        f"segment:LANDCOVER={out}", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    codes = _assert_landcover(out, raster)
    assert codes.min() >= 1 and codes.max() <= 19


def test_missing_checkpoint_fails_with_a_readable_message(env, raster, tmp_path):
    out = tmp_path / "out" / "landcover.tif"
    missing = tmp_path / "nowhere" / "model.pth"

    done = qgis_process("run", "flair:segment", "--", f"INPUT={raster}", f"CHECKPOINT={missing}",
                        f"OUTPUT={out}", env=env)

    text = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"checkpoint {missing} does not exist" in text
    assert "Traceback" not in text
    assert not out.parent.exists() or os.listdir(out.parent) == []


def _readme_command() -> str:
    lines = [line.strip() for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if README_RUN in line]
    assert len(lines) == 1, f"README.md should show one `{README_RUN}` line, found {len(lines)}"
    return lines[0]


# Run by qgis_process's Python at start-up (PYTHONPATH): the zoo entry named MODEL pins the served file's
# sha256 and size instead of IGN's, the moment the plugin's zoo module is imported. Nothing else changes.
PIN_SERVED_FILE = """
import dataclasses, importlib.abc, importlib.util, sys

class _PinServedFile(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != {module!r}:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            entry = module.ZOO[{model!r}]
            module.ZOO[entry.name] = dataclasses.replace(entry, sha256={sha256!r}, size={size!r})

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _PinServedFile())
"""


def test_readme_command_segments_the_example(profile, fake_hub, tmp_path):
    """The README's line as written (cwd = the repository), with only OUTPUT sent to a temporary
    folder and the hub replaced by a loopback one serving a full-size, randomly initialised
    ResNet34 U-Net in IGNF's layout under the real repository and file name (the zoo entry, which pins
    IGN's file by its sha256 and size, pins that file's instead: a sitecustomize put before PYTHONPATH)."""
    import hashlib

    import torch

    from flair_qgis.model_spec import build_model
    from flair_qgis.palette import palette
    from flair_qgis.zoo import ZOO

    command = _readme_command()
    args = shlex.split(command)
    entry = ZOO[next(a.split("=", 1)[1] for a in args if a.startswith("MODEL="))]
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(ignf_state_dict(build_model("unet", "resnet34", 3, 19)), buffer)
    sha256 = fake_hub.add(entry.repo_id, entry.filename, buffer.getvalue())
    assert sha256 == hashlib.sha256(buffer.getvalue()).hexdigest() != entry.sha256
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PIN_SERVED_FILE.format(
        module=f"{PLUGIN_NAME}.flair_qgis.zoo", model=entry.name, sha256=sha256, size=len(buffer.getvalue())))
    del buffer

    link = ROOT / "build" / "plugins" / PLUGIN_NAME  # what `make setup` (plugin-link) makes
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    out = tmp_path / "parking_landcover.tif"
    command, n = re.subn(r"\bOUTPUT=\S+", f"OUTPUT={shlex.quote(str(out))}", command)
    assert n == 1
    command, n = re.subn(r"\bPYTHONPATH=", f"PYTHONPATH={shlex.quote(str(site))}:", command)
    assert n == 1
    hf_home = tmp_path / "hf"
    env = {**os.environ, "PWD": str(ROOT), "QGIS_CUSTOM_CONFIG_PATH": str(profile), "HF_ENDPOINT": fake_hub.url,
           "HF_HOME": str(hf_home)}

    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)

    assert done.returncode == 0, done.stdout + done.stderr
    codes = _assert_landcover(out, EXAMPLE)
    with rasterio.open(EXAMPLE) as src:
        valid = src.read_masks().any(axis=0)
    assert not valid.all() and (codes[~valid] == 0).all()
    assert set(np.unique(codes[valid])) <= {c.code for c in palette("flair-15")}
    assert fake_hub.downloads() == 1
    assert list((hf_home / "hub").glob(f"models--IGNF--{entry.name}/snapshots/*/{entry.filename}"))
