"""Tiny FLAIR-HUB models for the tests: a Swin and a ConvNeXt-V2 small enough to build in a blink, saved as
``.safetensors`` files in FLAIR-HUB's published key layout (reference/FLAIR-HUB-MODELS.md §4).

The encoders are tests/tiny_timm.py's: ``tu-swin_flairtest`` and ``tu-convnextv2_flairtest``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from registry_fixtures import entry_like
import tiny_timm  # noqa: F401 - registers the tiny timm architectures
from flair_qgis import zoo
from flair_qgis.flair_hub import AERIAL, UPERNET_SMP04
from flair_qgis.model_spec import build_model
from flair_qgis.zoo import HUB_CHANNEL_CODES, HUB_UNTRAINED

TINY_SWIN = "tu-swin_flairtest"
TINY_CONVNEXT = "tu-convnextv2_flairtest"


def tiny_hub_model(encoder: str = TINY_SWIN, arch: str = UPERNET_SMP04, seed: int = 0) -> torch.nn.Module:
    """A FLAIR-HUB-shaped model with random weights, including non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = build_model(arch, encoder, 3, 19)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
    return model.eval()


def hub_layout(model: nn.Module, task: str = "AERIAL_LABEL-COSIA",
               class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The state dict FLAIR-HUB would save for ``model`` (inverse of :func:`flair_qgis.flair_hub.to_smp_layout`,
    with smp 0.4.0's unused input stage and fusion convs)."""
    out: dict[str, torch.Tensor] = {}
    decoder = f"model.main_decoders.{task}.seg_model."
    for key, tensor in model.state_dict().items():
        if key.startswith("encoder."):
            out[f"model.encoders.{AERIAL}.seg_model." + key[len("encoder."):]] = tensor
        else:
            out[decoder + key] = tensor
    if any(k.startswith(decoder + "decoder.fpn_stages.") for k in out):
        pyramid = int(out[decoder + "decoder.psp.out_conv.0.weight"].shape[0])
        stage = decoder + "decoder.fpn_stages.4.skip_conv."
        out[stage + "0.weight"] = torch.zeros(pyramid, 1, 1, 1)  # FLAIR-HUB built its decoders for 1 band
        bn = nn.BatchNorm2d(pyramid).state_dict()
        out.update({stage + "1." + k: v for k, v in bn.items()})
    stage_widths = list(getattr(model.encoder, "out_channels", []))[2:]
    for i, width in enumerate(w for w in stage_widths if w):
        out[f"model.fusion_handler.conv_f.{i}.weight"] = torch.zeros(width, width, 1, 1)
        out[f"model.fusion_handler.conv_f.{i}.bias"] = torch.zeros(width)
    if class_weights is None:
        class_weights = torch.tensor([0.0 if i in HUB_UNTRAINED else 1.0 for i in range(len(HUB_CHANNEL_CODES))])
    out[f"criterion.{task}.weight"] = class_weights
    return {k: v.contiguous() for k, v in out.items()}


def write_hub_file(path: Path, model: torch.nn.Module, **extra: torch.Tensor) -> Path:
    """``model`` saved as FLAIR-HUB saves a single-aerial-modality LC model (plus ``extra`` entries)."""
    from safetensors.torch import save_file

    save_file({**hub_layout(model), **extra}, str(path))
    return path


def tiny_hub_entry(base: str = "FLAIR-HUB_LC-A_IR_swinbase-upernet", encoder: str = TINY_SWIN,
                   name: str = "FLAIR-HUB_LC-A_IR_tiny-upernet") -> zoo.ModelEntry:
    """A zoo entry like ``base`` (bands, normalisation, classes) for a tiny encoder."""
    entry = zoo.get_entry(base)
    return entry_like(entry, name=name, repo_id=f"IGNF/{name}", filename=f"{name}.safetensors", encoder=encoder)
