"""An IGN checkpoint given as the checkpoint file (with flair:segment's default model, or alone) runs as
the zoo model it is, recognised by IGN's file name, its hash, IGN's name within its file name, or its
layers (issue #16, item 2); the log says so without contradicting itself, and the error advice names
only settings every caller has."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
import torch
from rasterio.enums import ColorInterp

from conftest import TINY_ENCODER, ignf_state_dict, make_raster, random_image, tiny_model
from registry_fixtures import entry_like
from flair_qgis import zoo
from flair_qgis.checkpoints import load_weights
from flair_qgis.engine import segment
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.zoo import HUB_CHANNEL_CODES, HUB_UNTRAINED
from flair_qgis.model_resolution import resolve_model
from flair_qgis.progress import Progress
from hub_fixtures import TINY_CONVNEXT, tiny_hub_entry, tiny_hub_model, write_hub_file

UNTRAINED = (15, 16, 17, 19)


@pytest.fixture
def tiny_zoo(monkeypatch):
    """The zoo with tiny look-alikes of IGN's models in place of the real ones (whose layers take
    seconds to build): an IR and an RGB FLAIR-HUB ConvNeXt UPerNet, a FLAIR-INC U-Net and FPN; the
    default model's entry stays (it is what flair:segment passes)."""
    entries = {
        "ir": tiny_hub_entry(encoder=TINY_CONVNEXT),
        "rgb": tiny_hub_entry("FLAIR-HUB_LC-A_RGB_swintiny-upernet", TINY_CONVNEXT, "FLAIR-HUB_LC-A_RGB_tiny-upernet"),
        "unet": entry_like(zoo.ZOO[zoo.DEFAULT_MODEL], name="FLAIR-INC_rgb_15cl_tiny-unet",
                        filename="FLAIR-INC_rgb_15cl_tiny-unet_weights.pth", encoder=TINY_ENCODER, sha256=None,
                        size=None, revision="main"),
        "unet12": entry_like(zoo.ZOO["FLAIR-INC_rgb_12cl_resnet34-unet"], name="FLAIR-INC_rgb_12cl_tiny-unet",
                          filename="FLAIR-INC_rgb_12cl_tiny-unet_weights.pth", encoder=TINY_ENCODER, sha256=None,
                          size=None, revision="main"),
        "fpn": entry_like(zoo.ZOO[zoo.DEFAULT_MODEL], name="FLAIR-INC_rgb_15cl_tiny-fpn", arch="fpn",
                       filename="FLAIR-INC_rgb_15cl_tiny-fpn_weights.pth", encoder=TINY_ENCODER, sha256=None,
                       size=None, revision="main"),
    }
    for name in [n for n in zoo.ZOO if n != zoo.DEFAULT_MODEL]:
        monkeypatch.delitem(zoo.ZOO, name)
    for entry in entries.values():
        monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    return entries


def hub_file(path):
    return write_hub_file(path, tiny_hub_model(TINY_CONVNEXT))


def resolved(model, path):
    logs: list[str] = []
    ckpt, spec = resolve_model(model, path, Progress(log=logs.append))
    return ckpt, spec, logs


def active_line(logs: list[str]) -> str:
    return next(m for m in logs if m.startswith("Active classes"))


def test_igns_hub_file_with_the_default_model_runs_as_that_hub_model(tmp_path, tiny_zoo):
    """The bug: flair:segment passes its default MODEL with the CHECKPOINT; IGN's FLAIR-HUB file was read as
    a U-Net/ResNet34 and refused ("give its architecture (arch …)", a setting flair:segment does not have)."""
    entry = tiny_zoo["ir"]
    path = hub_file(tmp_path / entry.filename)

    ckpt, spec, logs = resolved(zoo.DEFAULT_MODEL, path)

    assert spec == entry.spec
    assert [c.code for c in spec.classes] == list(HUB_CHANNEL_CODES)
    assert f"Checkpoint {path.name} recognised as zoo model {entry.name} by its file name, instead of model " \
           f"{zoo.DEFAULT_MODEL}" in logs
    line = active_line(logs)
    assert "15 of 19" in line and "none is off" not in line and f"zoo model {entry.name}'s file" in line
    load_weights(ckpt, spec)


def test_the_segment_run_writes_the_hub_models_map(tmp_path, tiny_zoo):
    entry = tiny_zoo["ir"]
    path = hub_file(tmp_path / entry.filename)
    raster = make_raster(tmp_path / "rgbi.tif", random_image(96, 96, bands=4))
    with rasterio.open(raster, "r+") as dst:  # band 4 as NIR, not the alpha GDAL takes it for
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]

    result = segment(SegmentRequest.of(raster, tmp_path / "out.tif", model=zoo.DEFAULT_MODEL, checkpoint=path,
                                    tile_size=64, margin=16, device="cpu"))

    assert result.spec.name == entry.name and result.spec.bands == ("NIR", "R", "G")
    with rasterio.open(result.output) as out:
        assert out.tags()["FLAIR_MODEL"] == entry.name
        codes = np.unique(out.read(1))
    untrained = {HUB_CHANNEL_CODES[i] for i in HUB_UNTRAINED}
    assert codes.size and not set(codes.tolist()) & untrained


def test_a_renamed_hub_file_alone_is_recognised_by_its_layers_and_its_bands_word(tmp_path, tiny_zoo):
    path = hub_file(tmp_path / "downloaded_IR.safetensors")  # IR and RGB models have the same layers

    ckpt, spec, logs = resolved(None, path)

    entry = tiny_zoo["ir"]
    assert spec == entry.spec
    assert any(m.startswith(f"Checkpoint {path.name} recognised as zoo model {entry.name} by its layers (")
               for m in logs)
    assert "none is off" not in active_line(logs)
    load_weights(ckpt, spec)


def test_igns_name_within_a_copys_file_name_is_enough(tmp_path, tiny_zoo):
    entry = tiny_zoo["rgb"]
    path = hub_file(tmp_path / f"{entry.name} (1).safetensors")

    _, spec, logs = resolved(zoo.DEFAULT_MODEL, path)

    assert spec == entry.spec
    assert f"Checkpoint {path.name} recognised as zoo model {entry.name} by IGN's model name in its file name, " \
           f"instead of model {zoo.DEFAULT_MODEL}" in logs


def test_layers_shared_by_models_of_different_bands_are_refused_naming_them(tmp_path, tiny_zoo):
    path = hub_file(tmp_path / "weights.safetensors")

    with pytest.raises(FlairError) as err:
        resolve_model(None, path, Progress())

    message = str(err.value)
    assert tiny_zoo["ir"].name in message and tiny_zoo["rgb"].name in message
    assert "NIR,R,G / R,G,B" in message and "choose the one it is as the model" in message
    assert "arch" not in message


def test_a_hub_copy_that_fits_the_chosen_hub_model_keeps_its_channel_order(tmp_path, tiny_zoo):
    """A fine-tuned FLAIR-HUB file under another name, given with its model: FLAIR-HUB's channel order and
    the classes its loss weights switch off, said once."""
    entry = tiny_zoo["ir"]
    path = hub_file(tmp_path / "finetuned.safetensors")

    _, spec, logs = resolved(entry.name, path)

    assert [c.code for c in spec.classes] == list(HUB_CHANNEL_CODES)
    assert [i for i, a in enumerate(spec.active) if not a] == list(HUB_UNTRAINED)
    line = active_line(logs)
    assert "15 of 19" in line and "loss weights, 0 for the classes not trained" in line
    assert "none is off" not in line and "less the classes" not in line


def test_a_renamed_flair_inc_fpn_file_is_recognised_by_its_layers(tmp_path, tiny_zoo):
    path = tmp_path / "my_copy.pth"
    sd = ignf_state_dict(tiny_model(arch="fpn"))
    sd["criterion.weight"] = torch.tensor([0.0 if c in UNTRAINED else 1.0 for c in range(1, 20)])
    torch.save(sd, path)

    for model in (None, zoo.DEFAULT_MODEL):
        ckpt, spec, logs = resolved(model, path)
        assert (spec.arch, spec.encoder) == ("fpn", TINY_ENCODER)
        assert [c.code for c in spec.active_classes] == [c for c in range(1, 20) if c not in UNTRAINED]
        assert any(f"recognised as zoo model {tiny_zoo['fpn'].name} by its layers" in m for m in logs)
        load_weights(ckpt, spec)


def test_a_file_of_the_chosen_architecture_keeps_the_chosen_model(tmp_path, tiny_zoo):
    path = tmp_path / "FLAIR-INC_rgb_15cl_tiny-fpn_finetuned.pth"  # another model's name, the chosen one's layers
    torch.save(ignf_state_dict(tiny_model()), path)

    _, spec, logs = resolved(tiny_zoo["unet"].name, path)

    assert (spec.arch, spec.encoder) == ("unet", TINY_ENCODER)
    assert not any("recognised" in m for m in logs)


def test_the_advice_for_an_architecture_no_zoo_model_has_names_the_configuration(tmp_path, tiny_zoo):
    path = tmp_path / "pspnet.pth"
    torch.save(ignf_state_dict(tiny_model(arch="fpn", encoder="resnet18")), path)

    with pytest.raises(FlairError) as err:
        load_weights(*resolve_model(None, path, Progress()))

    message = str(err.value)
    assert "it looks like fpn/resnet18" in message
    assert "flair-detect configuration (model_name fpn, encoder_name resnet18)" in message
    assert "give its architecture" not in message and "(arch " not in message


@pytest.mark.parametrize("model, off", [("unet", UNTRAINED), ("unet12", tuple(range(13, 20)))])
def test_a_renamed_flair_inc_unet_file_is_told_by_the_classes_its_loss_trained(tmp_path, tiny_zoo, model, off):
    """FLAIR-INC's 15- and 12-class U-Nets have the same layers; their criterion.weight differs."""
    path = tmp_path / "weights.pth"
    sd = ignf_state_dict(tiny_model())
    sd["criterion.weight"] = torch.tensor([0.0 if c in off else 1.0 for c in range(1, 20)])
    torch.save(sd, path)

    _, spec, logs = resolved(None, path)

    entry = tiny_zoo[model]
    assert any(f"recognised as zoo model {entry.name} by its layers (unet/{TINY_ENCODER}" in m for m in logs)
    assert [c.code for c in spec.active_classes] == [c for c in range(1, 20) if c not in off]


def test_a_renamed_pinned_zoo_file_given_alone_is_recognised_by_its_sha256(tmp_path, tiny_zoo, monkeypatch):
    import hashlib

    path = tmp_path / "download (2).pth"
    torch.save(ignf_state_dict(tiny_model(arch="fpn")), path)
    data = path.read_bytes()
    pinned = replace(tiny_zoo["fpn"], sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    monkeypatch.setitem(zoo.ZOO, pinned.name, pinned)

    _, spec, logs = resolved(zoo.DEFAULT_MODEL, path)

    assert spec == pinned.spec
    assert f"Checkpoint {path.name} recognised as zoo model {pinned.name} by its sha256, instead of model " \
           f"{zoo.DEFAULT_MODEL}" in logs
