"""Segmentation scores from a confusion matrix (rows: reference, columns: prediction).

From the matrix: per-class IoU, F1, precision and recall, their mean IoU (mIoU) and the overall
accuracy (OA). Predictions of a code that is not an evaluated class count as errors (an "other"
column). A class with no pixel in the reference nor in the prediction has no IoU (``None``) and is
left out of the mIoU; one present in the reference but never predicted right has IoU 0 and
triggers a warning. Counting the matrix is the caller's: :mod:`.raster_evaluation` (numpy) for
class rasters, :mod:`.evaluation` (torch) for a model on patches; :mod:`.score_reports` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .palette import ClassInfo

OTHER = "other codes"


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


def scores_from_confusion(cm: np.ndarray, classes: Sequence[ClassInfo],
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
