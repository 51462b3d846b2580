"""FLAIR-HUB aerial-only models: smp 0.4.0's UPerNet reproduced exactly, FLAIR-HUB's .safetensors layout
read strictly, its class order written as FLAIR codes with the untrained classes masked, its
normalisation and IR band order, and clear errors for files that are not such a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.enums import ColorInterp
from safetensors.torch import load_file, save_file

from conftest import ROOT, make_raster, random_image
from flair_qgis import hf_download, zoo
from flair_qgis.checkpoints import load_weights, read_checkpoint
from flair_qgis.model_spec import build_model
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.model_resolution import resolve_model
from flair_qgis.errors import FlairError
from flair_qgis.flair_hub import UPERNET_SMP04
from flair_qgis.zoo import HUB_CHANNEL_CODES, HUB_UNTRAINED, IR_NORMALISATION, RGB_NORMALISATION
from flair_qgis.palette import palette
from flair_qgis.progress import Progress
from hub_fixtures import TINY_CONVNEXT, TINY_SWIN, hub_layout, tiny_hub_entry, tiny_hub_model, write_hub_file

HUB_ENTRIES = [e for e in zoo.ZOO.values() if e.name.startswith("FLAIR-HUB_")]
GOLDEN = ROOT / "tests" / "data" / "golden"
SMP040 = os.environ.get("FLAIR_SMP040_PATHS", "")  # smp 0.4.0's unpacked wheel and deps, os.pathsep-separated


# --- the decoder: smp 0.4.0's UPerNet, exactly ----------------------------------------------------

def upernet_like_golden(encoder: str, state: dict[str, torch.Tensor], size: int) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    from flair_qgis.upernet import UPerNet

    pyramid = int(state["decoder.psp.out_conv.0.weight"].shape[0])
    seg = int(state["decoder.fpn_bottleneck.0.weight"].shape[0])
    extra = {"img_size": (size, size)} if "swin" in encoder else {}

    def make(at):
        return smp.encoders.get_encoder(f"tu-{encoder}", in_channels=3, depth=5, weights=None,
                                        **({"img_size": at} if extra else {}))

    return UPerNet(make, 19, size=(size, size), sized_encoder=bool(extra), pyramid_channels=pyramid,
                   segmentation_channels=seg)


@pytest.mark.parametrize("encoder", ["swin_flairtest", "convnextv2_flairtest"])
def test_upernet_computes_what_smp_040_computed(encoder):
    """Golden files written by smp 0.4.0 itself (tests/data/make_upernet_golden.py): same keys, same logits."""
    state = load_file(str(GOLDEN / f"upernet_smp040_{encoder.split('_')[0]}.safetensors"))
    x, expected = state.pop("__input__"), state.pop("__logits__")
    unused = {k for k in state if k.startswith("decoder.fpn_stages.4.")}
    assert unused  # smp 0.4.0 builds a stage for the input image that its forward never reaches
    model = upernet_like_golden(encoder, state, x.shape[-1])
    model.load_state_dict({k: v for k, v in state.items() if k not in unused}, strict=True)
    with torch.inference_mode():
        got = model.eval()(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(got.argmax(1), expected.argmax(1))


@pytest.mark.skipif(not SMP040, reason="set FLAIR_SMP040_PATHS to smp 0.4.0's unpacked wheel (and deps)")
@pytest.mark.parametrize("encoder,size", [("swin_tiny_patch4_window7_224", 224), ("convnextv2_tiny", 64)])
def test_upernet_equals_a_live_smp_040_on_real_tiny_architectures(encoder, size, tmp_path):
    out = tmp_path / "golden.safetensors"
    subprocess.run([sys.executable, str(ROOT / "tests" / "data" / "make_upernet_golden.py"), str(out), encoder,
                    "256", "64", str(size), *SMP040.split(os.pathsep)], check=True, capture_output=True)
    state = load_file(str(out))
    x, expected = state.pop("__input__"), state.pop("__logits__")
    model = build_model(UPERNET_SMP04, f"tu-{encoder}", 3, 19)  # built for 512 px: rebuilt for this size
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("decoder.fpn_stages.4.")})
    with torch.inference_mode():
        assert torch.equal(model.eval()(x), expected)


@pytest.mark.parametrize("encoder,count", [
    ("tu-swin_tiny_patch4_window7_224", 240), ("tu-convnextv2_tiny", 267), ("tu-swin_small_patch4_window7_224", 396),
    ("tu-swin_base_patch4_window12_384", 396), ("tu-swin_large_patch4_window12_384", 396),
])
def test_the_published_key_layout_and_counts_of_the_real_architectures(encoder, count):
    model = build_model(UPERNET_SMP04, encoder, 3, 19, device="meta")
    keys = hub_layout(model)
    assert len(keys) == count
    decoder = "model.main_decoders.AERIAL_LABEL-COSIA.seg_model."
    stages = {k.split(".")[6] for k in keys if k.startswith(decoder + "decoder.fpn_stages.")}
    assert stages == {"0", "1", "2", "4"}
    assert keys[decoder + "decoder.fpn_stages.4.skip_conv.0.weight"].shape == (256, 1, 1, 1)
    assert tuple(keys[decoder + "segmentation_head.0.weight"].shape) == (19, 64, 1, 1)
    assert tuple(keys[decoder + "decoder.fpn_bottleneck.0.weight"].shape) == (64, 5 * 256, 3, 3)
    assert {f"{decoder}decoder.psp.blocks.{i}.1.{j}.weight" for i in range(4) for j in (0, 1)} <= set(keys)
    assert sum(k.startswith("model.fusion_handler.conv_f.") for k in keys) == 8


def test_the_convnextv2_base_unet_is_smps_unet_with_the_same_keys():
    """smp 0.6's U-Net on tu-convnextv2_base has smp 0.4.0's 438 keys (447 with fusion convs and weights)."""
    model = build_model("unet", "tu-convnextv2_base", 3, 19, device="meta")
    assert len(hub_layout(model)) == 447


# --- reading FLAIR-HUB files ---------------------------------------------------------------------

@pytest.mark.parametrize("encoder", [TINY_SWIN, TINY_CONVNEXT])
def test_a_hub_file_loads_strictly_and_predicts_as_the_saved_model(encoder, tmp_path):
    model = tiny_hub_model(encoder)
    path = write_hub_file(tmp_path / "FLAIR-HUB_LC-A_IR_tiny-upernet.safetensors", model)
    ckpt = read_checkpoint(path)
    assert ckpt.class_weights == tuple(0.0 if i in HUB_UNTRAINED else 1.0 for i in range(19))
    assert not any(k.startswith(("model.", "criterion.", "fusion")) for k in ckpt.state_dict)
    loaded = load_weights(ckpt, tiny_hub_entry(encoder=encoder).spec)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_a_swin_model_rebuilt_for_another_tile_size_equals_one_built_for_it():
    from flair_qgis.flair_hub import build_flair_hub_model

    model = tiny_hub_model(TINY_SWIN)  # built for 512 px tiles
    params = [id(p) for p in model.parameters()]
    at_64 = build_flair_hub_model(UPERNET_SMP04, TINY_SWIN, 3, 19, size=(64, 64)).eval()
    at_64.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(x), at_64(x))
    assert [id(p) for p in model.parameters()] == params  # the same parameters: an optimizer keeps them


def test_tiles_too_small_for_swins_windows_are_refused_with_the_size_to_use():
    model = tiny_hub_model(TINY_SWIN)
    with pytest.raises(FlairError, match="too small.*use larger tiles, e.g. 512 px"):
        model(torch.zeros(1, 3, 32, 32))


def test_a_truncated_file_is_refused_saying_to_download_it_again(tmp_path):
    path = write_hub_file(tmp_path / "m.safetensors", tiny_hub_model(TINY_CONVNEXT))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FlairError, match="corrupt, truncated.*again"):
        read_checkpoint(path)


def test_a_multimodal_file_is_not_supported(tmp_path):
    extra = {"model.encoders.DEM_ELEV.seg_model.model.stem_0.weight": torch.zeros(8, 2, 4, 4)}
    path = write_hub_file(tmp_path / "m.safetensors", tiny_hub_model(TINY_CONVNEXT), **extra)
    with pytest.raises(FlairError, match=r"multimodal FLAIR-HUB model \(inputs AERIAL_RGBI, DEM_ELEV\): not supported"):
        read_checkpoint(path)


def test_a_safetensors_file_of_something_else_is_not_taken_for_a_hub_model(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"conv.weight": torch.zeros(4, 3, 3, 3)}, str(path))
    with pytest.raises(FlairError, match="not a FLAIR-HUB model"):
        read_checkpoint(path)


def test_another_architectures_file_does_not_fit_and_says_so(tmp_path):
    path = write_hub_file(tmp_path / "m.safetensors", tiny_hub_model(TINY_SWIN))
    with pytest.raises(FlairError, match="does not fit a upernet-smp0.4/tu-convnextv2_flairtest model"):
        load_weights(read_checkpoint(path), tiny_hub_entry(encoder=TINY_CONVNEXT).spec)


# --- the zoo entries, classes, bands and normalisation --------------------------------------------

@pytest.mark.parametrize("entry", HUB_ENTRIES, ids=[e.name for e in HUB_ENTRIES])
def test_hub_entry_names_its_file_bands_and_normalisation(entry):
    assert entry.repo_id == f"IGNF/{entry.name}" and entry.filename == f"{entry.name}.safetensors"
    assert entry.revision == "main" and entry.sha256 is None  # unpinned: the hub's announced hash is checked
    ir = "_IR_" in entry.name
    assert entry.bands == (("NIR", "R", "G") if ir else ("R", "G", "B"))
    assert entry.normalisation == (IR_NORMALISATION if ir else RGB_NORMALISATION)
    assert entry.grid == "flair-hub" and (entry.tile_size, entry.margin) == (2048, 512)  # FLAIR-HUB's
    encoder = entry.name.rsplit("_", 1)[1].split("-")[0]  # swinbase, convnextv2tiny, ...
    assert encoder.replace("swin", "swin_") in entry.encoder.replace("_patch4", "").replace("convnextv2_", "convnextv2")
    assert entry.arch == ("unet" if entry.name.endswith("-unet") else UPERNET_SMP04)
    assert "verified on first download" in entry.notes
    assert zoo.entry_for_file(Path("/x") / entry.filename) is entry


def test_hub_normalisation_is_flair_hubs_not_flair_incs():
    assert IR_NORMALISATION.means == (106.59, 105.66, 111.35) and IR_NORMALISATION.stds == (39.78, 52.23, 45.62)
    assert RGB_NORMALISATION.means == (105.66, 111.35, 102.18) and RGB_NORMALISATION.stds == (52.23, 45.62, 44.30)


@pytest.mark.parametrize("entry", HUB_ENTRIES, ids=[e.name for e in HUB_ENTRIES])
def test_hub_channels_carry_flair_codes_and_the_untrained_ones_are_masked(entry):
    spec = entry.spec
    assert [c.code for c in spec.classes] == list(HUB_CHANNEL_CODES)
    names = [c.name for c in spec.classes]
    assert names[:3] == ["building", "greenhouse", "swimming pool"] and names[13] == "coniferous"
    assert [i for i, a in enumerate(spec.active) if not a] == list(HUB_UNTRAINED)
    assert {c.code for c in spec.active_classes} == {c.code for c in palette("flair-15")}


class ChannelModel(torch.nn.Module):
    """Logits that make channel ``pixel value of band 1 // 10`` win, and untrained channel 16 beat them all."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        raw = torch.round(x[:, :1] * IR_NORMALISATION.stds[0] + IR_NORMALISATION.means[0])  # band 1 fed: NIR
        channel = (raw // 10).long().clamp(0, 18)
        logits = torch.nn.functional.one_hot(channel[:, 0], 19).permute(0, 3, 1, 2).float() * 10
        logits[:, 16] = 50.0  # "ligneous": never trained, must never be written
        return logits + self.anchor


def test_the_engine_writes_flair_codes_of_hub_channels_and_feeds_bands_4_1_2_normalised(tmp_path):
    image = random_image(64, 64, bands=4, seed=3)
    image[3] = (np.arange(64 * 64).reshape(64, 64) % 15 * 10 + 5).astype(np.uint8)  # NIR picks channels 0..14
    src = make_raster(tmp_path / "rgbi.tif", image)
    with rasterio.open(src, "r+") as dst:  # GDAL calls the 4th band of a 4-band byte GeoTIFF alpha
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    spec = tiny_hub_entry().spec
    from dataclasses import replace

    model = ChannelModel()
    result = segment_with(model, replace(spec, tile_size=64, margin=16), SegmentRequest.of(src, tmp_path / "out.tif"))
    with rasterio.open(result.output) as out:
        codes = out.read(1)
    expected = np.array(HUB_CHANNEL_CODES, np.uint8)[image[3] // 10]
    np.testing.assert_array_equal(codes, expected)
    fed = torch.cat(model.inputs).numpy()
    # The first tile starts 16 px above and left of the raster (zeros there); bands 4, 1, 2 in that order.
    tile = np.zeros((3, 64, 64), np.float64)
    tile[:, 16:, 16:] = image[[3, 0, 1], :48, :48]
    means = np.array(IR_NORMALISATION.means, np.float64)[:, None, None]
    stds = np.array(IR_NORMALISATION.stds, np.float64)[:, None, None]
    assert any(np.array_equal(f, ((tile - means) / stds).astype(np.float32)) for f in fed)


def test_a_hub_zoo_model_resolves_with_its_files_untrained_classes_masked(tmp_path, fake_hub, monkeypatch):
    entry = tiny_hub_entry(encoder=TINY_CONVNEXT)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    weights = torch.ones(19)
    weights[[5, 15, 16, 17, 18]] = 0  # the file switches off one more class: bare soil (HUB index 5)
    path = write_hub_file(tmp_path / entry.filename, tiny_hub_model(TINY_CONVNEXT))
    tensors = load_file(str(path))
    tensors["criterion.AERIAL_LABEL-COSIA.weight"] = weights
    save_file(tensors, str(path))
    fake_hub.add(entry.repo_id, entry.filename, path.read_bytes())
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)

    ckpt, spec = resolve_model(entry.name, None, Progress())

    assert [i for i, a in enumerate(spec.active) if not a] == [5, 15, 16, 17, 18]
    assert spec.classes[5].code == 4 and spec.grid == "flair-hub"
    load_weights(ckpt, spec)


# --- fine-tuning ---------------------------------------------------------------------------------

def test_fine_tuning_a_hub_zoo_model_starts_from_its_head_in_flair_code_order(tmp_path, fake_hub, monkeypatch):
    from flair_qgis.training import TrainOptions, make_classes, train
    from synthetic import write_flair

    entry = tiny_hub_entry(encoder=TINY_SWIN)
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    base = tiny_hub_model(TINY_SWIN, seed=4)
    path = write_hub_file(tmp_path / entry.filename, base)
    fake_hub.add(entry.repo_id, entry.filename, path.read_bytes())
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    classes = make_classes([(c.code, c.name, 1.0, c.colour) for c in palette("flair-19")])
    logs: list[str] = []

    result = train(TrainOptions(train=[write_flair(tmp_path / "patches", 12)], out_folder=tmp_path / "out",
                                classes=classes, epochs=1, batch_size=4, patience=0, seed=1, optimizer="sgd",
                                learning_rate=1e-9, weight_decay=0.0, init_model=entry.name),
                   Progress(log=logs.append))

    tuned = read_checkpoint(result.best)
    assert (tuned.spec.arch, tuned.spec.encoder, tuned.spec.bands) == (UPERNET_SMP04, TINY_SWIN, ("NIR", "R", "G"))
    assert tuned.spec.normalisation == IR_NORMALISATION and [c.code for c in tuned.spec.classes] == list(range(1, 20))
    head = base.state_dict()["segmentation_head.0.weight"]
    for channel, code in enumerate(HUB_CHANNEL_CODES):  # FLAIR-HUB's channel for code c is now channel c - 1
        torch.testing.assert_close(tuned.state_dict["segmentation_head.0.weight"][code - 1], head[channel],
                                   atol=1e-6, rtol=0)
    assert not any("Re-initialised" in m for m in logs) and fake_hub.downloads() == 1


def test_diagnostics_lists_a_cached_hub_model_with_its_revision_and_hash(tmp_path, fake_hub, monkeypatch):
    from flair_qgis import diagnostics

    entry = zoo.get_entry("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet")
    fake_hub.add(entry.repo_id, entry.filename, b"weights of a FLAIR-HUB model")
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    hf_download.fetch(entry)

    states = dict(diagnostics.cached_models())
    assert states[entry.name].startswith("cached (revision ") and states[entry.name].endswith("sha256 OK")
    assert states["FLAIR-HUB_LC-A_RGB_swintiny-upernet"] == "not cached"
    assert "safetensors " in diagnostics.report(verify=False)
    assert "verified on first download" in zoo.describe(entry)
