"""Tiny FLAIR-HUB models for the tests: a Swin and a ConvNeXt-V2 small enough to build in a blink, saved as
``.safetensors`` files in FLAIR-HUB's published key layout (reference/FLAIR-HUB-MODELS.md §4).

The encoders are tests/tiny_timm.py's: ``tu-swin_flairtest`` and ``tu-convnextv2_flairtest``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

import tiny_timm  # noqa: F401 - registers the tiny timm architectures
from flair_qgis import zoo
from flair_qgis.checkpoints import build_model
from flair_qgis.hub_models import UPERNET_SMP04, hub_layout

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
