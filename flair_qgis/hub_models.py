"""IGN's FLAIR-HUB aerial-only land-cover models (``IGNF/FLAIR-HUB_LC-A_*``): their files, classes and model.

A FLAIR-HUB file is a ``.safetensors`` of FLAIR-HUB's Lightning module (see
reference/FLAIR-HUB-MODELS.md §4): the aerial encoder under ``model.encoders.AERIAL_RGBI.seg_model.``,
the land-cover decoder and head under ``model.main_decoders.<task>.seg_model.``, 1×1 fusion convs
(unused with one modality) and the loss's class weights ``criterion.<task>.weight``. It is read with
``safetensors`` (never unpickled) and mapped onto a plain model: a timm encoder through smp's ``tu-``
encoders with smp 0.4.0's UPerNet decoder (:mod:`.upernet`), or smp's U-Net.

Its 19 output channels follow FLAIR-HUB's 0-based class order, not FLAIR-1's: channel i predicts FLAIR
code ``HUB_CHANNEL_CODES[i]``, and channels 15–18 (weight 0 in training) are masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlairError
from .normalisation import Normalisation

if TYPE_CHECKING:  # torch is imported when a model is built or read: the zoo's data needs none
    import torch
    from torch import nn

    from .checkpoints import Checkpoint, ModelSpec

UPERNET_SMP04 = "upernet-smp0.4"  # the ModelSpec arch of smp 0.4.0's UPerNet (:mod:`.upernet`)
AERIAL = "AERIAL_RGBI"
# FLAIR-HUB LC channel i -> FLAIR-1 code (matched by class name; "undefined" -> 19 "other").
HUB_CHANNEL_CODES = (1, 18, 13, 3, 2, 4, 5, 14, 10, 11, 12, 9, 7, 6, 8, 15, 17, 16, 19)
HUB_UNTRAINED = (15, 16, 17, 18)  # clear cut, ligneous, mixed, undefined: weight 0 in training
IR_BANDS = ("NIR", "R", "G")  # bands 4, 1, 2 of IGN's RGBI imagery
RGB_BANDS = ("R", "G", "B")
# FLAIR-HUB's statistics (configs/config_zonal_detection.yaml); they differ from FLAIR-INC's.
IR_NORMALISATION = Normalisation("custom", (106.59, 105.66, 111.35), (39.78, 52.23, 45.62))
RGB_NORMALISATION = Normalisation("custom", (105.66, 111.35, 102.18), (52.23, 45.62, 44.30))
HUB_TILE, HUB_MARGIN = 2048, 512  # FLAIR-HUB zonal detection's defaults: the UPerNet pools over the whole tile
_SKIPPED = ("fusion_handler.", "criterion.", "aux_decoders.")


def is_sized_encoder(encoder: str) -> bool:
    """Encoders whose layers depend on the input size (timm builds Swin for one ``img_size``)."""
    return "swin" in encoder


def build_hub_model(arch: str, encoder: str, in_channels: int, classes: int,
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


def is_hub_file(path: Path) -> bool:
    return Path(path).suffix.lower() == ".safetensors"


def read_hub_file(path: Path) -> dict[str, torch.Tensor]:
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


def hub_layout(model: nn.Module, task: str = "AERIAL_LABEL-COSIA",
               class_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The state dict FLAIR-HUB would save for ``model`` (inverse of :func:`to_smp_layout`, with
    smp 0.4.0's unused input stage and fusion convs): for tests and benchmarks."""
    import torch
    from torch import nn

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


def read_hub_checkpoint(path: Path) -> "Checkpoint":
    """A FLAIR-HUB ``.safetensors`` file as a :class:`~.checkpoints.Checkpoint` in plain-model keys; the
    loss's class weights go to ``extra['class_weights']`` (0 = a class the model was not trained on)."""
    from .checkpoints import Checkpoint

    state_dict, weights = to_smp_layout(read_hub_file(path), f"checkpoint {path}")
    # The file's order is by name: put the encoder's stem first (Checkpoint.in_channels reads it there).
    stems = ("encoder.model.patch_embed.proj.weight", "encoder.model.stem_0.weight", "encoder.model.stem.0.weight")
    ordered = {k: state_dict[k] for k in stems if k in state_dict}
    ordered.update(state_dict)
    return Checkpoint(Path(path), ordered, None, {"layout": "flair-hub", "class_weights": weights})


def in_code_order(ckpt: "Checkpoint", spec: "ModelSpec") -> tuple["Checkpoint", "ModelSpec"]:
    """``ckpt`` and ``spec`` with the head's channels reordered by FLAIR code (channel i = the i-th
    smallest code), the order training uses: fine-tuning a FLAIR-HUB model then starts from its own
    predictions. Unchanged when the channels are already in code order."""
    from dataclasses import replace

    order = sorted(range(spec.n_classes), key=lambda i: spec.classes[i].code)
    if order == list(range(spec.n_classes)):
        return ckpt, spec
    index = torch_index(order)
    state = dict(ckpt.state_dict)
    for key in ("segmentation_head.0.weight", "segmentation_head.0.bias"):
        if key in state and state[key].shape[0] == spec.n_classes:
            state[key] = state[key][index].clone()
    weights = ckpt.extra.get("class_weights")
    extra = dict(ckpt.extra, class_weights=[weights[i] for i in order] if weights else weights)
    return replace(ckpt, state_dict=state, extra=extra), replace(
        spec, classes=tuple(spec.classes[i] for i in order), active=tuple(spec.active[i] for i in order))


def torch_index(order: list[int]) -> "torch.Tensor":
    import torch

    return torch.tensor(order, dtype=torch.long)
