"""Reading and writing model checkpoints, and building the smp model they fit.

Read: IGNF ``*_weights.pth`` (keys prefixed ``model.seg_model.``, plus ``criterion.weight``),
FLAIR-1 Lightning ``.ckpt`` (the same under ``state_dict``), bare smp state dicts, FLAIR-HUB
``.safetensors`` (mapped by :mod:`.flair_hub`), and our own self-describing checkpoints (weights plus a
:class:`~.model_spec.ModelSpec`). Always ``weights_only=True``; safetensors never run code.
"""

from __future__ import annotations

import functools
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import FlairError
from .files import publish, remove_stale_temporaries, temporary_file
from .flair_hub import is_flair_hub_file, read_flair_hub_file, to_smp_layout
from .model_spec import ModelSpec, build_model

FORMAT = "flair-qgis-checkpoint"
FORMAT_VERSION = 1
KNOWN_PREFIXES = ("model.seg_model.", "seg_model.", "model.", "net.", "module.")
GUESS_ARCHS = ("unet", "fpn", "deeplabv3", "deeplabv3plus", "unetplusplus", "linknet", "pspnet", "pan", "manet")
GUESS_ENCODERS = ("resnet34", "resnet18", "resnet50", "resnet101", "efficientnet-b0", "mobilenet_v2")


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Checkpoint:
    """The weights of a checkpoint file (keys as smp names them) and its own spec, if it has one.

    ``class_weights`` is the file's loss weights, one per class and 0 for the classes not trained, when it
    has them: ``criterion.weight`` of FLAIR-1/IGNF files, ``criterion.<task>.weight`` of FLAIR-HUB ones
    (``extra['layout']`` is ``flair-hub`` for those).
    """

    path: Path
    state_dict: dict[str, torch.Tensor]
    spec: ModelSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    class_weights: tuple[float, ...] | None = None

    @property
    def in_channels(self) -> int | None:
        first = next((t for t in self.state_dict.values() if t.ndim == 4), None)
        return None if first is None else int(first.shape[1])

    @property
    def n_classes(self) -> int | None:
        w = self.state_dict.get("segmentation_head.0.weight")
        return None if w is None else int(w.shape[0])


def read_checkpoint(path: Path | str) -> Checkpoint:
    """Load a checkpoint file safely (``weights_only=True``) and normalise its keys."""
    path = Path(path)
    if not path.is_file():
        raise FlairError(f"checkpoint {path} does not exist: check the path, or leave the checkpoint empty "
                         "to use the zoo model")
    if is_flair_hub_file(path):
        return read_flair_hub_checkpoint(path)
    try:
        # a damaged file may start like an unknown pickle protocol: torch warns, then fails (our error says it)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(e))
        if blocked is None:  # not a pickle of weights at all: garbage, text, a plain pickle
            raise FlairError(f"checkpoint {path} is corrupt, truncated or not a PyTorch file: the safe "
                             f"loader cannot read it ({_unpickling_reason(e)}); nothing in it was run. "
                             f"{_REFETCH}") from None
        raise FlairError(
            f"checkpoint {path} was refused: it holds pickled Python code or objects "
            f"({blocked.group(1)}), not only weights, and was not run (torch.load weights_only=True). "
            "Only load files you trust; re-save the state_dict alone"
        ) from None
    except Exception as e:  # torch.load fails in many ways on a damaged file (KeyError, EOFError, ...)
        raise FlairError(f"checkpoint {path} is corrupt, truncated or not a PyTorch file "
                         f"({type(e).__name__}: {e}). {_REFETCH}") from None
    if not isinstance(raw, dict):
        raise FlairError(f"checkpoint {path} holds a {type(raw).__name__}, not a dict of weights")
    spec = None
    extra: dict[str, Any] = {}
    if raw.get("format") == FORMAT:
        spec = ModelSpec.from_dict(raw.get("spec", {}))
        extra = {k: v for k, v in raw.items() if k not in {"format", "version", "spec", "state_dict"}}
        raw = raw.get("state_dict", {})
    elif isinstance(raw.get("state_dict"), dict):  # Lightning .ckpt
        raw = raw["state_dict"]
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise FlairError(f"checkpoint {path} holds no weights")
    return Checkpoint(path, strip_prefix(tensors), spec, extra, _criterion_weight(tensors))


def read_flair_hub_checkpoint(path: Path) -> Checkpoint:
    """A FLAIR-HUB ``.safetensors`` file as a checkpoint in plain-model keys, with its loss's class weights."""
    state_dict, weights = to_smp_layout(read_flair_hub_file(path), f"checkpoint {path}")
    # The file's order is by name: put the encoder's stem first (Checkpoint.in_channels reads it there).
    stems = ("encoder.model.patch_embed.proj.weight", "encoder.model.stem_0.weight", "encoder.model.stem.0.weight")
    ordered = {k: state_dict[k] for k in stems if k in state_dict}
    ordered.update(state_dict)
    return Checkpoint(Path(path), ordered, None, {"layout": "flair-hub"},
                      None if weights is None else tuple(weights))


def _criterion_weight(tensors: dict[str, torch.Tensor]) -> tuple[float, ...] | None:
    """The loss's per-class weights FLAIR-1 saves with the model (``[model.]criterion.weight``)."""
    weight = next((t for k, t in tensors.items() if k.split(".")[-2:] == ["criterion", "weight"]), None)
    return None if weight is None or weight.ndim != 1 else tuple(float(w) for w in weight)


_REFETCH = ("Download or copy the file again (an interrupted copy leaves it truncated), or choose the "
            "right file: a .pth/.ckpt/.pt of model weights")


def _unpickling_reason(e: pickle.UnpicklingError) -> str:
    """The line of torch's long safe-loading message that says what stopped it."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("Unsupported")), lines[0] if lines else "")


def strip_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys as smp names them: drop IGN's ``model.seg_model.`` (or a Lightning/DDP) prefix and
    the entries outside the network (``criterion.weight``), as IGN's loader does."""
    for prefix in KNOWN_PREFIXES:
        if any(k.startswith(prefix) and "segmentation_head" in k for k in state_dict):
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return {k: v for k, v in state_dict.items() if not k.startswith("criterion.")}


# --- matching weights to a model -------------------------------------------------------------

def load_weights(ckpt: Checkpoint, spec: ModelSpec, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Build ``spec``'s model and load ``ckpt`` into it strictly.

    A mismatch of input channels, classes or architecture raises a :class:`FlairError` saying
    what was expected and what the file holds.
    """
    where = f"checkpoint {ckpt.path.name}"
    if ckpt.in_channels is not None and ckpt.in_channels != spec.in_channels:
        raise FlairError(f"{where} takes {ckpt.in_channels} input bands, but the model expects "
                         f"{spec.in_channels} ({', '.join(spec.bands)}); pick the matching model or file")
    if ckpt.n_classes is not None and ckpt.n_classes != spec.n_classes:
        raise FlairError(f"{where} predicts {ckpt.n_classes} classes, but the model expects "
                         f"{spec.n_classes}; pick the matching model, or set n_classes to {ckpt.n_classes} in a "
                         "flair-detect configuration")
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes)
    try:
        model.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as e:
        found = guess_flair_hub_model(ckpt) if ckpt.extra.get("layout") == "flair-hub" else guess_architecture(
            ckpt, also=spec.encoder)
        looks = f"it looks like {found[0]}/{found[1]}" if found else "its layers match no known smp architecture"
        fix = _architecture_advice(found, ckpt) if found else \
            ("use the weights of a whole segmentation model (a zoo model's file, or a checkpoint written by "
             "this plugin's training); for an smp model of another architecture, name it in a flair-detect "
             "configuration (model_name, encoder_name) and run `python -m flair_qgis detect --conf`")
        detail = str(e).split("\n\t", 2)
        raise FlairError(f"{where} does not fit a {spec.arch}/{spec.encoder} model: {looks} "
                         f"({'; '.join(d.strip()[:200] for d in detail[1:]) or detail[0][:200]}): {fix}") from None
    return model.to(device).eval()


def _architecture_advice(found: tuple[str, str], ckpt: Checkpoint) -> str:
    """How to run a file of architecture ``found``, naming only settings every caller has: the zoo
    model of that architecture, else a flair-detect configuration (the one place an architecture is given)."""
    from .zoo import ZOO

    owners = [e.name for e in ZOO.values() if (e.arch, e.encoder) == found and len(e.bands) == ckpt.in_channels]
    if owners:
        return (f"choose the zoo model it belongs to ({' or '.join(owners)}) as the model, with this file as "
                "the checkpoint")
    return (f"no zoo model has that architecture: describe it in a flair-detect configuration (model_name "
            f"{found[0]}, encoder_name {found[1]}) and run that with `python -m flair_qgis detect --conf`")


def same_layers(ckpt: Checkpoint, arch: str, encoder: str) -> bool:
    """Whether ``ckpt`` holds exactly the layers of an ``arch``/``encoder`` model (built on the meta
    device: no weights are made; an encoder that cannot be built there never matches)."""
    if ckpt.in_channels is None:
        return False
    wanted = {k: tuple(v.shape) for k, v in ckpt.state_dict.items()}
    return _shapes(arch, encoder, ckpt.in_channels, ckpt.n_classes or 19, cpu_fallback=False) == wanted


@functools.lru_cache(maxsize=32)  # a model's shapes do not change: recognising files builds each one once
def _shapes(arch: str, encoder: str, in_ch: int, n_cls: int,
            cpu_fallback: bool = True) -> dict[str, tuple[int, ...]] | None:
    try:
        try:
            model = build_model(arch, encoder, in_ch, n_cls, device="meta")
        except RuntimeError:  # some encoders cannot be built on the meta device
            if not cpu_fallback:
                return None
            model = build_model(arch, encoder, in_ch, n_cls)
    except Exception:  # noqa: BLE001 - a combination smp cannot build is simply not a candidate
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def guess_architecture(ckpt: Checkpoint, also: str | None = None) -> tuple[str, str] | None:
    """The (arch, encoder) among common smp models whose layers match the checkpoint exactly.

    ``also`` is one more encoder to try first (the expected model's own): only where it builds on
    the meta device, so that a large encoder (mit_b5) never builds nine models for a guess.
    """
    if ckpt.in_channels is None or ckpt.n_classes is None:
        return None
    wanted = {k: tuple(v.shape) for k, v in ckpt.state_dict.items()}
    extra = also if also and also not in GUESS_ENCODERS else None
    for encoder in ([extra] if extra else []) + list(GUESS_ENCODERS):
        for arch in GUESS_ARCHS:
            if _shapes(arch, encoder, ckpt.in_channels, ckpt.n_classes, cpu_fallback=encoder != extra) == wanted:
                return arch, encoder
    return None


def guess_flair_hub_model(ckpt: Checkpoint) -> tuple[str, str] | None:
    """The (arch, encoder) of the zoo's FLAIR-HUB models whose layers match the checkpoint exactly."""
    from .zoo import ZOO

    wanted = {k: tuple(v.shape) for k, v in ckpt.state_dict.items()}
    for arch, encoder in dict.fromkeys((e.arch, e.encoder) for e in ZOO.values() if e.grid == "flair-hub"):
        if _shapes(arch, encoder, ckpt.in_channels or 3, ckpt.n_classes or 19, cpu_fallback=False) == wanted:
            return arch, encoder
    return None


# --- writing ---------------------------------------------------------------------------------

def save_checkpoint(path: Path | str, model: torch.nn.Module, spec: ModelSpec, **extra: Any) -> Path:
    """Write our self-describing checkpoint atomically: weights, spec and any ``extra`` items
    (plain Python data and tensors only, so it loads with ``weights_only=True``)."""
    path = Path(path)
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "spec": spec.as_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = temporary_file(path)
    except OSError as e:
        raise FlairError(f"cannot write checkpoint {path} ({e.strerror or e}): choose a folder you can "
                         "write to") from None
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
        publish(tmp, path)
    except (OSError, RuntimeError) as e:  # torch reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise FlairError(f"saving checkpoint {path} failed ({e}): the disk may be full; free some space "
                         f"and run again. The previous {path.name}, if any, is unchanged") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
