"""Which classes a checkpoint may predict is decided from the file itself (issue #10, item 2): its
own spec, its ``criterion.weight``, the zoo entry's list only when the file IS that zoo file, else
every class of its head; the user can override it, and the log says which classes and why."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import torch

from conftest import TINY_ENCODER, ignf_state_dict, tiny_model
from registry_fixtures import entry_like
from flair_qgis import zoo
from flair_qgis.checkpoints import read_checkpoint
from flair_qgis.errors import FlairError
from flair_qgis.model_resolution import bare_spec, resolve_model, with_tiling
from flair_qgis.progress import Progress

NAME = "FLAIR-INC_rgb_15cl_tiny-unet"
UNTRAINED = (15, 16, 17, 19)  # codes a real FLAIR-1 19-class run switched off


@pytest.fixture
def entry(monkeypatch):
    """The 15-class RGB zoo model, with a tiny encoder so that its weights are quick to build."""
    entry = entry_like(zoo.ZOO["FLAIR-INC_rgb_15cl_resnet34-unet"], name=NAME, repo_id=f"IGNF/{NAME}",
                    filename=f"{NAME}_weights.pth", encoder=TINY_ENCODER)
    monkeypatch.setitem(zoo.ZOO, NAME, entry)
    return entry


def weights(off: tuple[int, ...] = ()) -> torch.Tensor:
    return torch.tensor([0.0 if code in off else 1.0 for code in range(1, 20)])


def active_codes(spec) -> list[int]:
    return [c.code for c in spec.active_classes]


def test_a_19_class_file_given_with_the_default_zoo_model_keeps_all_19_classes(tmp_path, entry):
    """The bug: a bare IGNF .pth whose name is no zoo file's was masked to the zoo model's 15 classes."""
    path = tmp_path / "my_19_classes_weights.pth"
    torch.save(ignf_state_dict(tiny_model()), path)  # criterion.weight: all ones
    logs: list[str] = []

    _, spec = resolve_model(NAME, path, Progress(log=logs.append))

    assert active_codes(spec) == list(range(1, 20))
    assert (spec.arch, spec.encoder) == ("unet", TINY_ENCODER)  # the zoo model's architecture is kept
    line = next(m for m in logs if m.startswith("Active classes"))
    assert "19 of 19" in line and "criterion.weight" in line


def test_criterion_weight_zeros_switch_classes_off_and_the_log_names_them(tmp_path, entry):
    path = tmp_path / "flair1_run.pth"
    sd = ignf_state_dict(tiny_model())
    sd["criterion.weight"] = weights(UNTRAINED)
    torch.save(sd, path)
    logs: list[str] = []

    _, spec = resolve_model(NAME, path, Progress(log=logs.append))

    assert active_codes(spec) == [c for c in range(1, 20) if c not in UNTRAINED]
    line = next(m for m in logs if m.startswith("Active classes"))
    assert "15 of 19" in line and "codes 1–14, 18" in line and "never predicted: 15 " in line


def test_lightning_ckpt_criterion_weight_is_read(tmp_path):
    path = tmp_path / "epoch=10.ckpt"
    sd = ignf_state_dict(tiny_model())
    sd["criterion.weight"] = weights((19,))
    torch.save({"state_dict": sd, "epoch": 10}, path)

    ckpt = read_checkpoint(path)
    _, spec = resolve_model(None, path, Progress(), encoder=TINY_ENCODER)

    assert ckpt.class_weights == tuple(weights((19,)).tolist())
    assert active_codes(spec) == list(range(1, 19))


def test_bare_state_dict_without_criterion_keeps_every_head_class(tmp_path, entry):
    path = tmp_path / "bare.pth"
    torch.save(tiny_model().state_dict(), path)
    logs: list[str] = []

    _, spec = resolve_model(NAME, path, Progress(log=logs.append))

    assert active_codes(spec) == list(range(1, 20))
    assert any("every class of the 19-class head" in m for m in logs)


def test_a_renamed_zoo_file_is_recognised_by_its_sha256(tmp_path, monkeypatch, entry):
    path = tmp_path / "renamed.pth"
    torch.save(ignf_state_dict(tiny_model()), path)
    data = path.read_bytes()
    pinned = replace(entry, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    monkeypatch.setitem(zoo.ZOO, NAME, pinned)

    _, spec = resolve_model(NAME, path, Progress())

    assert spec == replace(pinned.spec, normalisation=spec.normalisation)
    assert sum(spec.active) == 15


def test_active_classes_override_and_unknown_codes(tmp_path, entry):
    path = tmp_path / "my.pth"
    torch.save(ignf_state_dict(tiny_model()), path)
    logs: list[str] = []

    _, spec = resolve_model(NAME, path, Progress(log=logs.append), active_codes=[1, 6, 19])

    assert active_codes(spec) == [1, 6, 19]
    assert any(m.startswith("Active classes (as asked): 3 of 19") for m in logs)
    with pytest.raises(FlairError, match=r"code\(s\) 25 are not classes of model .* codes are 1–19"):
        resolve_model(NAME, path, Progress(), active_codes=[1, 25])


def test_tiling_and_bare_spec_take_plain_arguments(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(tiny_model(classes=5).state_dict(), path)

    spec = bare_spec(read_checkpoint(path), encoder=TINY_ENCODER)

    assert (spec.encoder, spec.n_classes, spec.tile_size, spec.margin) == (TINY_ENCODER, 5, 512, 128)
    assert (with_tiling(spec, "fast").tile_size, with_tiling(spec, None, 256, 32).margin) == (1024, 32)
    with pytest.raises(FlairError, match="unknown preset 'slow'"):
        with_tiling(spec, "slow")


def test_active_classes_are_decided_in_one_place_from_one_class_weights_field(tmp_path):
    """FLAIR-1 and FLAIR-HUB files keep their loss weights in ``Checkpoint.class_weights``; a FLAIR-HUB
    file's weights mask a registry model's classes, a FLAIR-1 file's only a file read from its weights."""
    from flair_qgis.checkpoints import Checkpoint
    from flair_qgis.model_resolution import FROM_WEIGHTS, OWN, active_classes

    spec = zoo.get_entry("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet").spec
    off = (0.0,) + (1.0,) * 18  # channel 0 (code 1) switched off by the file
    hub = Checkpoint(tmp_path / "hub.safetensors", {}, None, {"layout": "flair-hub"}, off)
    masked, why = active_classes(spec, hub, OWN, "zoo model")
    assert masked.active == (False,) + spec.active[1:] and "loss weights switch off" in why
    flair1 = Checkpoint(tmp_path / "f1.pth", {}, None, {}, off)
    assert active_classes(spec, flair1, OWN, "zoo model") == (spec, "zoo model")
    from_file, why = active_classes(spec, flair1, FROM_WEIGHTS, "")
    assert from_file.active == (False,) + (True,) * 18 and "criterion.weight" in why
    asked, why = active_classes(spec, hub, OWN, "zoo model", active_codes=[1, 2])
    assert [c.code for c in asked.active_classes] == [1, 2] and why == "as asked"
