"""Checkpoint files in every format we read load into the same network; unsafe, damaged and
mismatched files are refused with a message that names the file and the problem."""

from __future__ import annotations

import os
import shlex

import pytest
import torch

from conftest import TINY_ENCODER, ignf_state_dict, tiny_model
from registry_fixtures import entry_like
from flair_qgis import zoo
from flair_qgis.checkpoints import FORMAT, load_weights, read_checkpoint, save_checkpoint
from flair_qgis.model_spec import ModelSpec, default_classes
from flair_qgis.model_resolution import resolve_model
from flair_qgis.errors import FlairError
from flair_qgis.normalisation import Normalisation
from flair_qgis.palette import ClassInfo
from flair_qgis.progress import Progress

RGB = ("R", "G", "B")


def tiny_spec(in_channels: int = 3, classes: int = 19, arch: str = "unet") -> ModelSpec:
    roles = zoo.RGBIE[:in_channels]
    return ModelSpec(arch=arch, encoder=TINY_ENCODER, bands=roles, classes=default_classes(classes),
                     active=(True,) * classes, normalisation=Normalisation.for_bands(roles),
                     tile_size=64, margin=16, name="tiny")


def same_outputs(a: torch.nn.Module, b: torch.nn.Module, in_channels: int = 3) -> bool:
    x = torch.randn(2, in_channels, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        return torch.equal(a.eval()(x), b.eval()(x))


@pytest.fixture(scope="module")
def reference():
    """The network every format below stores; seed 3, so a fresh build never matches it by luck."""
    return tiny_model(seed=3)


# --- the formats we read -----------------------------------------------------------------------

def test_ignf_weights_pth_loads_into_an_identical_model(tmp_path, reference):
    path = tmp_path / "model_weights.pth"
    torch.save(ignf_state_dict(reference), path)

    ckpt = read_checkpoint(path)

    assert not any(k.startswith(("model.", "criterion.")) for k in ckpt.state_dict)
    assert set(ckpt.state_dict) == set(reference.state_dict())
    assert (ckpt.in_channels, ckpt.n_classes, ckpt.spec) == (3, 19, None)
    assert same_outputs(load_weights(ckpt, tiny_spec()), reference)


def test_a_fresh_model_differs_from_the_reference(reference):
    """Guards the comparisons in this file: equal outputs really mean the weights were loaded."""
    assert not same_outputs(tiny_model(seed=4), reference)


def test_lightning_ckpt_with_training_state_loads_its_state_dict(tmp_path, reference):
    sd = ignf_state_dict(reference)
    params = list(reference.parameters())
    path = tmp_path / "epoch=12-val_loss=0.71.ckpt"
    torch.save({
        "epoch": 12, "global_step": 4200, "pytorch-lightning_version": "2.1.3",
        "state_dict": sd,
        "optimizer_states": [{"state": {0: {"momentum_buffer": torch.zeros_like(params[0])}},
                              "param_groups": [{"lr": 0.02, "momentum": 0.9, "params": [0, 1, 2]}]}],
        "lr_schedulers": [{"mode": "min", "factor": 0.5, "patience": 10, "best": 0.71}],
        "callbacks": {"EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"wait_count": 3, "patience": 30}},
        "hyper_parameters": {"lr": 0.02, "classes": list(range(19))},
    }, path)

    ckpt = read_checkpoint(path)

    assert set(ckpt.state_dict) == set(reference.state_dict())
    assert same_outputs(load_weights(ckpt, tiny_spec()), reference)


def test_bare_smp_state_dict_loads(tmp_path, reference):
    path = tmp_path / "bare.pth"
    torch.save(reference.state_dict(), path)

    ckpt = read_checkpoint(path)

    assert ckpt.state_dict.keys() == reference.state_dict().keys()
    assert same_outputs(load_weights(ckpt, tiny_spec()), reference)


def test_bare_state_dict_through_resolve_model_uses_the_given_arch_and_encoder(tmp_path, reference):
    path = tmp_path / "bare.pth"
    torch.save(reference.state_dict(), path)
    ckpt, spec = resolve_model(None, path, Progress(), arch="unet", encoder=TINY_ENCODER)

    assert (spec.arch, spec.encoder, spec.bands, spec.name) == ("unet", TINY_ENCODER, RGB, "bare")
    assert spec.n_classes == 19
    assert [c.code for c in spec.classes] == list(range(1, 20))
    assert same_outputs(load_weights(ckpt, spec), reference)


def test_own_checkpoint_round_trips_spec_classes_and_extras(tmp_path):
    model = tiny_model(classes=3, seed=5)
    classes = (ClassInfo(1, "forêt", "#00aa00"), ClassInfo(7, "eau libre", "#0000ff"),
               ClassInfo(9, "bâti", "#ff0000"))
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=RGB, classes=classes, active=(True, False, True),
                     normalisation=Normalisation("custom", (100.0, 110.5, 99.0), (50.0, 45.25, 44.0)),
                     tile_size=256, margin=64, resolution=0.5, name="my-forest-model")
    path = save_checkpoint(tmp_path / "sub" / "mine.pt", model, spec, epoch=7, notes="fine-tuned on D033")

    assert sorted(p.name for p in path.parent.iterdir()) == ["mine.pt"]  # no temporary file left
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT

    ckpt = read_checkpoint(path)

    assert ckpt.spec == spec
    assert ckpt.spec.classes == classes  # names with accents and colours kept exactly
    assert ckpt.spec.active_classes == (classes[0], classes[2])
    assert ckpt.extra == {"epoch": 7, "notes": "fine-tuned on D033"}
    assert same_outputs(load_weights(ckpt, ckpt.spec), model)


def test_own_checkpoint_describes_itself_to_resolve_model(tmp_path):
    model = tiny_model(classes=3, seed=5)
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=RGB, classes=default_classes(3),
                     active=(True,) * 3, normalisation=Normalisation("scaling"), name="self-described")
    path = save_checkpoint(tmp_path / "mine.pt", model, spec)
    logs: list[str] = []
    ckpt, resolved = resolve_model(zoo.DEFAULT_MODEL, path, Progress(log=logs.append))

    assert resolved == spec
    assert any("describes its own model" in m for m in logs)
    assert same_outputs(load_weights(ckpt, resolved), model)


def test_own_checkpoint_with_damaged_metadata_is_refused(tmp_path):
    path = tmp_path / "broken.pt"
    torch.save({"format": FORMAT, "version": 1, "spec": {"arch": "unet"},
                "state_dict": tiny_model().state_dict()}, path)

    with pytest.raises(FlairError, match="metadata is incomplete or malformed"):
        read_checkpoint(path)


# --- files that are refused --------------------------------------------------------------------

class TrainingHparams:
    """Stands for a Lightning hparams object pickled with the weights."""

    def __init__(self) -> None:
        self.lr = 0.02


class RunsAShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_checkpoint_with_a_custom_class_instance_is_refused(tmp_path, reference):
    path = tmp_path / "with-hparams.ckpt"
    torch.save({"state_dict": ignf_state_dict(reference), "hparams": TrainingHparams()}, path)

    with pytest.raises(FlairError) as err:
        read_checkpoint(path)

    message = str(err.value)
    assert "refused" in message and str(path) in message
    assert "TrainingHparams" in message


def test_code_payload_is_refused_and_never_runs(tmp_path, reference):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil_weights.pth"
    sd = ignf_state_dict(reference)
    sd["criterion.weight"] = RunsAShellCommand(f"touch {shlex.quote(str(marker))}")
    torch.save(sd, path)

    with pytest.raises(FlairError) as err:
        read_checkpoint(path)

    assert "refused" in str(err.value) and "system" in str(err.value)
    assert not marker.exists()
    # The payload is live: an unsafe load would have run it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_damaged_file_starting_as_an_unknown_pickle_protocol_gives_the_error_alone(tmp_path, recwarn):
    path = tmp_path / "damaged_weights.pth"
    path.write_bytes(b"\x80\x94" + bytes(200))  # PROTO 148: what 1 random file in 256 starts with

    with pytest.raises(FlairError, match="corrupt, truncated or not a PyTorch file"):
        read_checkpoint(path)

    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]  # torch's warning: the error says it


@pytest.mark.parametrize("damage", ["truncated", "first 100 bytes", "random bytes", "text", "empty"])
def test_damaged_file_gives_an_error_naming_it(tmp_path, reference, damage):
    good = tmp_path / "good.pth"
    torch.save(ignf_state_dict(reference), good)
    data = good.read_bytes()
    content = {
        "truncated": data[: len(data) // 2],
        "first 100 bytes": data[:100],
        "random bytes": os.urandom(4096),
        "text": b"hello, this is not a checkpoint\n",
        "empty": b"",
    }[damage]
    path = tmp_path / "damaged_weights.pth"
    path.write_bytes(content)

    with pytest.raises(FlairError) as err:
        read_checkpoint(path)

    assert str(path) in str(err.value)
    assert "corrupt, truncated or not a PyTorch file" in str(err.value)
    assert "refused" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(FlairError, match="does not exist"):
        read_checkpoint(tmp_path / "nowhere.pth")


@pytest.mark.parametrize("content,what", [
    ([torch.zeros(3)], "holds a list"),
    ({"epoch": 3, "note": "no tensors"}, "holds no weights"),
])
def test_files_without_a_dict_of_weights_are_refused(tmp_path, content, what):
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    with pytest.raises(FlairError, match=what):
        read_checkpoint(path)


# --- weights that do not fit the model ---------------------------------------------------------

def test_wrong_input_bands_says_expected_and_found(tmp_path):
    path = tmp_path / "rgbi_weights.pth"
    torch.save(ignf_state_dict(tiny_model(in_channels=4)), path)

    with pytest.raises(FlairError) as err:
        load_weights(read_checkpoint(path), tiny_spec(in_channels=3))

    message = str(err.value)
    assert "rgbi_weights.pth" in message
    assert "takes 4 input bands" in message and "expects 3 (R, G, B)" in message


def test_wrong_class_count_says_expected_and_found(tmp_path):
    path = tmp_path / "baseline13.pth"
    torch.save(tiny_model(classes=13).state_dict(), path)

    with pytest.raises(FlairError) as err:
        load_weights(read_checkpoint(path), tiny_spec(classes=19))

    assert "predicts 13 classes" in str(err.value) and "expects 19" in str(err.value)
    assert "set n_classes to 13 in a flair-detect configuration" in str(err.value)  # flair:segment has none


def test_other_architecture_is_recognised(tmp_path):
    path = tmp_path / "fpn_weights.pth"
    torch.save(ignf_state_dict(tiny_model(arch="fpn")), path)

    with pytest.raises(FlairError) as err:
        load_weights(read_checkpoint(path), tiny_spec(arch="unet"))

    message = str(err.value)
    assert f"does not fit a unet/{TINY_ENCODER} model" in message
    assert f"looks like fpn/{TINY_ENCODER}" in message


def test_encoder_only_weights_match_no_architecture(tmp_path, reference):
    """E.g. a pretrained backbone given instead of a segmentation model: no head, no decoder."""
    path = tmp_path / "backbone.pth"
    torch.save({f"encoder.{k}": v for k, v in reference.encoder.state_dict().items()}, path)

    with pytest.raises(FlairError) as err:
        load_weights(read_checkpoint(path), tiny_spec())

    assert "backbone.pth does not fit a unet" in str(err.value)
    assert "its layers match no known smp architecture" in str(err.value)
    assert "Missing key(s)" in str(err.value)
    # flair:segment has no architecture to choose (found trying the plugin as a new user): the fix names
    # what each caller has, as for a recognised architecture
    assert "of the chosen architecture" not in str(err.value)
    assert "(model_name, encoder_name) and run `python -m flair_qgis detect --conf`" in str(err.value)


# --- files named like zoo files ----------------------------------------------------------------

def test_checkpoint_named_like_a_zoo_file_adopts_that_entrys_spec(tmp_path):
    entry = zoo.ZOO["FLAIR-INC_rgb_12cl_resnet34-unet"]
    path = tmp_path / entry.filename
    torch.save(ignf_state_dict(tiny_model()), path)
    logs: list[str] = []
    _, spec = resolve_model(None, path, Progress(log=logs.append))

    assert spec == entry.spec
    assert (spec.arch, spec.encoder, spec.n_classes) == ("unet", "resnet34", 19)
    assert [c.code for c in spec.active_classes] == list(range(1, 13))
    assert any(f"read as zoo model {entry.name}" in m for m in logs)


def test_local_copy_of_a_zoo_file_loads_as_that_model(tmp_path, monkeypatch, reference):
    """A zoo entry (here a tiny one put in the zoo) found by file name gives a working model."""

    name = "FLAIR-INC_rgb_15cl_tiny-unet"
    entry = entry_like(zoo.ZOO["FLAIR-INC_rgb_15cl_resnet34-unet"], name=name, repo_id=f"IGNF/{name}",
                    filename=f"{name}_weights.pth", encoder=TINY_ENCODER)
    monkeypatch.setitem(zoo.ZOO, name, entry)
    path = tmp_path / entry.filename
    torch.save(ignf_state_dict(reference), path)

    ckpt, spec = resolve_model(None, path, Progress())

    assert spec == entry.spec
    assert sum(spec.active) == 15
    assert same_outputs(load_weights(ckpt, spec), reference)
