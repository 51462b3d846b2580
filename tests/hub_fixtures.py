"""Tiny FLAIR-HUB models for the tests: a Swin and a ConvNeXt-V2 small enough to build in a blink, saved as
``.safetensors`` files in FLAIR-HUB's published key layout (reference/FLAIR-HUB-MODELS.md §4).

The two timm architectures are registered under their own names (the real classes, fewer and narrower
blocks): ``tu-swin_flairtest`` (window 2, so 64 px tiles keep full windows) and ``tu-convnextv2_flairtest``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch
from timm.models import register_model
from timm.models._registry import _model_entrypoints
from timm.models.convnext import _create_convnext
from timm.models.swin_transformer import _create_swin_transformer

from flair_qgis import zoo
from flair_qgis.checkpoints import build_model
from flair_qgis.hub_models import UPERNET_SMP04, hub_layout

TINY_SWIN = "tu-swin_flairtest"
TINY_CONVNEXT = "tu-convnextv2_flairtest"

logging.getLogger("timm").setLevel(logging.ERROR)  # "no pretrained configuration": there is none to have

if "swin_flairtest" not in _model_entrypoints:
    @register_model
    def swin_flairtest(pretrained: bool = False, **kwargs):  # noqa: ANN201 - timm's entry-point signature
        args = dict(patch_size=4, window_size=2, embed_dim=8, depths=(1, 2, 1, 1), num_heads=(1, 1, 2, 2))
        return _create_swin_transformer("swin_flairtest", pretrained=pretrained, **dict(args, **kwargs))

    @register_model
    def convnextv2_flairtest(pretrained: bool = False, **kwargs):  # noqa: ANN201
        args = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), use_grn=True, ls_init_value=None, conv_mlp=False)
        return _create_convnext("convnextv2_flairtest", pretrained=pretrained, **dict(args, **kwargs))


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


def write_hub_file(path: Path, model: torch.nn.Module, **extra: torch.Tensor) -> Path:
    """``model`` saved as FLAIR-HUB saves a single-aerial-modality LC model (plus ``extra`` entries)."""
    from safetensors.torch import save_file

    save_file({**hub_layout(model), **extra}, str(path))
    return path


def tiny_hub_entry(base: str = "FLAIR-HUB_LC-A_IR_swinbase-upernet", encoder: str = TINY_SWIN,
                   name: str = "FLAIR-HUB_LC-A_IR_tiny-upernet") -> zoo.ModelEntry:
    """A zoo entry like ``base`` (bands, normalisation, classes) for a tiny encoder."""
    entry = zoo.get_entry(base)
    return replace(entry, name=name, repo_id=f"IGNF/{name}", filename=f"{name}.safetensors", encoder=encoder)
