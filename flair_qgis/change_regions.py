"""Changed regions too small to count (misregistration slivers between two campaigns)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rasterio.features import rasterize, shapes


def _ring_area(ring: Sequence[Sequence[float]]) -> float:
    xy = np.asarray(ring, dtype=np.float64)
    return 0.5 * abs(float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1])))


def small_regions(changed: np.ndarray, min_pixels: int, cut: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Pixels of the 4-connected regions of ``changed`` smaller than ``min_pixels``.

    ``cut`` (top, bottom, left, right): which edges of the array cut the raster; a region touching
    such an edge may go on beyond it and is never counted as small.
    """
    if min_pixels <= 1 or not changed.any():
        return np.zeros(changed.shape, dtype=bool)
    height, width = changed.shape
    small = []
    for geometry, _ in shapes(changed.astype(np.uint8), mask=changed, connectivity=4):
        rings = geometry["coordinates"]
        area = _ring_area(rings[0]) - sum(_ring_area(r) for r in rings[1:])
        if area >= min_pixels:
            continue
        xs = [x for x, _ in rings[0]]
        ys = [y for _, y in rings[0]]
        if (cut[0] and min(ys) == 0) or (cut[1] and max(ys) == height) or (cut[2] and min(xs) == 0) or \
                (cut[3] and max(xs) == width):
            continue
        small.append(geometry)
    if not small:
        return np.zeros(changed.shape, dtype=bool)
    from affine import Affine

    return rasterize(small, out_shape=changed.shape, transform=Affine.identity(), fill=0, default_value=1,
                     dtype=np.uint8).astype(bool)
