"""Train, fine-tune or resume a FLAIR (smp) model on the user's patches, and evaluate one on them.

patch folders → pairs (``patches``) → checked → train/validation split → model (from scratch, a zoo
model or a checkpoint; the head re-initialised when the class count differs) → epochs of seeded,
augmented batches → validation confusion matrix (``metrics``) → best and last checkpoints in our
self-describing format, per-epoch metrics (CSV, JSON), curves (PNG) and the split (FLAIR-1 CSVs).

Everything random comes from the seed: the initial weights, the split, each epoch's order and each
patch's crop and flips (from (seed, epoch, index)). The last checkpoint holds the optimiser,
scheduler, epoch, position in the epoch and RNG state, so a run resumed from it (after a cancel or
a crash) ends with the same weights and metrics as one that was never interrupted (on the CPU).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .checkpoints import Checkpoint, ModelSpec, build_model, load_weights, read_checkpoint, save_checkpoint
from .hub_models import in_code_order
from .errors import Cancelled, FlairError
from .metrics import Scores, confusion, scores_from_confusion, write_json, write_reports
from .normalisation import FLAIR_MEANS, Normalisation
from .palette import ClassInfo, palette
from .patches import IGNORE, Pair, PairSet, PatchDataset, check_pairs, find_pairs, label_lookup, split_pairs
from .progress import Progress
from .zoo import RGBIE

OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("cosine", "plateau", "none")
MONITORS = ("val_miou", "val_loss")
DEFAULT_LR = {"adamw": 1e-3, "sgd": 0.02}
# Colours for classes declared without one (Tableau 10, then greys).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
LOG_EVERY_S = 5.0


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


# --- the run ---------------------------------------------------------------------------------

@dataclass
class _State:
    """Where a run is: what the last checkpoint stores besides the weights."""

    epoch: int = 0          # the epoch under way (0-based)
    batch: int = 0          # batches of it already done
    loss_sum: float = 0.0   # weighted training loss summed over those batches
    weight_sum: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0


def _check_options(o: TrainOptions) -> None:
    if o.optimizer not in OPTIMIZERS:
        raise FlairError(f"unknown optimizer {o.optimizer!r}: use {' or '.join(OPTIMIZERS)}")
    if o.scheduler not in SCHEDULERS:
        raise FlairError(f"unknown scheduler {o.scheduler!r}: use one of {', '.join(SCHEDULERS)}")
    if o.monitor not in MONITORS:
        raise FlairError(f"unknown monitor {o.monitor!r}: use {' or '.join(MONITORS)}")
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


def train(options: TrainOptions, progress: Progress | None = None) -> TrainResult:
    """Train as ``options`` say; see the module's docstring."""
    progress = progress or Progress()
    started = time.perf_counter()
    resume_ckpt = None
    if options.resume is not None:
        resume_ckpt, options = _resumed(options, progress)
    _check_options(options)
    classes = make_classes(options.classes) if options.classes else default_classes()
    from .prediction import pick_device

    device = pick_device(options.device)
    base, base_spec = _starting_weights(options, resume_ckpt, progress)
    spec = _spec(options, classes, base_spec)
    bands = options.bands or list(range(1, spec.in_channels + 1))
    if len(bands) != spec.in_channels:
        raise FlairError(f"{len(bands)} band(s) {bands} are given but the model takes {spec.in_channels} "
                         f"({', '.join(spec.bands)})")
    spec.normalisation.check_bands(len(bands))
    train_pairs, val_pairs, size = _pairs(options, classes, bands, progress)
    crop = _crop(options, size)
    tile = options.tile_size or crop or (min(size) if size else 512)
    spec = replace(spec, resolution=_resolution(train_pairs[0], spec.resolution), tile_size=tile,
                   margin=tile // 4 if options.margin is None else options.margin)
    lut = label_lookup([c.code for c in classes], [c.code for c in classes if c.weight == 0])
    train_ds = PatchDataset(train_pairs, bands, spec.normalisation, lut, options.augment, crop, options.seed,
                            options.balanced_crops)
    val_ds = PatchDataset(val_pairs, bands, spec.normalisation, lut)
    progress.log(f"{len(train_pairs)} training and {len(val_pairs)} validation patches; "
                 f"{sum(c.weight > 0 for c in classes)} classes learnt; {spec.arch}/{spec.encoder} on {device}"
                 + (f"; random {crop}×{crop} crops" if crop else ""))

    torch.manual_seed(options.seed)
    model = _model(spec, base, device, progress)
    weights = torch.tensor([c.weight if options.use_class_weights else float(c.weight > 0) for c in classes],
                           dtype=torch.float32, device=device)
    criterion = torch.nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE, reduction="sum")
    lr = options.learning_rate or DEFAULT_LR[options.optimizer]
    optimizer = _optimizer(options, model, lr)
    scheduler = _scheduler(options, optimizer, lr)
    state = _State()
    if resume_ckpt is not None:
        state = _restore(resume_ckpt, optimizer, scheduler)
        if state.epoch >= options.epochs:
            raise FlairError(f"{options.resume} has already done {state.epoch} epochs: ask for more epochs "
                             "to go on training")
        progress.log(f"Resuming at epoch {state.epoch + 1}, batch {state.batch}")
    out = Path(options.out_folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"{options.name}_{k}" for k in ("best.pt", "last.pt", "metrics.csv", "metrics.json",
                                                      "curves.png", "confusion.png", "train.csv", "val.csv")}
    for key, pairs in (("train.csv", train_pairs), ("val.csv", val_pairs)):  # FLAIR-1 lists of the split
        with open(paths[key], "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([[str(p.image.resolve()), str(p.label.resolve())] for p in pairs])
    run = _Run(options, spec, model, criterion, optimizer, scheduler, train_ds, val_ds, device, paths,
               progress, classes)
    stopped = run.loop(state)
    if not options.save_last and paths["last.pt"].exists():
        paths["last.pt"].unlink()
    best_scores = run.best_scores or run.scores_of(read_checkpoint(paths["best.pt"]).extra.get("training", {}))
    warnings = [f"at the best epoch ({state.best_epoch}) {w}" for w in best_scores.warnings]
    for w in warnings:
        progress.warn(w)
    seconds = time.perf_counter() - started
    progress.log(f"Best epoch {state.best_epoch}: validation mIoU {_fmt(best_scores.miou)}; "
                 f"wrote {paths['best.pt']} in {seconds:.0f} s")
    return TrainResult(paths["best.pt"], paths["last.pt"] if options.save_last else None, paths["metrics.csv"],
                       paths["metrics.json"], paths["curves.png"], paths["confusion.png"], paths["train.csv"],
                       paths["val.csv"], state.history, state.best_epoch, best_scores, stopped, seconds, warnings)


def _resumed(given: TrainOptions, progress: Progress) -> tuple[Checkpoint, TrainOptions]:
    """The checkpoint to resume and the run's own options, with the given epochs, patience,
    device and outputs (and data sources, when given, in case they moved)."""
    ckpt = read_checkpoint(given.resume)  # type: ignore[arg-type]
    saved = ckpt.extra.get("training")
    if ckpt.spec is None or not isinstance(saved, dict) or "optimizer" not in saved:
        raise FlairError(f"{given.resume} cannot be resumed: it is not a resumable training checkpoint "
                         f"of this plugin (use the *_last.pt one; a *_best.pt file can start a new "
                         f"training instead, as the initial checkpoint)")
    options = options_from_dict(saved["options"])
    options = replace(options, epochs=given.epochs, patience=given.patience, device=given.device,
                      out_folder=given.out_folder, name=given.name, save_last=given.save_last,
                      resume=given.resume, train=given.train or options.train, val=given.val or options.val)
    progress.log(f"Resuming {Path(str(given.resume)).name} with its own settings (seed {options.seed}, "
                 f"{options.optimizer} lr {options.learning_rate or DEFAULT_LR[options.optimizer]:g}, "
                 f"batch {options.batch_size}) for up to {options.epochs} epochs")
    return ckpt, options


def _starting_weights(options: TrainOptions, resume: Checkpoint | None,
                      progress: Progress) -> tuple[Checkpoint | None, ModelSpec | None]:
    if resume is not None:
        return resume, resume.spec
    if options.init_model:
        from .checkpoints import spec_for_entry
        from .zoo import fetch, get_entry

        entry = get_entry(options.init_model)
        progress.log(f"Fine-tuning zoo model {entry.name}")
        return in_code_order(read_checkpoint(fetch(entry, progress)), spec_for_entry(entry))
    if options.init_checkpoint:
        ckpt = read_checkpoint(options.init_checkpoint)
        progress.log(f"Starting from the weights of {Path(options.init_checkpoint).name}")
        if ckpt.spec is not None:
            return ckpt, ckpt.spec
        if ckpt.extra.get("layout") == "flair-hub":
            return in_code_order(ckpt, _hub_spec(Path(options.init_checkpoint)))
        from .engine import SegmentOptions, bare_spec

        return ckpt, bare_spec(ckpt, SegmentOptions(input=Path(), output=Path(), arch=options.arch,
                                                    encoder=options.encoder))
    return None, None


def _hub_spec(path: Path) -> ModelSpec:
    """The spec of a local FLAIR-HUB file, from the zoo entry its file name belongs to."""
    from .checkpoints import spec_for_entry
    from .zoo import entry_for_file

    entry = entry_for_file(path)
    if entry is None:
        raise FlairError(f"{path.name} is a FLAIR-HUB file of no known model: keep its hub name "
                         "(FLAIR-HUB_LC-A_<model>.safetensors), or give the zoo model as the starting model")
    return spec_for_entry(entry)


def _spec(options: TrainOptions, classes: Sequence[TrainClass], base: ModelSpec | None) -> ModelSpec:
    """The trained model's spec: the base model's architecture and bands when fine-tuning."""
    if base is not None:
        arch, encoder, roles = base.arch, base.encoder, base.bands
        if options.band_names and tuple(options.band_names) != roles:
            raise FlairError(f"the starting model takes bands {', '.join(roles)}, not "
                             f"{', '.join(options.band_names)}")
    else:
        arch, encoder = options.arch, options.encoder
        n = len(options.bands) if options.bands else len(options.band_names or RGBIE[:3])
        roles = tuple(options.band_names) if options.band_names else (
            RGBIE[:n] if n <= len(RGBIE) else tuple(f"band {i + 1}" for i in range(n)))
        if len(roles) != n:
            raise FlairError(f"{n} band(s) are given but {len(roles)} band names ({', '.join(roles)})")
    norm = options.normalisation or (base.normalisation if base is not None else None)
    if norm is None:
        if not all(r in FLAIR_MEANS for r in roles):
            raise FlairError(f"bands {', '.join(roles)} have no FLAIR statistics: give the normalisation "
                             "(custom means and standard deviations, or scaling)")
        norm = Normalisation.for_bands(tuple(roles))
    return ModelSpec(arch=arch, encoder=encoder, bands=tuple(roles), classes=tuple(c.info() for c in classes),
                     active=tuple(c.weight > 0 for c in classes), normalisation=norm, name=options.name)


def _pairs(options: TrainOptions, classes: Sequence[TrainClass], bands: Sequence[int],
           progress: Progress) -> tuple[list[Pair], list[Pair], tuple[int, int] | None]:
    codes = [c.code for c in classes]
    found = _checked(options.train, bands, codes, progress, "training")
    if options.val:
        train_pairs = found.pairs
        val = _checked(options.val, bands, codes, progress, "validation")
        val_pairs = val.pairs
        overlap = {p.image.resolve() for p in train_pairs} & {p.image.resolve() for p in val_pairs}
        if overlap:
            raise FlairError(f"{len(overlap)} patch(es) are both in the training and the validation "
                             f"sets, e.g. {sorted(overlap)[0]}: validation must be held out")
        sizes = {found.size, val.size}
    else:
        train_pairs, val_pairs = split_pairs(found.pairs, options.val_fraction, options.seed)
        sizes = {found.size}
    for c in classes:
        if c.weight > 0 and not found.class_pixels.get(c.code):
            progress.warn(f"class {c.code} '{c.name}' has no pixel in the training patches: the model cannot "
                          "learn it (give it weight 0 to ignore it)")
    return train_pairs, val_pairs, found.size if len(sizes) == 1 else None


def _checked(sources: Sequence[Path], bands: Sequence[int], codes: Sequence[int], progress: Progress,
             what: str) -> PairSet:
    quiet = Progress(cancelled=progress.cancelled, log=progress.log, warn=progress.warn)  # no fraction
    found = check_pairs(find_pairs(sources), bands, codes, quiet)
    for problem in found.problems:
        if not problem.fatal:
            progress.warn(f"{what} patches: {problem}")
    found.raise_fatal()
    if not found.pairs:
        raise FlairError(f"no usable {what} pair is left: " + "; ".join(str(p) for p in found.problems))
    return found


def _resolution(pair: Pair, default: float) -> float:
    """The pixel size of the training images (metres, when their CRS is projected)."""
    from . import raster_io

    with raster_io.open_raster(pair.image) as src:
        if src.crs is not None and src.crs.is_projected:
            return round(abs(src.transform.a), 6)
    return default


def _crop(options: TrainOptions, size: tuple[int, int] | None) -> int | None:
    if options.crop_size is not None:
        if size is not None and options.crop_size > min(size):
            raise FlairError(f"crop size {options.crop_size} is larger than the {size[1]}×{size[0]} patches")
        return options.crop_size
    if size is None:
        raise FlairError("the patches do not all have the same size: set a crop size (a multiple of 32 "
                         "no larger than the smallest patch) so that they can be batched")
    if size[0] % 32 or size[1] % 32 or size[0] != size[1]:
        side = min(size) // 32 * 32
        if side < 32:
            raise FlairError(f"patches of {size[1]}×{size[0]} px are too small: at least 32 px are needed")
        return side
    return None


def _model(spec: ModelSpec, base: Checkpoint | None, device: torch.device, progress: Progress) -> torch.nn.Module:
    """The model to train: fresh, or ``base``'s weights where their shapes fit (the head is
    re-initialised when the class count differs)."""
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes)
    if base is not None:
        if base.in_channels is not None and base.in_channels != spec.in_channels:
            raise FlairError(f"the starting weights take {base.in_channels} bands but {spec.in_channels} are "
                             f"given: choose {base.in_channels} bands")
        own = model.state_dict()
        fitting = {k: v for k, v in base.state_dict.items() if k in own and own[k].shape == v.shape}
        missing = [k for k in own if k not in fitting]
        if len(fitting) < len(own) // 2:
            raise FlairError(f"the starting weights do not fit a {spec.arch}/{spec.encoder} model "
                             f"({len(fitting)} of {len(own)} tensors match)")
        model.load_state_dict(fitting, strict=not missing)
        if missing:
            head = all(k.startswith("segmentation_head.") for k in missing)
            what = f"the head for {spec.n_classes} classes" if head else ", ".join(missing[:4])
            progress.log(f"Re-initialised {what} (the starting model has {base.n_classes})")
    return model.to(device).train()


def _optimizer(options: TrainOptions, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    if options.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=options.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=options.weight_decay)


def _scheduler(options: TrainOptions, optimizer: torch.optim.Optimizer, lr: float):
    if options.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs, eta_min=lr * 0.01)
    if options.scheduler == "plateau":  # FLAIR-1's
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=10,
                                                          cooldown=4, min_lr=1e-7)
    return None


def _restore(ckpt: Checkpoint, optimizer, scheduler) -> _State:
    saved = ckpt.extra["training"]
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None and saved.get("scheduler") is not None:
        scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    return _State(**saved["state"])


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _Run:
    """The epochs of one training run."""

    def __init__(self, options, spec, model, criterion, optimizer, scheduler, train_ds, val_ds, device,
                 paths, progress, classes) -> None:
        self.o, self.spec, self.model, self.criterion = options, spec, model, criterion
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_ds, self.val_ds, self.device, self.paths = train_ds, val_ds, device, paths
        self.progress, self.classes = progress, classes
        self.inactive = torch.tensor([not a for a in spec.active], device=device)
        self.best_scores: Scores | None = None
        self.n_batches = math.ceil(len(train_ds) / options.batch_size)
        self.val_batches = len(val_ds)  # validation counts one unit per patch
        self.seconds = {"train": 0.0, "val": 0.0}  # time spent per unit of each kind, for the ETA
        self.units = {"train": 0, "val": 0}
        self.last_tick = time.perf_counter()
        self.last_log = 0.0

    # -- progress --
    def _tick(self, state: _State, kind: str, done: int, what: str) -> None:
        """One training batch or validation patch done (``done`` of them in this epoch)."""
        now = time.perf_counter()
        self.seconds[kind] += now - self.last_tick
        self.units[kind] += 1
        self.last_tick = now
        per_epoch = self.n_batches + self.val_batches
        epoch_units = done if kind == "train" else self.n_batches + done
        self.progress.fraction(min(1.0, (state.epoch * per_epoch + epoch_units) / (self.o.epochs * per_epoch)))
        if now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            epochs_after = self.o.epochs - state.epoch - 1
            left_train = epochs_after * self.n_batches + (self.n_batches - done if kind == "train" else 0)
            left_val = epochs_after * self.val_batches + self.val_batches - (done if kind == "val" else 0)
            per_batch = self.seconds["train"] / max(self.units["train"], 1)
            per_patch = (self.seconds["val"] / self.units["val"]) if self.units["val"] else \
                per_batch / self.o.batch_size
            eta = left_train * per_batch + left_val * per_patch
            self.progress.log(f"Epoch {state.epoch + 1}/{self.o.epochs}, {what}; ETA {_duration(eta)}")

    # -- the loop --
    def loop(self, state: _State) -> bool:
        self.last_tick = time.perf_counter()
        stopped = False
        while state.epoch < self.o.epochs:
            epoch_start = time.perf_counter()
            try:
                self._train_epoch(state)
                val_loss, cm = self._validate(state)
            except Cancelled:
                path = self._save_last(state)
                raise Cancelled(f"cancelled by the user at epoch {state.epoch + 1}, batch {state.batch}; "
                                f"resume the training from {path}") from None
            stopped = self._end_epoch(state, val_loss, cm, time.perf_counter() - epoch_start)
            if stopped:
                break
        return stopped

    def _order(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng([self.o.seed, epoch, 1]).permutation(len(self.train_ds)).tolist()
        b = self.o.batch_size
        return [order[i:i + b] for i in range(0, len(order), b)]

    def _batch(self, ds: PatchDataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        items = [ds[i] for i in indices]
        x = torch.stack([i[0] for i in items]).to(self.device)
        y = torch.stack([i[1] for i in items]).to(self.device)
        return x, y

    def _train_epoch(self, state: _State) -> None:
        self.model.train()
        self.train_ds.set_epoch(state.epoch)
        batches = self._order(state.epoch)
        for b in range(state.batch, len(batches)):
            self.progress.check()
            x, y = self._batch(self.train_ds, batches[b])
            weight = self.criterion.weight[y[y != IGNORE]].sum()
            if weight > 0:
                loss = self.criterion(self.model(x), y) / weight
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                state.loss_sum += float(loss.detach()) * float(weight)
                state.weight_sum += float(weight)
            state.batch = b + 1
            mean = state.loss_sum / state.weight_sum if state.weight_sum else float("nan")
            self._tick(state, "train", b + 1, f"batch {b + 1}/{len(batches)}, loss {mean:.4f}")

    @torch.inference_mode()
    def _validate(self, state: _State | None = None) -> tuple[float, torch.Tensor]:
        return validate(self.model, self.val_ds, self.criterion, self.inactive, self.o.batch_size, self.device,
                        self.progress, tick=None if state is None else
                        lambda i: self._tick(state, "val", i, f"validation {i}/{self.val_batches}"))

    def _end_epoch(self, state: _State, val_loss: float, cm: torch.Tensor, seconds: float) -> bool:
        scores = scores_from_confusion(cm.cpu().numpy(), self.spec.classes, self.spec.active)
        train_loss = state.loss_sum / state.weight_sum if state.weight_sum else float("nan")
        lr = self.optimizer.param_groups[0]["lr"]
        row = {"epoch": state.epoch + 1, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
               "val_miou": scores.miou, "val_oa": scores.oa, "seconds": round(seconds, 3)}
        row.update({f"iou_{c.code}": c.iou for c in scores.classes})
        state.history.append(row)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        elif self.scheduler is not None:
            self.scheduler.step()
        value = val_loss if self.o.monitor == "val_loss" else (scores.miou if scores.miou is not None else -1.0)
        better = state.best_value is None or (value < state.best_value if self.o.monitor == "val_loss"
                                              else value > state.best_value)
        if better:
            state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch + 1, 0
            self.best_scores = scores
            save_checkpoint(self.paths["best.pt"], self.model, self.spec,
                            training={"epoch": state.epoch + 1, "history": state.history,
                                      "scores": scores.as_dict(), "options": options_to_dict(self.o)})
            write_reports(scores, png_path=self.paths["confusion.png"])
        else:
            state.bad_epochs += 1
        self.progress.log(f"Epoch {state.epoch + 1}/{self.o.epochs}: training loss {train_loss:.4f}, validation "
                          f"loss {val_loss:.4f}, mIoU {_fmt(scores.miou)}, OA {_fmt(scores.oa)} "
                          f"({seconds:.1f} s){' — best so far' if better else ''}")
        zero = [f"{c.name}" for c in scores.never_predicted()]
        if zero:
            self.progress.log(f"  IoU 0 on validation for: {', '.join(zero)}")
        stop = bool(self.o.patience) and state.bad_epochs >= self.o.patience
        state.epoch, state.batch, state.loss_sum, state.weight_sum = state.epoch + 1, 0, 0.0, 0.0
        self._save_last(state)
        self._write_history(state)
        if stop:
            self.progress.log(f"Stopping early: no better {self.o.monitor} for {self.o.patience} epochs")
        return stop

    def _save_last(self, state: _State) -> Path:
        extra: dict[str, Any] = {"options": options_to_dict(self.o), "state": vars(state).copy()}
        if self.o.resumable:
            extra.update(optimizer=self.optimizer.state_dict(),
                         scheduler=None if self.scheduler is None else self.scheduler.state_dict(),
                         torch_rng=torch.get_rng_state())
        return save_checkpoint(self.paths["last.pt"], self.model, self.spec, training=extra)

    def _write_history(self, state: _State) -> None:
        from .plots import curves_png

        keys = list(dict.fromkeys(k for row in state.history for k in row))
        with open(self.paths["metrics.csv"], "w", newline="", encoding="utf-8") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            for row in state.history:
                out.writerow({k: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v
                              for k, v in row.items()})
        write_json(self.paths["metrics.json"], {
            "model": self.o.name, "best_epoch": state.best_epoch, "monitor": self.o.monitor,
            "best_value": state.best_value,
            "classes": [[c.code, c.name, c.weight, c.colour] for c in self.classes],
            "history": state.history,
            "best_scores": self.best_scores.as_dict() if self.best_scores else None})
        curves_png(state.history, self.paths["curves.png"], title=self.o.name)

    def scores_of(self, best: dict[str, Any]) -> Scores:
        """The best epoch's scores, from the best checkpoint (when the best epoch was before a resume)."""
        s = best.get("scores") or {}
        from .metrics import ClassScore

        classes = [ClassScore(**c) for c in s.get("classes", [])]
        m = s.get("confusion_matrix", {})
        return Scores(classes, s.get("miou"), s.get("overall_accuracy"), s.get("pixels", 0), m.get("counts", []),
                      m.get("rows", []), m.get("columns", []), s.get("warnings", []))


def _pad32(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % 32, -w % 32
    return torch.nn.functional.pad(x, (0, pw, 0, ph)) if ph or pw else x


def validate(model: torch.nn.Module, dataset: PatchDataset, criterion, inactive: torch.Tensor, batch_size: int,
             device: torch.device, progress: Progress, tick=None) -> tuple[float, torch.Tensor]:
    """Weighted loss and confusion matrix of ``model`` over whole patches (batched by size)."""
    model.eval()
    n = int(inactive.numel())
    cm = torch.zeros((n, n), dtype=torch.int64)
    loss_sum, weight_sum = 0.0, 0.0
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        nonlocal loss_sum, weight_sum, cm
        x = torch.stack([p[0] for p in pending]).to(device)
        y = torch.stack([p[1] for p in pending]).to(device)
        h, w = y.shape[-2:]
        logits = model(_pad32(x))[..., :h, :w].float()
        weight = criterion.weight[y[y != IGNORE]].sum()
        if weight > 0:
            loss_sum += float(criterion(logits, y))
            weight_sum += float(weight)
        pred = logits.masked_fill(inactive[None, :, None, None], float("-inf")).argmax(1)
        cm += confusion(pred.cpu(), y.cpu(), n)
        pending.clear()

    with torch.inference_mode():
        for i in range(len(dataset)):
            progress.check()
            item = dataset[i]
            if pending and (item[0].shape != pending[0][0].shape or len(pending) == batch_size):
                flush()
            pending.append(item)
            if tick is not None:
                tick(i + 1)
        if pending:
            flush()
    model.train()
    return (loss_sum / weight_sum if weight_sum else float("nan")), cm


# --- evaluating a model on patches -----------------------------------------------------------

@dataclass
class PatchEvaluation:
    """Evaluate ``checkpoint`` (or zoo ``model``) on the patches of ``sources`` (folders/CSVs)."""

    sources: list[Path]
    checkpoint: Path | None = None
    model: str | None = None
    bands: list[int] | None = None
    batch_size: int = 4
    device: str = "auto"
    json_path: Path | None = None
    csv_path: Path | None = None
    png_path: Path | None = None


def evaluate_patches(options: PatchEvaluation, progress: Progress | None = None) -> Scores:
    """Scores of a model on labelled patches (its inactive classes are ignored)."""
    from .engine import SegmentOptions, resolve_model
    from .prediction import pick_device

    progress = progress or Progress()
    device = pick_device(options.device)
    ckpt, spec = resolve_model(SegmentOptions(input=Path(), output=Path(), model=options.model,
                                              checkpoint=options.checkpoint), progress)
    model = load_weights(ckpt, spec, device)
    bands = options.bands or list(range(1, spec.in_channels + 1))
    codes = [c.code for c in spec.classes]
    found = _checked(options.sources, bands, codes, progress, "evaluation")
    lut = label_lookup(codes, [c.code for c, a in zip(spec.classes, spec.active) if not a])
    dataset = PatchDataset(found.pairs, bands, spec.normalisation, lut)
    inactive = torch.tensor([not a for a in spec.active], device=device)
    criterion = torch.nn.CrossEntropyLoss(weight=(~inactive).float(), ignore_index=IGNORE, reduction="sum")
    _, cm = validate(model, dataset, criterion, inactive, options.batch_size, device, progress,
                     tick=lambda i: progress.fraction(i / len(dataset)))
    scores = scores_from_confusion(cm.numpy(), spec.classes, spec.active)
    for w in scores.warnings:
        progress.warn(w)
    write_reports(scores, options.json_path, options.csv_path, options.png_path,
                  about={"model": str(options.checkpoint or options.model), "patches": len(found.pairs),
                         "sources": [str(s) for s in options.sources]})
    progress.log(f"{len(found.pairs)} patches: mIoU {_fmt(scores.miou)}, OA {_fmt(scores.oa)}")
    return scores
