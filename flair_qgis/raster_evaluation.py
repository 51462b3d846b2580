"""A class raster evaluated against a reference raster, window by window.

Both rasters' values are read as FLAIR codes (see :mod:`.class_codes`) and their confusion matrix
(rows: reference, columns: prediction) is counted with ``numpy.bincount`` over the pairs of the
overlap's pixels; the scores come from :mod:`.metrics`. Nodata pixels (in either raster) and
pixels of ignored classes in the reference are left out; reference codes outside the evaluated
classes are left out with a warning; predicted codes outside them count in an "other" column.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from . import raster_io
from .class_codes import AUTO, ClassCodes, resolve
from .errors import FlairError
from .grids import aligned_windows
from .labels import IGNORE, label_lookup
from .metrics import OTHER, Scores, scores_from_confusion
from .palette import ClassInfo, palette
from .progress import Progress
from .score_reports import write_reports

BLOCK_ROWS = 512


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
    cm = np.zeros((k + 1, k + 1), dtype=np.int64)
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
            counted = valid & (r_idx != IGNORE)
            pairs = r_idx[counted] * (k + 1) + _lookup(p, pred_lut, k)[counted]
            cm += np.bincount(pairs, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
            progress.fraction((top + rows) / wp.height)
    active = [c.code not in set(options.ignored) for c in classes] + [False]
    scores = scores_from_confusion(cm, list(classes) + [ClassInfo(-1, OTHER, "#000000")], active)
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
