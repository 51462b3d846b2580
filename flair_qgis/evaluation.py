"""Measuring a model on labelled patches: the loss and confusion matrix over whole patches
(:func:`validate`, also training's validation) and a checkpoint's scores (:func:`evaluate_patches`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .checkpoints import load_weights
from .errors import FlairError
from .labels import IGNORE, label_lookup
from .metrics import Scores, scores_from_confusion
from .patch_files import PairSet, check_pairs, find_pairs
from .patches import PatchDataset
from .progress import Progress
from .score_reports import fmt, write_reports


def checked_pairs(sources: Sequence[Path], bands: Sequence[int], codes: Sequence[int], progress: Progress,
                  what: str) -> PairSet:
    """The pairs of ``sources`` that can be used; warns about the others, raises if none is left."""
    quiet = Progress(cancelled=progress.cancelled, log=progress.log, warn=progress.warn)  # no fraction
    found = check_pairs(find_pairs(sources), bands, codes, quiet)
    for problem in found.problems:
        if not problem.fatal:
            progress.warn(f"{what} patches: {problem}")
    found.raise_fatal()
    if not found.pairs:
        raise FlairError(f"no usable {what} pair is left: " + "; ".join(str(p) for p in found.problems))
    return found


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """The n×n confusion matrix (int64) of class indices counted by torchmetrics; ``IGNORE``
    targets are skipped."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() == 0:
        return torch.zeros((n, n), dtype=torch.int64)
    return multiclass_confusion_matrix(pred, target, num_classes=n, ignore_index=IGNORE,
                                       validate_args=False).to(torch.int64)


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
    from .model_resolution import resolve_model
    from .prediction import pick_device

    progress = progress or Progress()
    device = pick_device(options.device)
    ckpt, spec = resolve_model(options.model, options.checkpoint, progress)
    model = load_weights(ckpt, spec, device)
    bands = options.bands or list(range(1, spec.in_channels + 1))
    codes = [c.code for c in spec.classes]
    found = checked_pairs(options.sources, bands, codes, progress, "evaluation")
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
    progress.log(f"{len(found.pairs)} patches: mIoU {fmt(scores.miou)}, OA {fmt(scores.oa)}")
    return scores
