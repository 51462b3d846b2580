"""The words users choose among, defined once for the core's checks, the Processing algorithms and
the command line (this module imports nothing heavy: the algorithms load it without PyTorch)."""

from __future__ import annotations

from typing import Sequence

from .errors import FlairError
from .tiling import GRIDS

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "torch", "openvino")  # inference runtime: auto is OpenVINO on the CPU when installed
TORCH_BUILDS = ("auto", "cpu", "cuda")  # which PyTorch flair:installdependencies installs
OPENVINO_INSTALLS = ("auto", "yes", "no")  # whether it installs OpenVINO (auto: with the CPU build)
OUTPUT_TYPES = ("argmax", "class_prob")
PRESETS = ("reference", "fast")
STITCHES = ("crop", "blend")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
OUTPUT_GRIDS = ("input", "model")
TILE_GRIDS = ("model", *GRIDS)  # model: the grid the model names (flair-detect's for IGN's)
ARCHS = ("unet", "unetplusplus", "fpn", "deeplabv3", "deeplabv3plus", "linknet", "pspnet", "manet", "pan")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("cosine", "plateau", "none")
MONITORS = ("val_miou", "val_loss")


def unknown(what: str, value: object, choices: Sequence[str]) -> FlairError:
    """The error for a value that is none of ``choices``: ``unknown device 'tpu': use one of auto, cpu, cuda``."""
    return FlairError(f"unknown {what} {value!r}: use one of {', '.join(choices)}")


def check_choice(what: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else raise :func:`unknown`'s error."""
    if value not in choices:
        raise unknown(what, value, choices)
    return value
