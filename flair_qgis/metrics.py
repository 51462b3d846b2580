"""Segmentation scores from a confusion matrix, and class rasters evaluated against a reference.

The confusion matrix is counted with torchmetrics (rows: reference, columns: prediction). From it:
per-class IoU, F1, precision and recall, their mean IoU (mIoU) and the overall accuracy (OA).
Nodata pixels (in either raster) and pixels of ignored classes in the reference are left out;
predictions of a code that is not an evaluated class count as errors (an "other" column). A class
with no pixel in the reference nor in the prediction has no IoU (``None``) and is left out of the
mIoU; one present in the reference but never predicted right has IoU 0 and triggers a warning.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from rasterio.windows import Window

from . import raster_io
from .class_codes import AUTO, ClassCodes, resolve
from .errors import FlairError
from .grids import aligned_windows
from .palette import ClassInfo, palette
from .patches import IGNORE, label_lookup
from .progress import Progress

OTHER = "other codes"
BLOCK_ROWS = 512


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """The n×n confusion matrix (int64) of class indices; ``IGNORE`` targets are skipped."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    pred, target = pred.reshape(-1), target.reshape(-1)
    if pred.numel() == 0:
        return torch.zeros((n, n), dtype=torch.int64)
    return multiclass_confusion_matrix(pred, target, num_classes=n, ignore_index=IGNORE,
                                       validate_args=False).to(torch.int64)


@dataclass
class ClassScore:
    code: int
    name: str
    iou: float | None
    f1: float | None
    precision: float | None
    recall: float | None
    reference_pixels: int
    predicted_pixels: int

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "iou": self.iou, "f1": self.f1,
                "precision": self.precision, "recall": self.recall,
                "reference_pixels": self.reference_pixels, "predicted_pixels": self.predicted_pixels}


@dataclass
class Scores:
    """Scores of the evaluated classes; ``matrix`` has their rows and ``columns`` (the evaluated
    classes, plus "other codes" when other codes were predicted)."""

    classes: list[ClassScore]
    miou: float | None
    oa: float | None
    pixels: int
    matrix: list[list[int]]
    rows: list[str]
    columns: list[str]
    warnings: list[str] = field(default_factory=list)

    def iou_of(self, code: int) -> float | None:
        return next(c.iou for c in self.classes if c.code == code)

    def never_predicted(self) -> list[ClassScore]:
        """Classes present in the reference that got IoU 0."""
        return [c for c in self.classes if c.reference_pixels > 0 and c.iou == 0]

    def as_dict(self) -> dict[str, Any]:
        return {"miou": self.miou, "overall_accuracy": self.oa, "pixels": self.pixels,
                "classes": [c.as_dict() for c in self.classes],
                "confusion_matrix": {"rows": self.rows, "columns": self.columns, "counts": self.matrix,
                                     "note": "rows: reference, columns: prediction, pixels"},
                "warnings": self.warnings}


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def scores_from_confusion(cm: np.ndarray | torch.Tensor, classes: Sequence[ClassInfo],
                          active: Sequence[bool] | None = None) -> Scores:
    """Scores of the ``active`` classes from a confusion matrix over ``classes`` (and optionally
    one more, last, index for predictions outside them). Rows of inactive classes are not counted."""
    cm = np.asarray(cm, dtype=np.int64)
    k = len(classes)
    active = list(active) if active is not None else [True] * k
    if cm.shape[0] not in (k, k + 1) or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix of {cm.shape} does not fit {k} classes")
    keep = [i for i in range(k) if active[i]]
    counted = cm[keep]  # reference rows of the evaluated classes only
    total = int(counted.sum())
    per_class = []
    for row, i in enumerate(keep):
        tp = int(cm[i, i])
        ref = int(counted[row].sum())
        pred = int(counted[:, i].sum())
        fp, fn = pred - tp, ref - tp
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_class.append(ClassScore(classes[i].code, classes[i].name, _ratio(tp, tp + fp + fn),
                                    _ratio(2 * tp, 2 * tp + fp + fn), precision, recall, ref, pred))
    ious = [c.iou for c in per_class if c.iou is not None]
    other = counted[:, [j for j in range(cm.shape[1]) if j not in keep]].sum(axis=1)
    matrix = counted[:, keep]
    columns = [classes[i].name for i in keep]
    if other.any():
        matrix = np.concatenate([matrix, other[:, None]], axis=1)
        columns.append(OTHER)
    scores = Scores(per_class, float(np.mean(ious)) if ious else None,
                    _ratio(sum(int(cm[i, i]) for i in keep), total), total, matrix.tolist(),
                    [classes[i].name for i in keep], columns)
    for c in scores.never_predicted():
        scores.warnings.append(f"class {c.code} '{c.name}' has {c.reference_pixels} reference pixels but "
                               "IoU 0: it was never predicted where it is")
    return scores


# --- writing ---------------------------------------------------------------------------------

def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path | str, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_table(path: Path | str, scores: Scores) -> Path:
    """Per-class scores as CSV, then a row with the mIoU and the OA."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["code", "name", "iou", "f1", "precision", "recall", "reference_pixels", "predicted_pixels"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(fields)
        for c in scores.classes:
            out.writerow([_cell(v) for v in c.as_dict().values()])
        out.writerow(["", "mIoU", _cell(scores.miou), "", "", "", scores.pixels, ""])
        out.writerow(["", "overall accuracy", _cell(scores.oa), "", "", "", scores.pixels, ""])
    return path


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return round(value, 6) if isinstance(value, float) else value


def write_reports(scores: Scores, json_path: Path | str | None = None, csv_path: Path | str | None = None,
                  png_path: Path | str | None = None, about: dict[str, Any] | None = None) -> None:
    """The scores as JSON (with ``about``: what was evaluated), CSV and a row-normalised heat map."""
    if json_path:
        write_json(json_path, {**(about or {}), **scores.as_dict()})
    if csv_path:
        write_table(csv_path, scores)
    if png_path:
        from .plots import heatmap_png

        Path(png_path).parent.mkdir(parents=True, exist_ok=True)
        heatmap_png(np.array(scores.matrix, dtype=np.int64).reshape(len(scores.rows), len(scores.columns)),
                    scores.rows, scores.columns, png_path)


# --- a class raster against a reference ------------------------------------------------------

@dataclass
class RasterEvaluation:
    """Evaluate class raster ``prediction`` against ``reference`` (class codes in band 1 of each).

    ``classes``: the evaluated classes (default: those recorded in the prediction by
    ``flair:segment``, else in the reference, else FLAIR's 19); ``ignored``: codes left out.
    ``codes``: how both rasters' values are read (``auto``: decided per raster, see ``class_codes``);
    0-based maps are read as FLAIR codes, so classes and scores are always in FLAIR codes.
    The rasters must be on the same grid, or on aligned grids (then their overlap is evaluated).
    """

    prediction: Path
    reference: Path
    classes: tuple[ClassInfo, ...] | None = None
    ignored: tuple[int, ...] = ()
    json_path: Path | None = None
    csv_path: Path | None = None
    png_path: Path | None = None
    codes: str = AUTO


def evaluate_rasters(options: RasterEvaluation, progress: Progress | None = None) -> Scores:
    progress = progress or Progress()
    classes = options.classes or _recorded_classes(options.prediction) or _recorded_classes(options.reference) \
        or palette("flair-19")
    codes = [c.code for c in classes]
    if len(set(codes)) != len(codes):
        raise FlairError(f"class codes must be unique, got {codes}")
    k = len(classes)
    ref_lut = label_lookup(codes, options.ignored)
    pred_lut = label_lookup(codes)
    pred_lut[pred_lut == IGNORE] = k  # predicted codes outside the classes: the "other" column
    cm = torch.zeros((k + 1, k + 1), dtype=torch.int64)
    unlisted: Counter = Counter()
    pred_codes = resolve(options.prediction, options.codes, progress.log)
    ref_codes = resolve(options.reference, options.codes, progress.log)
    with raster_io.open_raster(options.prediction) as pred, raster_io.open_raster(options.reference) as ref:
        wp, wr = aligned_windows(pred, ref)
        if (wp.width, wp.height) != (pred.width, pred.height) or (wr.width, wr.height) != (ref.width, ref.height):
            progress.log(f"The rasters overlap on {wp.width}×{wp.height} px: evaluating there")
        for top in range(0, wp.height, BLOCK_ROWS):
            progress.check()
            rows = min(BLOCK_ROWS, wp.height - top)
            p, p_ok = _read(pred, Window(wp.col_off, wp.row_off + top, wp.width, rows), pred_codes)
            r, r_ok = _read(ref, Window(wr.col_off, wr.row_off + top, wr.width, rows), ref_codes)
            valid = p_ok & r_ok
            r_idx = _lookup(r, ref_lut, IGNORE)
            outside = valid & (r_idx == IGNORE) & ~np.isin(r, list(options.ignored))
            if outside.any():
                values, counts = np.unique(r[outside], return_counts=True)
                unlisted.update(dict(zip(values.tolist(), counts.tolist())))
            r_idx[~valid] = IGNORE
            cm += confusion(torch.from_numpy(_lookup(p, pred_lut, k)), torch.from_numpy(r_idx), k + 1)
            progress.fraction((top + rows) / wp.height)
    active = [c.code not in set(options.ignored) for c in classes] + [False]
    scores = scores_from_confusion(cm.numpy(), list(classes) + [ClassInfo(-1, OTHER, "#000000")], active)
    if unlisted:
        listed = ", ".join(f"{v} ({n} px)" for v, n in sorted(unlisted.items()))
        scores.warnings.insert(0, f"reference pixels with codes outside the evaluated classes were left out: "
                                  f"{listed}; set the reference's nodata value or list these classes")
    for w in scores.warnings:
        progress.warn(w)
    if scores.pixels == 0:
        raise FlairError(f"no pixel of {options.reference} can be evaluated: every one is nodata, ignored "
                         "or outside the classes")
    write_reports(scores, options.json_path, options.csv_path, options.png_path,
                  about={"prediction": str(options.prediction), "reference": str(options.reference),
                         "ignored_codes": list(options.ignored),
                         "class_values": {"prediction": pred_codes.convention, "reference": ref_codes.convention}})
    return scores


def _read(src, window: Window, codes: ClassCodes) -> tuple[np.ndarray, np.ndarray]:
    """Band 1 over ``window`` as FLAIR codes, and where it has data."""
    values = codes.read(src, window)
    return values, values != 0


def _lookup(values: np.ndarray, lut: np.ndarray, default: int) -> np.ndarray:
    out = np.full(values.shape, default, dtype=np.int64)
    inside = (values >= 0) & (values < len(lut))
    out[inside] = lut[values[inside].astype(np.int64)]
    return out


def _recorded_classes(path: Path) -> tuple[ClassInfo, ...] | None:
    from .styling import classes_of

    try:
        return classes_of(path)
    except FlairError:
        return None


def fmt(value: float | None) -> str:
    """A score for a log line: 4 decimals, or ``n/a`` when there is none."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
