"""Changed regions too small to count (misregistration slivers between two campaigns), found by
connected-component labelling of the change mask (``scipy.ndimage.label``, 4-neighbour) and one
``numpy.bincount`` of the labels: array speed, whatever the number of regions."""

from __future__ import annotations

import numpy as np

FOUR_NEIGHBOURS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def small_regions(changed: np.ndarray, min_pixels: int, cut: tuple[bool, bool, bool, bool],
                  inner: tuple[slice, slice] | None = None) -> np.ndarray:
    """Pixels of the 4-connected regions of ``changed`` smaller than ``min_pixels`` (over ``inner``
    only, when given: the block inside its halo).

    ``cut`` (top, bottom, left, right): which edges of the array cut the raster; a region touching
    such an edge may go on beyond it and is never counted as small.
    """
    inner = inner or (slice(None), slice(None))
    if min_pixels <= 1 or not changed.any():
        return np.zeros(changed[inner].shape, dtype=bool)
    from scipy import ndimage

    labels, count = ndimage.label(changed.view(np.uint8), structure=FOUR_NEIGHBOURS)  # uint8: ~15 % faster
    # sizes from the changed pixels' labels only (a few %): bincount would copy every label to int64
    small = np.bincount(labels[changed], minlength=count + 1) < min_pixels
    small[0] = False  # the unchanged pixels
    for edge, line in zip(cut, (labels[0], labels[-1], labels[:, 0], labels[:, -1])):
        if edge:
            small[line] = False
    inside, where = labels[inner], changed[inner]
    out = np.zeros(inside.shape, dtype=bool)
    out[where] = small[inside[where]]
    return out
