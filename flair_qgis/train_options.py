"""What a training run is asked: the classes to learn, the options, the result, and the options
as plain data (stored in checkpoints, so that a run can be resumed with its own settings)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

from .choices import MONITORS, OPTIMIZERS, SCHEDULERS, check_choice
from .errors import FlairError
from .metrics import Scores
from .normalisation import Normalisation
from .palette import ClassInfo, palette

DEFAULT_LR = {"adamw": 1e-3, "sgd": 0.02}
# Colours for classes declared without one (Tableau 10, then greys).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


@dataclass(frozen=True)
class TrainClass:
    """A class to learn: the code in the label rasters, its name, its loss weight (0: ignored,
    its pixels count neither in the loss nor in the metrics) and its ``#rrggbb`` colour."""

    code: int
    name: str
    weight: float = 1.0
    colour: str | None = None

    def info(self) -> ClassInfo:
        return ClassInfo(self.code, self.name, self.colour or "#808080")


def default_classes() -> tuple[TrainClass, ...]:
    """FLAIR's 19 classes, all weighted 1."""
    return tuple(TrainClass(c.code, c.name, 1.0, c.colour) for c in palette("flair-19"))


def make_classes(items: Sequence[Any]) -> tuple[TrainClass, ...]:
    """Classes from rows ``(code, name[, weight[, colour]])`` or :class:`TrainClass` es, checked;
    missing colours are filled from a qualitative palette."""
    out: list[TrainClass] = []
    for i, item in enumerate(items):
        if isinstance(item, TrainClass):
            c = item
        else:
            row = list(item)
            if len(row) < 2:
                raise FlairError(f"class {row} needs at least a code and a name")
            try:
                weight = float(row[2]) if len(row) > 2 and row[2] not in (None, "") else 1.0
                c = TrainClass(int(row[0]), str(row[1]), weight,
                               str(row[3]) if len(row) > 3 and row[3] not in (None, "") else None)
            except (TypeError, ValueError):
                raise FlairError(f"class {row}: the code must be an integer and the weight a number") from None
        if c.weight < 0 or math.isnan(c.weight):
            raise FlairError(f"class {c.code} '{c.name}': the weight must be 0 (ignored) or positive")
        colour = c.colour or COLOURS[i % len(COLOURS)]
        if not (len(colour) == 7 and colour.startswith("#")):
            raise FlairError(f"class {c.code} '{c.name}': colour {colour!r} is not #rrggbb")
        out.append(replace(c, colour=colour))
    codes = [c.code for c in out]
    if len(set(codes)) != len(codes):
        raise FlairError(f"class codes must be unique, got {codes}")
    if not any(c.weight > 0 for c in out):
        raise FlairError("every class has weight 0: at least one class must be learnt")
    return tuple(out)


@dataclass
class TrainOptions:
    """What to train on, from what, how, and where to write the results.

    ``train``/``val``: patch folders or FLAIR-1 CSV lists; without ``val``, a seeded random
    ``val_fraction`` of the training pairs is held out. ``bands``: 1-based image bands fed to the
    model (default the first ones); ``band_names``: their roles (default R, G, B, NIR, Elevation).
    Start from ``init_model`` (a zoo name), ``init_checkpoint`` (weights of any format we read), or
    from scratch with ``arch``/``encoder``; ``resume`` continues a run from its last checkpoint.
    ``learning_rate`` defaults to 1e-3 for AdamW and 0.02 (IGN's) for SGD. ``patience``: epochs
    without improvement of ``monitor`` before stopping early (0: never). ``crop_size``: random
    square crops of the patches for training (validation uses whole patches), centred near a pixel
    of a class drawn among those of the patch with ``balanced_crops``. ``tile_size`` and
    ``margin`` are written in the checkpoint for segmenting with it; by default the training patch
    (or crop) size and a quarter of it, so that the model sees tiles like those it learnt from.
    """

    train: list[Path]
    out_folder: Path
    name: str = "model"
    val: list[Path] = field(default_factory=list)
    val_fraction: float = 0.2
    classes: tuple[TrainClass, ...] | None = None
    bands: list[int] | None = None
    band_names: tuple[str, ...] | None = None
    normalisation: Normalisation | None = None
    arch: str = "unet"
    encoder: str = "resnet34"
    init_model: str | None = None
    init_checkpoint: Path | None = None
    resume: Path | None = None
    epochs: int = 20
    batch_size: int = 8
    learning_rate: float | None = None
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    use_class_weights: bool = True
    augment: bool = True
    crop_size: int | None = None
    balanced_crops: bool = True
    patience: int = 10
    monitor: str = "val_miou"
    seed: int = 2022
    device: str = "auto"
    save_last: bool = True
    resumable: bool = True
    tile_size: int | None = None
    margin: int | None = None


@dataclass
class TrainResult:
    best: Path
    last: Path | None
    metrics_csv: Path
    metrics_json: Path
    curves_png: Path
    confusion_png: Path
    train_csv: Path
    val_csv: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_scores: Scores
    stopped_early: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def best_miou(self) -> float | None:
        return self.best_scores.miou


# --- options as plain data (stored in checkpoints) -------------------------------------------

def options_to_dict(options: TrainOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(options):
        value = getattr(options, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif f.name in ("train", "val", "bands", "band_names"):
            value = None if value is None else [str(v) if isinstance(v, Path) else v for v in value]
        elif f.name == "classes":
            value = None if value is None else [[c.code, c.name, c.weight, c.colour] for c in value]
        elif f.name == "normalisation":
            value = None if value is None else value.as_dict()
        out[f.name] = value
    return out


def options_from_dict(data: dict[str, Any]) -> TrainOptions:
    known = {f.name for f in fields(TrainOptions)}
    d = {k: v for k, v in data.items() if k in known}
    for key in ("train", "val"):
        d[key] = [Path(p) for p in d.get(key) or []]
    for key in ("out_folder", "init_checkpoint", "resume"):
        if d.get(key):
            d[key] = Path(d[key])
    if d.get("classes"):
        d["classes"] = make_classes(d["classes"])
    if d.get("normalisation"):
        d["normalisation"] = Normalisation.from_dict(d["normalisation"])
    if d.get("band_names"):
        d["band_names"] = tuple(d["band_names"])
    return TrainOptions(**d)


def check_options(o: TrainOptions) -> None:
    """Refuse settings that cannot work, before any data or model is read."""
    check_choice("optimizer", o.optimizer, OPTIMIZERS)
    check_choice("scheduler", o.scheduler, SCHEDULERS)
    check_choice("monitor", o.monitor, MONITORS)
    if o.epochs < 1 or o.batch_size < 1:
        raise FlairError(f"epochs and batch size must be at least 1 (got {o.epochs}, {o.batch_size})")
    if o.learning_rate is not None and not o.learning_rate > 0:
        raise FlairError(f"the learning rate must be positive, got {o.learning_rate}")
    if o.crop_size is not None and (o.crop_size < 32 or o.crop_size % 32):
        raise FlairError(f"crop size {o.crop_size} must be a multiple of 32 (the encoder halves it 5 times)")
    if not o.name or any(ch in o.name for ch in "/\\"):
        raise FlairError(f"model name {o.name!r} must be a plain file name")
    if not o.train and o.resume is None:
        raise FlairError("no training patches given: choose a patch folder or a CSV list")
    if o.init_model and o.init_checkpoint:
        raise FlairError("start from a zoo model or from a checkpoint, not both")
