"""The tile grid of IGN's flair-detect, with each output pixel owned by exactly one tile.

flair-detect lays tiles of ``size`` px every ``size - 2*margin`` px, starting ``margin`` px
outside the raster; the last column (and row) is moved back to end ``margin`` px past the edge.
Rows are laid from the bottom edge upwards. It keeps the central ``(size - 2*margin)`` px of each
tile, and where two centres overlap (only next to a moved last row or column) the tile processed
later wins; tiles go column by column, bottom to top.

Here the overlaps are resolved up front: each :class:`Tile` knows the part of its centre that
survives (``out_*``), so every output pixel is written once, exactly in place, in any order.

That grid follows each raster's own size, so two rasters of the same ground in other extents (two
dates, a crop of a mosaic) are cut into different tiles, and a model, whose prediction depends on
the whole tile, gives them different maps where they overlap. The map-anchored grid
(:func:`anchored_tile_grid`) lays the tiles' centres at fixed multiples of the step in the map's
pixel lattice instead: rasters on the same pixel grid get the same tiles, whatever their extent.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from .errors import FlairError


@dataclass(frozen=True)
class Tile:
    """A ``size``×``size`` read window at (``col``, ``row``), which may reach past the raster's
    edges (read as zeros), and the window of the output it writes (always inside the raster)."""

    col: int
    row: int
    size: int
    out_col: int
    out_row: int
    out_width: int
    out_height: int

    @property
    def crop(self) -> tuple[slice, slice]:
        """Rows and columns of the tile's prediction that go to the output window."""
        r, c = self.out_row - self.row, self.out_col - self.col
        return slice(r, r + self.out_height), slice(c, c + self.out_width)


def within_centres(grid: list[Tile], margin: int) -> bool:
    """Whether every tile writes only pixels ``margin`` px or more inside its edges (its centre)."""
    return all(margin <= rows.start and rows.stop <= t.size - margin
               and margin <= cols.start and cols.stop <= t.size - margin
               for t in grid for rows, cols in [t.crop])


def check_tile_settings(size: int, margin: int, stride: int = 32) -> None:
    """Refuse tile/margin combinations that cannot work, saying why."""
    if size <= 0:
        raise FlairError(f"tile size must be positive, got {size}")
    if margin < 0:
        raise FlairError(f"margin must be 0 or more, got {margin}")
    if 2 * margin >= size:
        raise FlairError(f"twice the margin ({2 * margin}) must be smaller than the tile size ({size}): "
                         "lower the margin or raise the tile size")
    if size % stride:
        raise FlairError(f"tile size {size} is not a multiple of {stride}, which the model's encoder "
                         f"needs: use {max(stride, size // stride * stride)} or {(size // stride + 1) * stride}")


def _starts(extent: int, size: int, margin: int) -> list[int]:
    """Tile starts along one axis in flair-detect's order, duplicates dropped."""
    step = size - 2 * margin
    starts: list[int] = []
    x = -margin
    while x < extent + margin:
        s = x if x + size <= extent + margin else extent + margin - size
        if s not in starts:
            starts.append(s)
        if s != x:
            break
        x += step
    return starts


def _owned(starts: list[int], size: int, margin: int, extent: int) -> list[tuple[int, int, int]]:
    """(start, owned_from, owned_to) per tile: its centre minus what later tiles overwrite."""
    out = []
    for i, s in enumerate(starts):
        lo, hi = s + margin, s + size - margin
        if i + 1 < len(starts):
            hi = min(hi, starts[i + 1] + margin)
        lo, hi = max(lo, 0), min(hi, extent)
        if hi > lo:
            out.append((s, lo, hi))
    return out


def tile_grid(width: int, height: int, size: int = 512, margin: int = 128,
              window: tuple[int, int, int, int] | None = None, whole_tiles: bool = False) -> list[Tile]:
    """Tiles covering a ``width``×``height`` raster, top row first, left to right.

    With a ``window`` (col, row, width, height), only the tiles that write into it, their output
    cut to it, exactly as the whole raster's grid would compute them (the cost follows the
    window, not the raster); with ``whole_tiles``, every tile whose read window overlaps it,
    output uncut (for blending)."""
    if width <= 0 or height <= 0:
        raise FlairError(f"the raster is empty ({width}×{height} px)")
    if 2 * margin >= size or margin < 0:
        check_tile_settings(size, margin, stride=1)
    cols = _owned(_starts(width, size, margin), size, margin, width)
    # Rows are laid out from the bottom: flip, resolve, and flip back to top-based rows.
    rows_up = _owned(_starts(height, size, margin), size, margin, height)
    rows = [(height - s - size, height - hi, height - lo) for s, lo, hi in reversed(rows_up)]
    return _tiles(cols, rows, size, window, whole_tiles)


def _tiles(cols: list[tuple[int, int, int]], rows: list[tuple[int, int, int]], size: int,
           window: tuple[int, int, int, int] | None, whole_tiles: bool) -> list[Tile]:
    """The tiles of the columns × rows (start, owned from, owned to), kept to ``window`` if given."""
    if window is not None:
        wc, wr, ww, wh = window
        cols = _keep(cols, wc, wc + ww, size, whole_tiles)
        rows = _keep(rows, wr, wr + wh, size, whole_tiles)
    return [Tile(col=c, row=r, size=size, out_col=c0, out_row=r0, out_width=c1 - c0, out_height=r1 - r0)
            for r, r0, r1 in rows for c, c0, c1 in cols]


def _keep(axis: list[tuple[int, int, int]], lo: int, hi: int, size: int,
          whole_tiles: bool) -> list[tuple[int, int, int]]:
    """The (start, from, to) entries of one axis that touch [lo, hi): by their read extent with
    ``whole_tiles``, else by their output, cut to [lo, hi)."""
    if whole_tiles:
        return [a for a in axis if a[0] < hi and a[0] + size > lo]
    return [(s, max(a, lo), min(b, hi)) for s, a, b in axis if min(b, hi) > max(a, lo)]



GRIDS = ("flair-detect", "flair-hub", "map-anchored")


def map_origin(transform) -> tuple[int, int]:  # noqa: ANN001 - an affine.Affine
    """(column, row) of a raster's top-left pixel in its CRS's pixel lattice (x / pixel width,
    y / pixel height, rounded): rasters on the same pixel grid differ by whole pixels here."""
    col = transform.c / transform.a if transform.a else 0.0
    row = transform.f / transform.e if transform.e else 0.0
    return math.floor(col + 0.5), math.floor(row + 0.5)


def _anchored(extent: int, size: int, margin: int, offset: int) -> list[tuple[int, int, int]]:
    """(start, owned_from, owned_to) per tile along one axis: tile k owns the lattice pixels
    [k*step, (k+1)*step), ``offset`` being the lattice index of the raster's pixel 0."""
    step = size - 2 * margin
    first, last = offset // step, (offset + extent - 1) // step
    return [(k * step - offset - margin, max(k * step - offset, 0), min((k + 1) * step - offset, extent))
            for k in range(first, last + 1)]


def anchored_tile_grid(width: int, height: int, size: int = 512, margin: int = 128,
                       window: tuple[int, int, int, int] | None = None, whole_tiles: bool = False,
                       origin: tuple[int, int] = (0, 0)) -> list[Tile]:
    """The map-anchored grid: tiles whose kept centres (``size - 2*margin`` px) lie at fixed multiples
    of that step in the map's pixel lattice, ``origin`` (:func:`map_origin`) being the raster's
    top-left pixel there. Every tile keeps exactly its centre, clipped to the raster (each pixel is
    written once, always ``margin`` px in from its tile's edges); tiles reaching past the raster
    are read as zeros there, as in :func:`tile_grid`. ``window`` and ``whole_tiles`` as there."""
    if width <= 0 or height <= 0:
        raise FlairError(f"the raster is empty ({width}×{height} px)")
    if 2 * margin >= size or margin < 0:
        check_tile_settings(size, margin, stride=1)
    cols = _anchored(width, size, margin, int(origin[0]))
    rows = _anchored(height, size, margin, int(origin[1]))
    return _tiles(cols, rows, size, window, whole_tiles)


def flair_hub_tile_grid(width: int, height: int, size: int = 512, margin: int = 128,
                        window: tuple[int, int, int, int] | None = None, whole_tiles: bool = False) -> list[Tile]:
    """The tile grid of FLAIR-HUB's zonal detection (``slicing.py`` and ``inference.py`` of IGNF/FLAIR-HUB).

    It lays tiles in map units: x from ``margin`` px left of the raster, y from ``margin`` px *below*
    it, every ``size - 2*margin`` px while the start is inside ``margin`` px past the far edge; a tile
    ending past that is moved back to end there; tiles with the bounds of an earlier one are skipped;
    x is the outer loop, y (bottom to top) the inner one, and each tile's central part, clipped to the
    raster, is written at its exact place, a later tile overwriting an earlier one. That is the same
    rule as flair-detect's (:func:`tile_grid`), so the tiles and the pixel each one owns are the same;
    both names are kept so that a model says which tool's grid it reproduces. (FLAIR-HUB itself fails
    on a raster narrower than ``size - 2*margin``; here such a raster is covered like any other.)
    """
    return tile_grid(width, height, size, margin, window, whole_tiles)


def grid_function(name: str, origin: tuple[int, int] = (0, 0)):  # noqa: ANN201 - one of the grid functions above
    """The tile-grid function called ``name`` (a :class:`ModelSpec`'s ``grid``, or a run's choice);
    ``origin`` places the map-anchored grid (:func:`map_origin` of the raster's transform)."""
    if name not in GRIDS:
        raise FlairError(f"unknown tile grid {name!r}: use {', '.join(GRIDS)}")
    if name == "map-anchored":
        return functools.partial(anchored_tile_grid, origin=origin)
    return flair_hub_tile_grid if name == "flair-hub" else tile_grid
