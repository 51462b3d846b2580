"""Label codes → class indices (the model head's channels): the lookup shared by training,
patch evaluation and raster evaluation. :data:`IGNORE` marks what the loss and the scores skip."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

IGNORE = -100  # label index the loss and the metrics skip (nodata, ignored classes)


def label_lookup(codes: Sequence[int], ignored: Iterable[int] = ()) -> np.ndarray:
    """Label value → class index (the head's channel), :data:`IGNORE` for ignored and unknown codes."""
    ignored = set(ignored)
    lut = np.full(max(max(codes), 0) + 1, IGNORE, dtype=np.int64)
    for index, code in enumerate(codes):
        if code >= 0 and code not in ignored:
            lut[code] = index
    return lut


def map_labels(labels: np.ndarray, lut: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Class indices for label codes (int64), :data:`IGNORE` for nodata and codes outside ``lut``."""
    out = np.full(labels.shape, IGNORE, dtype=np.int64)
    inside = (labels >= 0) & (labels < len(lut))
    if nodata is not None:
        inside &= labels != nodata
    out[inside] = lut[labels[inside].astype(np.int64)]
    return out
