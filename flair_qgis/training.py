"""Train, fine-tune or resume a FLAIR (smp) model on the user's patches.

The options and classes are in ``train_options``, the epochs in ``training_loop``, measuring a
model on patches in ``evaluation``; their public names are importable from here too.

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
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch

from .checkpoints import Checkpoint, read_checkpoint
from .model_spec import ModelSpec, build_model
from .errors import FlairError
from .evaluation import PatchEvaluation, checked_pairs, evaluate_patches, validate
from .normalisation import FLAIR_MEANS, Normalisation
from .labels import IGNORE, label_lookup
from .patch_files import Pair, split_pairs
from .patches import PatchDataset
from .progress import Progress
from .score_reports import fmt
from .train_options import (DEFAULT_LR, TrainClass, TrainOptions, TrainResult, check_options, default_classes,
                            make_classes, options_from_dict, options_to_dict)
from .training_loop import Run, State, make_optimizer, make_scheduler, restore
from .zoo import RGBIE

__all__ = ["PatchEvaluation", "TrainClass", "TrainOptions", "TrainResult", "default_classes", "evaluate_patches",
           "make_classes", "options_from_dict", "options_to_dict", "train", "validate"]


def train(options: TrainOptions, progress: Progress | None = None) -> TrainResult:
    """Train as ``options`` say; see the module's docstring."""
    progress = progress or Progress()
    started = time.perf_counter()
    resume_ckpt = None
    if options.resume is not None:
        resume_ckpt, options = _resumed(options, progress)
    check_options(options)
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
    optimizer = make_optimizer(options, model, lr)
    scheduler = make_scheduler(options, optimizer, lr)
    state = State()
    if resume_ckpt is not None:
        state = restore(resume_ckpt, optimizer, scheduler)
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
    run = Run(options, spec, model, criterion, optimizer, scheduler, train_ds, val_ds, device, paths,
               progress, classes)
    stopped = run.loop(state)
    if not options.save_last and paths["last.pt"].exists():
        paths["last.pt"].unlink()
    best_scores = run.best_scores or run.scores_of(read_checkpoint(paths["best.pt"]).extra.get("training", {}))
    warnings = [f"at the best epoch ({state.best_epoch}) {w}" for w in best_scores.warnings]
    for w in warnings:
        progress.warn(w)
    seconds = time.perf_counter() - started
    progress.log(f"Best epoch {state.best_epoch}: validation mIoU {fmt(best_scores.miou)}; "
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
        from .hf_download import fetch
        from .zoo import get_entry

        entry = get_entry(options.init_model)
        progress.log(f"Fine-tuning zoo model {entry.name}")
        return in_code_order(read_checkpoint(fetch(entry, progress)), entry.spec)
    if options.init_checkpoint:
        ckpt = read_checkpoint(options.init_checkpoint)
        progress.log(f"Starting from the weights of {Path(options.init_checkpoint).name}")
        if ckpt.spec is not None:
            return ckpt, ckpt.spec
        if ckpt.extra.get("layout") == "flair-hub":
            return in_code_order(ckpt, _hub_spec(Path(options.init_checkpoint)))
        from .model_resolution import bare_spec

        return ckpt, bare_spec(ckpt, arch=options.arch, encoder=options.encoder)
    return None, None


def _hub_spec(path: Path) -> ModelSpec:
    """The spec of a local FLAIR-HUB file, from the zoo entry its file name belongs to."""
    from .zoo import entry_for_file

    entry = entry_for_file(path)
    if entry is None:
        raise FlairError(f"{path.name} is a FLAIR-HUB file of no known model: keep its hub name "
                         "(FLAIR-HUB_LC-A_<model>.safetensors), or give the zoo model as the starting model")
    return entry.spec


def in_code_order(ckpt: Checkpoint, spec: ModelSpec) -> tuple[Checkpoint, ModelSpec]:
    """``ckpt`` and ``spec`` with the head's channels reordered by FLAIR code (channel i = the i-th
    smallest code), the order training uses: fine-tuning a FLAIR-HUB model then starts from its own
    predictions. Unchanged when the channels are already in code order."""
    order = sorted(range(spec.n_classes), key=lambda i: spec.classes[i].code)
    if order == list(range(spec.n_classes)):
        return ckpt, spec
    index = torch.tensor(order, dtype=torch.long)
    state = dict(ckpt.state_dict)
    for key in ("segmentation_head.0.weight", "segmentation_head.0.bias"):
        if key in state and state[key].shape[0] == spec.n_classes:
            state[key] = state[key][index].clone()
    weights = ckpt.class_weights
    return replace(ckpt, state_dict=state, class_weights=tuple(weights[i] for i in order) if weights else weights), \
        replace(spec, classes=tuple(spec.classes[i] for i in order), active=tuple(spec.active[i] for i in order))


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
    found = checked_pairs(options.train, bands, codes, progress, "training")
    if options.val:
        train_pairs = found.pairs
        val = checked_pairs(options.val, bands, codes, progress, "validation")
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
