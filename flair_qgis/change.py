"""Land-cover change between two class rasters (two dates): transitions, land take per zone, change map.

The work is done on ``before``'s pixel grid, over the part of it that ``after`` covers, block by
block (memory does not grow with the rasters; :data:`WORKERS` blocks are read and labelled at once).
Each ``before`` pixel takes the ``after`` pixel its centre falls in (nearest neighbour, no shifting:
the rasters may differ in origin, pixel size and extent, not in CRS). Both are read as FLAIR codes
(``class_codes``: 0-based maps are converted; a map recording other classes is refused unless a
class map says what they are: ``change_classes``).
Zones partly or wholly outside the overlap are reported (``zone_coverage``).
Per block, ``before × 20 + after`` is counted with one ``numpy.bincount`` (for the whole overlap and
for each zone, a zone being the pixels whose centre lies in its polygon), which gives the
transition table and the artificialised areas. Changed regions (connected, 4-neighbour) smaller
than ``min_area`` are counted as unchanged (the ``after`` class is taken to be the ``before`` one):
they are found per block with a halo as wide as such a region can be, so blocks do not change the
result. Outputs are written under temporary names and moved into place when all are complete.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from itertools import islice
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
from rasterio.features import bounds as geometry_bounds
from rasterio.features import rasterize
from rasterio.windows import bounds as rasterio_bounds
from rasterio.windows import Window

from . import change_classes, raster_io
from .areas import pixel_area
from .change_regions import Regions, Undecided
from .change_spec import (ARTIFICIALISED, CHANGE_CLASSES, DEFAULT_MIN_AREA, GAIN, LOSS, NODATA, OTHER_CHANGE,
                          UNCHANGED)
from .change_tables import CODES, ChangeResult, result_of, stage_tables
from .zone_coverage import check_coverage
from .class_codes import AUTO, INTEGER_TYPES, ClassCodes, resolve
from .errors import FlairError
from .files import publish
from .grids import crs_names, same_crs
from .palette import ClassInfo, palette, style_path, write_qml
from .progress import Progress

BLOCK = 2048  # px per block side on before's grid
MAX_HALO = 1024  # px: changed regions under MIN_AREA are judged exactly up to this many pixels
THIN_HALO = 32  # px: the halo each block is first read with (regions reaching past it are judged again)
MAX_UNDECIDED = 32  # regions judged again one by one in a block; past that, the block is read with the full halo
WORKERS = max(1, min(4, os.cpu_count() or 1))  # blocks read and labelled at once (GDAL and scipy free the GIL)
Reader = Union[ClassCodes, change_classes.Remapped]  # how a map's values are read as FLAIR codes


@dataclass(frozen=True)
class Zone:
    """A zone to account for: its name and polygon (GeoJSON-like mapping, in ``before``'s CRS)."""

    name: str
    geometry: Mapping[str, Any]


@dataclass
class ChangeOptions:
    """What :func:`compare` reads and writes. Output paths left None are not written."""

    before: Path
    after: Path
    codes: str = AUTO
    zones: Sequence[Zone] | None = None
    min_area: float = DEFAULT_MIN_AREA
    artificialised: Sequence[int] = ARTIFICIALISED
    change: Path | None = None
    change_codes: Path | None = None
    plot: Path | None = None
    transitions_csv: Path | None = None
    zones_csv: Path | None = None
    block: int = BLOCK  # px per block side (1024–4096 measured: 2048 is the fastest with small regions)
    class_map: str | None = None  # maps whose classes are not FLAIR's: 'parking=3, other=19' (change_classes)


# --- checks ----------------------------------------------------------------------------------

def check_artificialised(codes: Sequence[int]) -> tuple[int, ...]:
    """The artificialised codes as ints, each a FLAIR code 1–19."""
    try:
        values = tuple(sorted({int(c) for c in codes}))
    except (TypeError, ValueError):
        raise FlairError(f"artificialised classes (GROUPS) must be FLAIR codes 1–19, got {list(codes)}") from None
    unknown = [c for c in values if not 1 <= c <= 19]
    if unknown:
        raise FlairError(f"artificialised classes (GROUPS): {', '.join(map(str, unknown))} "
                         f"{'is not a FLAIR code' if len(unknown) == 1 else 'are not FLAIR codes'}; list codes "
                         "between 1 and 19 (default 1, 2, 3, 13, 18: building, pervious and impervious surface, "
                         "swimming pool, greenhouse)")
    if not values:
        raise FlairError("artificialised classes (GROUPS) is empty: list at least one FLAIR code (1–19)")
    return values


def _check_class_raster(src, role: str) -> None:
    others = [i for i in range(2, src.count + 1) if src.colorinterp[i - 1].name != "alpha"]
    if others:
        raise FlairError(f"{role} {src.name} has {src.count} bands: it is not a class raster (one band of "
                         "class codes, e.g. the output of 'Segment land cover'); choose the land-cover map itself")
    if src.dtypes[0] not in INTEGER_TYPES:
        raise FlairError(f"{role} {src.name}: band 1 is {src.dtypes[0]}, not integer class codes: it is not a "
                         "class raster; choose a land-cover map (e.g. the output of 'Segment land cover')")
    t = src.transform
    if t.b or t.d:
        raise FlairError(f"{role} {src.name} is rotated: warp it to a north-up grid first (gdalwarp)")


def _check_crs(before, after) -> None:
    for src, role in ((before, "BEFORE"), (after, "AFTER")):
        if src.crs is None:
            raise FlairError(f"{role} {src.name} has no CRS: assign it (Layer Properties → Source, or "
                             "gdal_edit.py -a_srs EPSG:2154)")
    if not same_crs(before.crs, after.crs, before.bounds, abs(before.transform.a)):
        name_before, name_after = crs_names(before.crs, after.crs)
        raise FlairError(f"BEFORE {before.name} is in {name_before} and AFTER {after.name} in "
                         f"{name_after}: the two dates must be in the same CRS; reproject one into the "
                         "other's CRS first (QGIS: Raster → Projections → Warp, nearest neighbour)")


def _check_outputs(options: ChangeOptions) -> None:
    inputs = {Path(options.before).resolve(), Path(options.after).resolve()}
    for path in (options.change, options.change_codes, options.plot, options.transitions_csv, options.zones_csv):
        if path is None:
            continue
        if Path(path).resolve() in inputs:
            raise FlairError(f"the output {path} is one of the input rasters: choose another output file")
        raster_io.check_output_folder(path)


# --- the grid mapping ------------------------------------------------------------------------

@dataclass(frozen=True)
class Overlap:
    """Before's window over the overlap, and for each of its columns and rows the after column/row."""

    window: Window
    after_cols: np.ndarray
    after_rows: np.ndarray


def overlap(before, after) -> Overlap:
    """Where ``after`` covers ``before``'s pixel centres (nearest neighbour on before's grid)."""
    tb, ta = before.transform, after.transform
    cols = np.floor((tb.c + (np.arange(before.width) + 0.5) * tb.a - ta.c) / ta.a).astype(np.int64)
    rows = np.floor((tb.f + (np.arange(before.height) + 0.5) * tb.e - ta.f) / ta.e).astype(np.int64)
    inside_c = np.flatnonzero((cols >= 0) & (cols < after.width))
    inside_r = np.flatnonzero((rows >= 0) & (rows < after.height))
    if not inside_c.size or not inside_r.size:
        raise FlairError(f"BEFORE {before.name} and AFTER {after.name} do not overlap (BEFORE covers "
                         f"{_bounds(before)}, AFTER {_bounds(after)}): choose two maps of the same place")
    c0, c1, r0, r1 = int(inside_c[0]), int(inside_c[-1]) + 1, int(inside_r[0]), int(inside_r[-1]) + 1
    return Overlap(Window(c0, r0, c1 - c0, r1 - r0), cols[c0:c1], rows[r0:r1])


def _bounds(src) -> str:
    b = src.bounds
    return f"x {b.left:.1f}–{b.right:.1f}, y {b.bottom:.1f}–{b.top:.1f}"


def _read_after(after, codes: Reader, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """After's FLAIR codes at the given after rows × columns (each a monotonic index array)."""
    r0, r1 = int(min(rows[0], rows[-1])), int(max(rows[0], rows[-1])) + 1
    c0, c1 = int(min(cols[0], cols[-1])), int(max(cols[0], cols[-1])) + 1
    block = codes.read(after, Window(c0, r0, c1 - c0, r1 - r0))
    if rows[0] <= rows[-1] and cols[0] <= cols[-1] and r1 - r0 == len(rows) and c1 - c0 == len(cols):
        # increasing, one after pixel per before pixel: aligned grids of the same pixel size, a plain window
        return block
    return block[np.ix_(rows - r0, cols - c0)]


# --- the comparison --------------------------------------------------------------------------

def compare(options: ChangeOptions, progress: Progress | None = None) -> ChangeResult:
    """Cross-tabulate ``options.before`` and ``options.after`` and write the asked outputs."""
    progress = progress or Progress()
    artificialised = check_artificialised(options.artificialised)
    if options.min_area < 0:
        raise FlairError(f"the minimum area of a change (MIN_AREA) is {options.min_area} m²: give 0 or more")
    _check_outputs(options)
    with raster_io.open_raster(options.before) as before, raster_io.open_raster(options.after) as after:
        _check_class_raster(before, "BEFORE")
        _check_class_raster(after, "AFTER")
        _check_crs(before, after)
        area = pixel_area(Path(options.before))
        mapping = change_classes.parse_class_map(options.class_map)
        before_codes = change_classes.reader(before, "BEFORE", resolve(options.before, options.codes, progress.log),
                                             mapping, progress.log)
        after_codes = change_classes.reader(after, "AFTER", resolve(options.after, options.codes, progress.log),
                                            mapping, progress.log)
        change_classes.check_mapping_used(mapping, [before_codes, after_codes], progress.warn)
        grid = overlap(before, after)
        outside_before, outside_after = _log_overlap(before, after, grid, progress)
        counting = _Counting(options, before, after, before_codes, after_codes, grid, area, artificialised)
        if counting.zones:
            box = rasterio_bounds(grid.window, before.transform)
            counting.covered = check_coverage([z.name for z in counting.zones],
                                              [z.geometry for z in counting.zones], box, progress)
        with ExitStack() as stack:
            writers = _open_writers(options, before, grid.window, stack)
            counting.run(writers, progress)
            result = result_of(counting, artificialised, area, outside_before, outside_after)
            staged = stage_tables(options, result, stack)
            for name, writer in writers.items():
                result.written[name] = writer.commit()
                write_qml(style_path(writer.path), CHANGE_CLASSES if name == "change" else _change_code_classes())
            for name, (tmp, path) in staged.items():
                publish(tmp, path)
                result.written[name] = path
    if counting.unknown:
        progress.warn(f"{counting.unknown} pixels hold codes above 19 (not FLAIR classes): left out as nodata")
    if result.reverted_pixels:
        progress.log(f"{result.reverted_pixels} changed pixels ({result.reverted_pixels * area:.1f} m²) lie in "
                     f"changed regions under {options.min_area:g} m² and are counted as unchanged")
    return result


def _log_overlap(before, after, grid: Overlap, progress: Progress) -> tuple[float, float]:
    w = grid.window
    share_before = 100.0 * (1 - (w.width * w.height) / (before.width * before.height))
    used_after = (int(grid.after_cols.max() - grid.after_cols.min()) + 1) * \
        (int(grid.after_rows.max() - grid.after_rows.min()) + 1)
    share_after = max(0.0, 100.0 * (1 - used_after / (after.width * after.height)))
    progress.log(f"Overlap: {w.width}×{w.height} px of BEFORE's grid; {share_before:.1f} % of BEFORE and "
                 f"{share_after:.1f} % of AFTER lie outside it and are not counted")
    if (abs(before.transform.a), abs(before.transform.e)) != (abs(after.transform.a), abs(after.transform.e)):
        progress.log(f"AFTER's pixels ({abs(after.transform.a):g} m) are read on BEFORE's grid "
                     f"({abs(before.transform.a):g} m), nearest neighbour")
    return share_before, share_after


def _unknown_as_nodata(before: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    """Set pixels with a code above 19 at either date to nodata (0) at both; the mask of them, None if none."""
    unknown = (before >= CODES) | (after >= CODES)
    if not unknown.any():
        return None
    before[unknown], after[unknown] = 0, 0
    return unknown


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pixels whose class differs, with data at both dates."""
    changed = np.minimum(before, after).astype(bool)  # codes are unsigned: data at both dates
    changed &= before != after
    return changed


class _Counting:
    """The block loop: per-block codes, small-region reversal, counts, and the change rasters."""

    def __init__(self, options: ChangeOptions, before, after, before_codes: Reader, after_codes: Reader,
                 grid: Overlap, area: float, artificialised: tuple[int, ...]) -> None:
        from .vectorize import min_pixels

        self.options, self.before, self.after = options, before, after
        self.before_codes, self.after_codes, self.grid = before_codes, after_codes, grid
        self.min_pixels = min_pixels(options.min_area, area)
        self.halo = min(self.min_pixels, MAX_HALO) if self.min_pixels > 1 else 0
        self.counts = np.zeros(CODES * CODES, dtype=np.int64)
        self.zones = list(options.zones or [])
        self.zone_counts = np.zeros((len(self.zones), CODES * CODES), dtype=np.int64)
        self.zone_boxes = [geometry_bounds(z.geometry) for z in self.zones]
        self.covered: list[float | None] = [100.0] * len(self.zones)
        self.reverted = 0
        self.unknown = 0
        self.is_artificialised = np.zeros(CODES, dtype=bool)
        self.is_artificialised[list(artificialised)] = True
        self._local = threading.local()  # each thread's own handles on the two maps (see _maps)
        self._opened: list = []
        self._lock = threading.Lock()

    def _maps(self):
        """This thread's handles on BEFORE and AFTER: a GDAL dataset is read by one thread at a time."""
        maps = getattr(self._local, "maps", None)
        if maps is None:
            maps = self._local.maps = (raster_io.open_raster(self.before.name), raster_io.open_raster(self.after.name))
            with self._lock:
                self._opened.extend(maps)
        return maps

    def _codes(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Before and after FLAIR codes over ``window`` of the overlap (relative to it)."""
        w0 = self.grid.window
        rows = self.grid.after_rows[window.row_off:window.row_off + window.height]
        cols = self.grid.after_cols[window.col_off:window.col_off + window.width]
        before, after = self._maps()
        b = self.before_codes.read(before, Window(w0.col_off + window.col_off, w0.row_off + window.row_off,
                                                  window.width, window.height))
        a = _read_after(after, self.after_codes, rows, cols)
        return b, a

    def run(self, writers: dict, progress: Progress) -> None:
        """Every block: its codes (:meth:`_tile`, :data:`WORKERS` blocks at once, each thread with its
        own handles on the maps), then, in this thread and in order, its counts and its pixels written."""
        w0, size = self.grid.window, self.options.block
        windows = [Window(c, r, min(size, w0.width - c), min(size, w0.height - r))
                   for r in range(0, w0.height, size) for c in range(0, w0.width, size)]
        tiles, total = iter(windows), len(windows)
        try:
            with ThreadPoolExecutor(WORKERS) as pool:
                pending = deque((t, pool.submit(self._tile, t)) for t in islice(tiles, WORKERS + 1))
                try:
                    for i in range(total):
                        progress.check()
                        tile, future = pending.popleft()
                        before, after, reverted, unknown = future.result()
                        following = next(tiles, None)
                        if following is not None:
                            pending.append((following, pool.submit(self._tile, following)))
                        self.reverted += reverted
                        self.unknown += unknown
                        self._count(writers, tile, before, after)
                        progress.fraction((i + 1) / total)
                finally:
                    for _, future in pending:
                        future.cancel()
        finally:
            for dataset in self._opened:
                dataset.close()

    def _count(self, writers: dict, tile: Window, before: np.ndarray, after: np.ndarray) -> None:
        valid = (before != 0) & (after != 0)
        combined = before * CODES + after  # uint16; nodata at either date falls in row or column 0
        self.counts += np.bincount(combined.ravel(), minlength=CODES * CODES)
        self._count_zones(tile, combined, valid)
        self._write(writers, tile, before, after, valid)

    def _tile(self, tile: Window) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Codes of ``tile``, with changed regions under the minimum area reverted to before's class;
        the pixels reverted and those holding codes above 19 (read as nodata).

        The block is read with a thin halo (:data:`THIN_HALO`): the few regions still under the minimum
        that reach its edge are judged again each on a window wide enough to hold it whole (within the
        full halo: the same verdicts as one read with the full halo, at less reading and labelling);
        past :data:`MAX_UNDECIDED` of them, the block is read again with the full halo.
        """
        thin = min(self.halo, THIN_HALO)
        outer, before, after, inner, unknown = self._read(tile, thin)
        if not self.halo:
            return before, after, 0, unknown
        regions = Regions(_changed(before, after), self.min_pixels, self._cut(outer))
        undecided = regions.undecided(inner) if thin < self.halo else []
        if len(undecided) > MAX_UNDECIDED:
            outer, before, after, inner, _ = self._read(tile, self.halo)
            regions, undecided = Regions(_changed(before, after), self.min_pixels, self._cut(outer)), []
        revert = regions.small_pixels(inner)
        for region in undecided:
            self._judge(region, outer, tile, revert)
        before, after = before[inner], after[inner]
        np.copyto(after, before, where=revert)
        return before, after, int(np.count_nonzero(revert)), unknown

    def _outer(self, tile: Window, halo: int) -> Window:
        """``tile`` and ``halo`` px around it, within the overlap (relative to it)."""
        w0 = self.grid.window
        top, left = max(0, tile.row_off - halo), max(0, tile.col_off - halo)
        return Window(left, top, min(w0.width, tile.col_off + tile.width + halo) - left,
                      min(w0.height, tile.row_off + tile.height + halo) - top)

    def _cut(self, window: Window) -> tuple[bool, bool, bool, bool]:
        """Which edges of ``window`` (top, bottom, left, right) cut the overlap."""
        w0 = self.grid.window
        return (window.row_off > 0, window.row_off + window.height < w0.height,
                window.col_off > 0, window.col_off + window.width < w0.width)

    def _read(self, tile: Window, halo: int):
        """(the window read, before's and after's codes over it, ``tile`` within it, the pixels of
        ``tile`` holding codes above 19: read as nodata)."""
        outer = self._outer(tile, halo)
        before, after = self._codes(outer)
        r0, c0 = tile.row_off - outer.row_off, tile.col_off - outer.col_off
        inner = (slice(r0, r0 + tile.height), slice(c0, c0 + tile.width))
        unknown = _unknown_as_nodata(before, after)
        return outer, before, after, inner, 0 if unknown is None else int(unknown[inner].sum())

    def _judge(self, region: Undecided, outer: Window, tile: Window, revert: np.ndarray) -> None:
        """Judge ``region`` (found in ``outer``, under the minimum there and reaching its edge) on a
        window around it wider by the pixels it lacks (a region that reaches that window's edge has at
        least as many), within the full halo; mark its pixels in ``tile`` in ``revert`` if it is small."""
        lacking = self.min_pixels - region.pixels
        full = self._outer(tile, self.halo)
        top = max(full.row_off, outer.row_off + region.rows[0] - lacking)
        left = max(full.col_off, outer.col_off + region.cols[0] - lacking)
        bottom = min(full.row_off + full.height, outer.row_off + region.rows[1] + lacking)
        right = min(full.col_off + full.width, outer.col_off + region.cols[1] + lacking)
        window = Window(left, top, right - left, bottom - top)
        before, after = self._codes(window)
        _unknown_as_nodata(before, after)
        pixels = Regions(_changed(before, after), self.min_pixels, self._cut(window)).region_is_small(
            (outer.row_off + region.seed[0] - top, outer.col_off + region.seed[1] - left))
        if pixels is None:
            return
        r0, r1 = max(top, tile.row_off), min(bottom, tile.row_off + tile.height)
        c0, c1 = max(left, tile.col_off), min(right, tile.col_off + tile.width)
        if r0 < r1 and c0 < c1:
            revert[r0 - tile.row_off:r1 - tile.row_off, c0 - tile.col_off:c1 - tile.col_off] |= \
                pixels[r0 - top:r1 - top, c0 - left:c1 - left]

    def _count_zones(self, tile: Window, combined: np.ndarray, valid: np.ndarray) -> None:
        if not self.zones:
            return
        transform = self.before.window_transform(Window(self.grid.window.col_off + tile.col_off,
                                                        self.grid.window.row_off + tile.row_off,
                                                        tile.width, tile.height))
        left, top = transform * (0, 0)
        right, bottom = transform * (tile.width, tile.height)
        x0, x1, y0, y1 = min(left, right), max(left, right), min(top, bottom), max(top, bottom)
        for z, (zx0, zy0, zx1, zy1) in enumerate(self.zone_boxes):
            if zx1 < x0 or zx0 > x1 or zy1 < y0 or zy0 > y1:
                continue
            inside = rasterize([(self.zones[z].geometry, 1)], out_shape=valid.shape, transform=transform, fill=0,
                               dtype=np.uint8).astype(bool)
            if inside.any():
                self.zone_counts[z] += np.bincount(combined[inside], minlength=CODES * CODES)

    def _write(self, writers: dict, tile: Window, before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> None:
        if "change" in writers:
            gain = ~self.is_artificialised[before] & self.is_artificialised[after]
            loss = self.is_artificialised[before] & ~self.is_artificialised[after]
            kind = np.select([~valid, before == after, gain, loss], [NODATA, UNCHANGED, GAIN, LOSS], OTHER_CHANGE)
            writers["change"].write(kind.astype(np.uint8)[None], tile)
        if "change_codes" in writers:
            codes = np.where(valid, before.astype(np.uint16) * 100 + after, 0).astype(np.uint16)
            writers["change_codes"].write(codes[None], tile)


def _change_code_classes() -> list[ClassInfo]:
    """Styles of the ``from × 100 + to`` raster: each transition in the colour of its ``to`` class."""
    classes = palette("flair-19")
    return [ClassInfo(f.code * 100 + t.code, f"{f.name} → {t.name}", t.colour) for f in classes for t in classes]


def _open_writers(options: ChangeOptions, before, window: Window, stack: ExitStack) -> dict:
    writers = {}
    spec = dict(width=int(window.width), height=int(window.height), count=1, crs=before.crs,
                transform=before.window_transform(window), nodata=0)
    if options.change is not None:
        writers["change"] = stack.enter_context(raster_io.AtomicRasterWriter(options.change, raster_io.OutputSpec(
            **spec, classes=CHANGE_CLASSES, band_names=("change",),
            tags={"FLAIR_CHANGE": "0 nodata, 1 unchanged, 2 artificialised (gain), 3 de-artificialised (loss), "
                                  "4 other class change"})))
    if options.change_codes is not None:
        writers["change_codes"] = stack.enter_context(raster_io.AtomicRasterWriter(
            options.change_codes, raster_io.OutputSpec(**spec, dtype="uint16", band_names=("from*100+to",))))
    return writers
