"""IGN's FLAIR-HUB aerial-only land-cover models (``IGNF/FLAIR-HUB_LC-A_*``): their file layout and model.

A FLAIR-HUB file is a ``.safetensors`` of FLAIR-HUB's Lightning module (see
reference/FLAIR-HUB-MODELS.md §4): the aerial encoder under ``model.encoders.AERIAL_RGBI.seg_model.``,
the land-cover decoder and head under ``model.main_decoders.<task>.seg_model.``, 1×1 fusion convs
(unused with one modality) and the loss's class weights ``criterion.<task>.weight``. It is read with
``safetensors`` (never unpickled) and mapped onto a plain model: a timm encoder through smp's ``tu-``
encoders with smp 0.4.0's UPerNet decoder (:mod:`.upernet`), or smp's U-Net.

The facts of each model (bands, normalisation, FLAIR-HUB's class order, tiling) are data of the registry
(:mod:`.zoo`); a file is read as a checkpoint by :mod:`.checkpoints`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlairError

if TYPE_CHECKING:  # torch is imported when a model is built or read: the zoo's data needs none
    import torch
    from torch import nn

UPERNET_SMP04 = "upernet-smp0.4"  # the ModelSpec arch of smp 0.4.0's UPerNet (:mod:`.upernet`)
AERIAL = "AERIAL_RGBI"
_SKIPPED = ("fusion_handler.", "criterion.", "aux_decoders.")


def is_sized_encoder(encoder: str) -> bool:
    """Encoders whose layers depend on the input size (timm builds Swin for one ``img_size``)."""
    return "swin" in encoder


def build_flair_hub_model(arch: str, encoder: str, in_channels: int, classes: int,
                    size: tuple[int, int] = (512, 512)) -> nn.Module:
    """smp 0.4.0's UPerNet (``arch`` :data:`UPERNET_SMP04`) on a timm encoder, random weights.

    Swin encoders are built for ``size`` inputs (512 px, the training patches: cheap to build) and
    rebuilt for each other tile size on its first tile, as FLAIR-HUB builds them with ``img_size`` = its tile.
    """
    import segmentation_models_pytorch as smp

    from .upernet import UPerNet

    if arch != UPERNET_SMP04:
        raise FlairError(f"unknown FLAIR-HUB architecture {arch!r}: use {UPERNET_SMP04}")
    if not encoder.startswith("tu-"):
        raise FlairError(f"FLAIR-HUB encoder {encoder!r} must be a timm encoder, named tu-<timm name>")
    sized = is_sized_encoder(encoder)

    def make_encoder(at: tuple[int, int]) -> "nn.Module":
        extra: dict[str, Any] = {"img_size": at} if sized else {}
        return smp.encoders.get_encoder(encoder, in_channels=in_channels, depth=5, weights=None, **extra)

    return UPerNet(make_encoder, classes, size=size, sized_encoder=sized)


def is_flair_hub_file(path: Path) -> bool:
    return Path(path).suffix.lower() == ".safetensors"


def read_flair_hub_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (no code is ever run), with clear errors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise FlairError(f"checkpoint {path} is corrupt, truncated or not a .safetensors file ({e}). Download "
                         "or copy it again (an interrupted copy leaves it truncated)") from None


def to_smp_layout(raw: dict[str, torch.Tensor], where: str) -> tuple[dict[str, torch.Tensor], list[float] | None]:
    """A FLAIR-HUB single-modality state dict as a plain model's (``encoder.*``, ``decoder.*``,
    ``segmentation_head.*``), and the loss's class weights (``None`` when absent).

    Refuses multimodal files, files without the aerial encoder, and keys of unknown parts.
    """
    keys = {k[len("model."):] if k.startswith("model.") else k: v for k, v in raw.items()}
    modalities = sorted({k.split(".")[1] for k in keys if k.startswith("encoders.")})
    tasks = sorted({k.split(".")[1] for k in keys if k.startswith("main_decoders.")})
    if not modalities or not tasks:
        raise FlairError(f"{where} is not a FLAIR-HUB model (no 'model.encoders.*' and 'model.main_decoders.*' "
                         "weights): give a FLAIR-HUB LC-A .safetensors file, or a .pth/.ckpt of an smp model")
    if len(modalities) > 1:
        raise FlairError(f"{where} is a multimodal FLAIR-HUB model (inputs {', '.join(modalities)}): not "
                         "supported; only aerial-only models (FLAIR-HUB_LC-A_*, one AERIAL_RGBI input) are")
    if modalities != [AERIAL]:
        raise FlairError(f"{where} takes {modalities[0]}, not aerial imagery ({AERIAL}): not supported; only "
                         "aerial-only FLAIR-HUB models (FLAIR-HUB_LC-A_*) are")
    if len(tasks) > 1:
        raise FlairError(f"{where} predicts several tasks ({', '.join(tasks)}): not supported; only "
                         "single-task land-cover models (FLAIR-HUB_LC-A_*) are")
    encoder_prefix = f"encoders.{AERIAL}.seg_model."
    decoder_prefix = f"main_decoders.{tasks[0]}.seg_model."
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in keys.items():
        if key.startswith(encoder_prefix):
            out["encoder." + key[len(encoder_prefix):]] = tensor
        elif key.startswith(decoder_prefix):
            name = key[len(decoder_prefix):]
            if not name.startswith("decoder.fpn_stages.4."):  # smp 0.4.0's never-used input stage
                out[name] = tensor
        elif not any(key.startswith(s) for s in _SKIPPED):
            unknown.append(key)
    if unknown:
        raise FlairError(f"{where} holds weights of unknown parts ({', '.join(sorted(unknown)[:3])}): not an "
                         "aerial-only FLAIR-HUB land-cover model")
    weights = raw.get(f"criterion.{tasks[0]}.weight")
    return out, None if weights is None else [float(w) for w in weights.reshape(-1)]


