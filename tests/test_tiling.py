"""The tile grid reproduces flair-detect's tiles and its overwrite order, pixel for pixel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from flair_qgis.errors import FlairError
from flair_qgis.tiling import Tile, check_tile_settings, tile_grid


def flair_detect_paint(width: int, height: int, size: int, margin: int) -> tuple[np.ndarray, dict]:
    """Paint each kept centre with its tile's id in flair-detect's own order (columns left to
    right, rows bottom to top, later tiles overwriting), as IGNF-MODELS.md describes it."""
    step = size - 2 * margin

    def starts(extent: int) -> list[int]:
        out, x = [], -margin
        while x < extent + margin:
            out.append(min(x, extent + margin - size))
            x += step
        return out

    canvas = np.full((height, width), -1, dtype=np.int64)
    ids, seen = {}, set()
    for x in starts(width):
        for y_up in starts(height):
            top = height - y_up - size
            if (x, top) in seen:
                continue
            seen.add((x, top))
            ids[(x, top)] = len(ids)
            r0, r1 = max(top + margin, 0), min(top + size - margin, height)
            c0, c1 = max(x + margin, 0), min(x + size - margin, width)
            canvas[r0:r1, c0:c1] = ids[(x, top)]
    return canvas, ids


SHAPES = [(1536, 1536), (1018, 638), (512, 512), (513, 511), (100, 50), (1, 1), (300, 900), (2000, 700)]


@pytest.mark.parametrize("width,height", SHAPES)
@pytest.mark.parametrize("size,margin", [(512, 128), (1024, 128), (256, 0), (64, 16)])
def test_each_pixel_owned_by_the_tile_flair_detect_keeps(width, height, size, margin):
    canvas, ids = flair_detect_paint(width, height, size, margin)
    owner = np.full((height, width), -1, dtype=np.int64)
    hits = np.zeros((height, width), dtype=np.int64)
    for t in tile_grid(width, height, size, margin):
        window = (slice(t.out_row, t.out_row + t.out_height), slice(t.out_col, t.out_col + t.out_width))
        owner[window] = ids[(t.col, t.row)]
        hits[window] += 1
    assert (hits == 1).all(), "tiles must partition the raster"
    np.testing.assert_array_equal(owner, canvas)


def test_crop_is_inside_the_tile_and_matches_the_window():
    for t in tile_grid(1018, 638, 512, 128):
        rows, cols = t.crop
        assert 0 <= rows.start < rows.stop <= t.size and 0 <= cols.start < cols.stop <= t.size
        assert t.row + rows.start == t.out_row and t.col + cols.start == t.out_col


def test_default_grid_matches_flair_detect_tile_count():
    # IGN's flair-detect reads 36 tiles for a 1536×1536 raster at 512/128 (issue #4 measurements).
    assert len(tile_grid(1536, 1536, 512, 128)) == 36


def test_rows_align_on_the_bottom_edge():
    # 638 + 256 - 512 is not a multiple of 256: the regular rows start from the bottom edge.
    tiles = tile_grid(1018, 638, 512, 128)
    bottom = max(t.row for t in tiles)
    assert bottom == 638 + 128 - 512


@pytest.mark.parametrize("size,margin,words", [
    (512, 256, "twice the margin"), (512, 300, "twice the margin"), (500, 100, "multiple of 32"),
    (0, 0, "positive"), (512, -1, "0 or more"),
])
def test_invalid_settings_are_refused_with_a_reason(size, margin, words):
    with pytest.raises(FlairError, match=words):
        check_tile_settings(size, margin)


def test_empty_raster_is_refused():
    with pytest.raises(FlairError, match="empty"):
        tile_grid(0, 10, 512, 128)


@pytest.mark.parametrize("window", [(0, 0, 1018, 638), (37, 51, 300, 77), (900, 600, 118, 38), (5, 0, 1, 1)])
def test_a_window_of_the_grid_equals_the_whole_grid_clipped(window):
    whole = tile_grid(1018, 638, 512, 128)
    assert tile_grid(1018, 638, 512, 128, window) == clip_grid(whole, *window)
    col, row, w, h = window
    overlapping = [t for t in whole if t.col < col + w and t.col + t.size > col and t.row < row + h
                   and t.row + t.size > row]
    assert tile_grid(1018, 638, 512, 128, window, whole_tiles=True) == overlapping


def clip_grid(tiles: list[Tile], col: int, row: int, width: int, height: int) -> list[Tile]:
    """The tiles whose output falls in the window (col, row, width, height) of the raster, their
    output windows cut to it: what a windowed grid must equal (the reference of these tests)."""
    clipped = []
    for t in tiles:
        c0, r0 = max(t.out_col, col), max(t.out_row, row)
        c1 = min(t.out_col + t.out_width, col + width)
        r1 = min(t.out_row + t.out_height, row + height)
        if c1 > c0 and r1 > r0:
            clipped.append(replace(t, out_col=c0, out_row=r0, out_width=c1 - c0, out_height=r1 - r0))
    return clipped


@pytest.mark.parametrize("grid", ["flair-detect", "flair-hub", "map-anchored"])
def test_every_grid_writes_only_its_tiles_centres(grid):
    """The engine then lets the model compute each tile's centre only (flair_qgis/centre_crop.py)."""
    from flair_qgis.tiling import Tile, grid_function, within_centres

    for width, height, size, margin, window in [(300, 200, 64, 16, None), (1000, 700, 512, 128, None),
                                                (50, 70, 64, 16, None), (1, 1, 64, 8, None),
                                                (900, 900, 256, 64, (100, 130, 300, 77))]:
        tiles = grid_function(grid, (37, -5))(width, height, size, margin, window)
        assert within_centres(tiles, margin), (grid, width, height, size, margin, window)
    assert not within_centres([Tile(col=0, row=0, size=64, out_col=0, out_row=16, out_width=32, out_height=32)], 16)
