"""Blend stitching: every tile's class probabilities, weighted by a smooth window that fades to
almost nothing at its edges, are averaged wherever tiles overlap, instead of keeping each tile's
centre. Seamless, and each pixel uses every tile that saw it — at the cost of memory for the
running sums, bounded here by working in vertical stripes (tiles that straddle two stripes are
computed twice)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from rasterio.windows import Window

from . import raster_io
from .progress import Progress
from .tiling import Tile

STRIPE = 2048  # output columns summed at once: memory ≈ (tile + step) × STRIPE × classes × 8 bytes


def window_weights(size: int) -> np.ndarray:
    """A size×size Hann window: 1 at the centre, about 1e-5 at the edges, never 0."""
    w = np.sin(np.pi * (np.arange(size) + 0.5) / size) ** 2
    return np.outer(w, w).astype(np.float32)


def run(src, tiles: list[Tile], read_tile: Callable[[Tile], np.ndarray],
        probabilities: Callable[[np.ndarray], np.ndarray],
        active: np.ndarray, finish: Callable[[np.ndarray, Window], None], region: Window,
        batch_size: int, validity: raster_io.Validity, progress: Progress) -> int:
    """Blend ``tiles`` (the full grid) over ``region`` of ``src``; hand each finished band of rows
    to ``finish(probabilities (rows×cols×classes, zero for inactive classes), window)``.

    ``read_tile(tile)`` gives a tile's pixels; ``probabilities(tiles)`` maps N×bands×t×t pixels to
    N×t×t×classes float32."""
    size = tiles[0].size
    weights = window_weights(size)
    col0, row0 = int(region.col_off), int(region.row_off)
    col_end, row_end = col0 + int(region.width), row0 + int(region.height)
    computed = 0
    stripes = list(range(col0, col_end, STRIPE))
    for s, c0 in enumerate(stripes):
        c1 = min(c0 + STRIPE, col_end)
        mine = [t for t in tiles if t.col < c1 and t.col + size > c0 and t.row < row_end and t.row + size > row0]
        starts = sorted({t.row for t in mine})
        top = max(starts[0], row0)  # first row not yet finished
        sums = np.zeros((0, c1 - c0, int(active.sum())), np.float32)
        wsum = np.zeros((0, c1 - c0), np.float32)
        for j, r in enumerate(starts):
            bottom = min(r + size, row_end)
            grow = bottom - top - len(sums)
            if grow > 0:
                sums = np.concatenate([sums, np.zeros((grow,) + sums.shape[1:], np.float32)])
                wsum = np.concatenate([wsum, np.zeros((grow, c1 - c0), np.float32)])
            row_tiles = [t for t in mine if t.row == r]
            for i in range(0, len(row_tiles), batch_size):
                progress.check()
                batch = [t for t in row_tiles[i:i + batch_size] if _has_data(src, t, validity)]
                if not batch:
                    continue
                pixels = np.stack([read_tile(t) for t in batch])
                for t, p in zip(batch, probabilities(pixels)):
                    _accumulate(sums, wsum, t, p[..., active], weights, top, row_end, c0, c1)
                computed += len(batch)
            done = min(starts[j + 1], row_end) if j + 1 < len(starts) else row_end
            if done > top:
                n = done - top
                total = np.zeros((n, c1 - c0, len(active)), np.float32)
                total[..., active] = sums[:n] / np.maximum(wsum[:n], 1e-12)[..., None]
                finish(total, Window(c0, top, c1 - c0, n))
                sums, wsum, top = sums[n:], wsum[n:], done
            progress.fraction((s + (j + 1) / len(starts)) / len(stripes))
    return computed


def _has_data(src, t: Tile, validity: raster_io.Validity) -> bool:
    """Whether any pixel the tile sees counts (else it is not computed)."""
    if not validity.active:
        return True
    c0, r0 = max(t.col, 0), max(t.row, 0)
    c1, r1 = min(t.col + t.size, src.width), min(t.row + t.size, src.height)
    return bool(validity(src, Window(c0, r0, c1 - c0, r1 - r0)).any())


def _accumulate(sums: np.ndarray, wsum: np.ndarray, t: Tile, probs: np.ndarray, weights: np.ndarray,
                top: int, row_end: int, c0: int, c1: int) -> None:
    """Add a tile's weighted probabilities to the running sums (rows from ``top``, cols from c0)."""
    r_from, r_to = max(t.row, top), min(t.row + t.size, row_end)
    k_from, k_to = max(t.col, c0), min(t.col + t.size, c1)
    if r_to <= r_from or k_to <= k_from:
        return
    tile_rows = slice(r_from - t.row, r_to - t.row)
    tile_cols = slice(k_from - t.col, k_to - t.col)
    w = weights[tile_rows, tile_cols]
    sums[r_from - top:r_to - top, k_from - c0:k_to - c0] += probs[tile_rows, tile_cols] * w[..., None]
    wsum[r_from - top:r_to - top, k_from - c0:k_to - c0] += w
