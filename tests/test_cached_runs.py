"""A second run of the same model: its spec remembered (no checkpoint read), its file not hashed again, its
OpenVINO model read from the cache, and no PyTorch imported at all (#17: start-up and memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import rasterio

from conftest import EXAMPLE, ROOT, TINY_ENCODER, tiny_model
from flair_qgis import checkpoints, devices, model_source, plugin_cache, zoo
from flair_qgis.errors import FlairError
from flair_qgis.progress import Progress
from flair_qgis.segment_options import ModelChoice


def small_inc_spec():
    spec = zoo.get_entry(zoo.DEFAULT_MODEL).spec
    norm = replace(spec.normalisation, means=spec.normalisation.means[:3], stds=spec.normalisation.stds[:3])
    return replace(spec, bands=spec.bands[:3], normalisation=norm, tile_size=256, margin=64, name="tiny",
                   encoder=TINY_ENCODER)


@pytest.fixture
def own_checkpoint(tmp_path) -> Path:
    """A tiny model in this plugin's self-describing checkpoint format."""
    return checkpoints.save_checkpoint(tmp_path / "tiny.ckpt", tiny_model(), small_inc_spec())


RUN = """
import json, sys
sys.path.insert(0, {root!r})
from flair_qgis.engine import segment
from flair_qgis.progress import Progress
from flair_qgis.segment_options import SegmentRequest
lines = []
segment(SegmentRequest.of({src!r}, {out!r}, checkpoint={ckpt!r}, backend="openvino", bands=[1, 2, 3]),
        Progress(log=lines.append, warn=lambda m: lines.append("warning: " + m)))
print(json.dumps({{"torch": "torch" in sys.modules, "lines": lines}}))
"""


def run_alone(ckpt: Path, out: Path, cache: Path) -> dict:
    """``segment`` in a fresh Python process (what a command-line or qgis_process run is)."""
    env = {k: v for k, v in os.environ.items() if k != "FLAIR_BACKEND"} | {"FLAIR_CACHE_DIR": str(cache)}
    code = RUN.format(root=str(ROOT), src=str(EXAMPLE), out=str(out), ckpt=str(ckpt))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_openvino_run_of_a_checkpoint_imports_no_pytorch_and_writes_the_same_map(own_checkpoint, tmp_path):
    pytest.importorskip("openvino")
    cache = tmp_path / "cache"
    first = run_alone(own_checkpoint, tmp_path / "first.tif", cache)
    second = run_alone(own_checkpoint, tmp_path / "second.tif", cache)

    assert first["torch"] and any("Converted the model to OpenVINO" in m for m in first["lines"])
    assert not second["torch"], second["lines"]
    assert any("read from the cache" in m for m in second["lines"])
    assert not any("Converted" in m or m.startswith("warning") for m in second["lines"]), second["lines"]
    told = [m for m in first["lines"] if "describes its own model" in m or m.startswith("Active classes")]
    assert told and all(m in second["lines"] for m in told)  # what the resolution said, said again
    with rasterio.open(tmp_path / "first.tif") as a, rasterio.open(tmp_path / "second.tif") as b:
        assert (a.read() == b.read()).all() and a.tags()["FLAIR_CLASSES"] == b.tags()["FLAIR_CLASSES"]


def test_a_remembered_model_is_not_read_again_until_its_file_changes(own_checkpoint, monkeypatch):
    reads = []
    real = checkpoints.read_checkpoint
    monkeypatch.setattr(checkpoints, "read_checkpoint", lambda path: reads.append(path) or real(path))
    first_lines, second_lines = [], []
    choice = ModelChoice(checkpoint=own_checkpoint)

    first = model_source.resolve(choice, "cpu", Progress(log=first_lines.append))
    second = model_source.resolve(choice, "cpu", Progress(log=second_lines.append))

    assert len(reads) == 1 and second.spec == first.spec and second_lines == first_lines
    assert second.identity == first.identity == plugin_cache.file_sha256(own_checkpoint)
    assert second._module is None  # the weights are read only when a backend asks for them
    assert second.module().state_dict().keys() == first.module().state_dict().keys() and len(reads) == 2

    checkpoints.save_checkpoint(own_checkpoint, tiny_model(seed=3), replace(small_inc_spec(), name="retrained"))
    third = model_source.resolve(choice, "cpu", Progress())
    assert len(reads) == 3 and third.spec.name == "retrained" and third.identity != first.identity


def test_another_choice_for_the_same_file_is_resolved_again(own_checkpoint):
    model_source.resolve(ModelChoice(checkpoint=own_checkpoint), "cpu", Progress())
    with pytest.raises(FlairError, match="n_classes is 5"):
        model_source.resolve(ModelChoice(checkpoint=own_checkpoint, n_classes=5), "cpu", Progress())


def test_a_file_hash_is_remembered_and_taken_again_when_the_file_changes(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 1000)
    first = plugin_cache.file_sha256(path)
    assert list((plugin_cache.root() / "records" / "sha256").glob("*.json"))
    path.write_bytes(b"b" * 1000)
    os.utime(path, ns=(1, 1))  # same size, another modification time
    assert plugin_cache.file_sha256(path) != first


def test_a_cache_that_cannot_be_written_still_gives_the_hash_and_resolves(tmp_path, monkeypatch, own_checkpoint):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    import hashlib

    assert plugin_cache.file_sha256(path) == hashlib.sha256(b"x").hexdigest()
    assert model_source.resolve(ModelChoice(checkpoint=own_checkpoint), "cpu", Progress()).spec.name == "tiny"


def test_a_corrupt_record_is_ignored(own_checkpoint):
    choice = ModelChoice(checkpoint=own_checkpoint)
    model_source.resolve(choice, "cpu", Progress())
    for record in (plugin_cache.root() / "records" / "models").glob("*.json"):
        record.write_text('{"spec": {"arch": 1}, "lines": []}')
    assert model_source.resolve(choice, "cpu", Progress()).spec == small_inc_spec()


def test_device_auto_without_an_nvidia_driver_is_the_cpu_without_importing_pytorch():
    if devices.nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA driver: PyTorch is asked")
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from flair_qgis.devices import device_name; "
            "print(device_name('auto'), device_name('CPU'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["cpu", "cpu", "False"]


def test_device_choice_asks_pytorch_where_a_driver_is(monkeypatch):
    import torch

    monkeypatch.setattr(devices, "nvidia_driver_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.device_name("auto") == "cpu"
    with pytest.raises(FlairError, match="PyTorch sees no CUDA GPU"):
        devices.device_name("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.device_name("auto") == "cuda"
    with pytest.raises(FlairError, match="unknown device 'tpu'"):
        devices.device_name("tpu")
