"""Cutting training patches from a raster and a class raster, into FLAIR's ``img/``/``msk/`` layout.

``export_patches`` writes ``img/IMG_<id>.tif`` (the image bands) and ``msk/MSK_<id>.tif`` (the class
codes, band 1, with the labels' nodata value) for every patch of a regular grid, plus a FLAIR-1
CSV list of the pairs. ``rasterize_shapes`` burns polygons (GeoJSON-like geometries with a class
code each, already in the image's CRS) onto the image's grid, for labels drawn as vectors.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import rasterio
from rasterio.windows import Window, from_bounds

from . import raster_io
from .errors import FlairError
from .grids import aligned_windows, output_crs
from .patch_files import Pair
from .progress import Progress

ID_PATTERN = re.compile(r"^IMG_(\d+)\.tif$")
CSV_NAME = "patches.csv"


@dataclass
class ExportOptions:
    """``image`` and ``labels`` must be on aligned grids (the labels may cover less or more).

    ``extent`` (xmin, ymin, xmax, ymax, in the image's CRS) limits the patches to that area;
    ``overlap`` is in pixels; ``bands`` are 1-based (default all but alpha). ``label_nodata`` is
    the code of unlabelled pixels (default the labels' nodata value, else 0); with ``skip_empty``,
    patches without a labelled pixel (or without image data) are not written. New patches are
    numbered after those already in ``out_folder``, so several rasters can feed one dataset.
    """

    image: Path
    labels: Path
    out_folder: Path
    patch_size: int = 512
    overlap: int = 0
    bands: list[int] | None = None
    extent: tuple[float, float, float, float] | None = None
    skip_empty: bool = True
    label_nodata: int | None = None


@dataclass
class ExportResult:
    folder: Path
    csv: Path
    pairs: list[Pair] = field(default_factory=list)
    skipped: int = 0


def patch_starts(length: int, size: int, step: int) -> list[int]:
    """Starts of patches covering ``length`` px, the last one moved back to end at the edge."""
    if length < size:
        return []
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def export_patches(options: ExportOptions, progress: Progress | None = None) -> ExportResult:
    progress = progress or Progress()
    size, overlap = options.patch_size, options.overlap
    if size < 32:
        raise FlairError(f"patch size {size} is too small: at least 32 px")
    if not 0 <= overlap < size:
        raise FlairError(f"the overlap ({overlap} px) must be at least 0 and smaller than the patch size ({size} px)")
    out = Path(options.out_folder)
    with raster_io.open_raster(options.image) as img, raster_io.open_raster(options.labels) as lbl:
        bands = options.bands or raster_io.default_bands(img, img.count)
        raster_io.check_bands(img, bands, len(bands), tuple(f"band {b}" for b in bands))
        wi, wl = aligned_windows(img, lbl)
        if options.extent is not None:
            wi, wl = _clip_to_extent(img, wi, wl, options.extent)
        cols, rows = patch_starts(wi.width, size, size - overlap), patch_starts(wi.height, size, size - overlap)
        if not cols or not rows:
            raise FlairError(f"the area to cut ({wi.width}×{wi.height} px, where the image and the labels "
                             f"overlap{' within the extent' if options.extent else ''}) is smaller than "
                             f"one {size}×{size} px patch")
        nodata = options.label_nodata if options.label_nodata is not None else (
            int(lbl.nodata) if lbl.nodata is not None else 0)
        (out / "img").mkdir(parents=True, exist_ok=True)
        (out / "msk").mkdir(parents=True, exist_ok=True)
        next_id = _next_id(out / "img")
        result = ExportResult(out, out / CSV_NAME)
        total = len(rows) * len(cols)
        progress.log(f"Cutting {total} patches of {size} px (overlap {overlap}) from {Path(options.image).name}")
        crs = output_crs(img.crs, img.bounds, abs(img.transform.a))
        for n, (r, c) in enumerate((r, c) for r in rows for c in cols):
            progress.check()
            iw = Window(wi.col_off + c, wi.row_off + r, size, size)
            lw = Window(wl.col_off + c, wl.row_off + r, size, size)
            labels = lbl.read(1, window=lw)
            labels = np.where(lbl.read_masks(1, window=lw) > 0, labels, nodata)
            image = img.read(bands, window=iw)
            progress.fraction((n + 1) / total)
            if options.skip_empty and ((labels == nodata).all() or not img.read_masks(bands, window=iw).any()):
                result.skipped += 1
                continue
            ident = f"{next_id:06d}"
            next_id += 1
            pair = Pair(out / "img" / f"IMG_{ident}.tif", out / "msk" / f"MSK_{ident}.tif")
            transform = img.window_transform(iw)
            _write(pair.image, image, crs, transform, img.nodata)
            _write(pair.label, labels[None].astype(_label_dtype(labels, nodata)), crs, transform, nodata)
            result.pairs.append(pair)
    _append_csv(result.csv, result.pairs)
    progress.log(f"Wrote {len(result.pairs)} patch pairs into {out} ({result.skipped} without labels skipped)")
    return result


def _clip_to_extent(img, wi: Window, wl: Window, extent: tuple[float, float, float, float]) -> tuple[Window, Window]:
    xmin, ymin, xmax, ymax = extent
    if not (xmax > xmin and ymax > ymin):
        raise FlairError(f"extent {extent} is empty: give xmin, ymin, xmax, ymax with min < max")
    area = from_bounds(xmin, ymin, xmax, ymax, transform=img.transform)
    eps = 1e-6  # pixels: bounds on pixel edges stay there despite floating point
    c0 = max(math.floor(area.col_off + eps), int(wi.col_off))
    r0 = max(math.floor(area.row_off + eps), int(wi.row_off))
    c1 = min(math.ceil(area.col_off + area.width - eps), int(wi.col_off + wi.width))
    r1 = min(math.ceil(area.row_off + area.height - eps), int(wi.row_off + wi.height))
    if c1 <= c0 or r1 <= r0:
        raise FlairError(f"extent {extent} does not overlap the image and labels")
    dc, dr = wl.col_off - wi.col_off, wl.row_off - wi.row_off
    return Window(c0, r0, c1 - c0, r1 - r0), Window(c0 + dc, r0 + dr, c1 - c0, r1 - r0)


def _next_id(folder: Path) -> int:
    ids = [int(m.group(1)) for p in folder.iterdir() if (m := ID_PATTERN.match(p.name))]
    return max(ids, default=0) + 1


def _label_dtype(labels: np.ndarray, nodata: int) -> str:
    top = max(int(labels.max()) if labels.size else 0, nodata)
    if labels.size and labels.min() < 0:
        raise FlairError("label codes must not be negative")
    return "uint8" if top < 256 else "uint16"


def _write(path: Path, data: np.ndarray, crs: Any, transform: Any, nodata: float | None) -> None:
    count, height, width = data.shape
    try:
        with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
                           crs=crs, transform=transform, nodata=nodata, compress="deflate") as dst:
            dst.write(data)
    except rasterio.errors.RasterioError as e:
        raise FlairError(f"cannot write {path}: {e}") from None


def _append_csv(path: Path, pairs: list[Pair]) -> None:
    with open(path, "a", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        for pair in pairs:
            out.writerow([str(pair.image.resolve()), str(pair.label.resolve())])


def rasterize_shapes(shapes: Iterable[tuple[dict, int]], like: Path, out: Path, nodata: int = 0,
                     extent: tuple[float, float, float, float] | None = None, block_rows: int = 2048,
                     progress: Progress | None = None) -> Path:
    """Burn ``(geometry, code)`` pairs (GeoJSON-like, in ``like``'s CRS) onto ``like``'s grid, or the
    part of it within ``extent``; unburnt pixels get ``nodata``. Later shapes win where they overlap."""
    from rasterio import features

    progress = progress or Progress()
    shapes = [(g, int(v)) for g, v in shapes]
    if not shapes:
        raise FlairError("no polygon with a class code to rasterise (is the class field empty?)")
    codes = [v for _, v in shapes] + [nodata]
    if min(codes) < 0:
        raise FlairError("class codes must not be negative")
    dtype = "uint8" if max(codes) < 256 else "uint16"
    with raster_io.open_raster(like) as src:
        window = Window(0, 0, src.width, src.height)
        if extent is not None:
            window, _ = _clip_to_extent(src, window, window, extent)
        transform = src.window_transform(window)
        out.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(out, "w", driver="GTiff", width=window.width, height=window.height, count=1,
                           dtype=dtype, crs=output_crs(src.crs, src.bounds, abs(src.transform.a)),
                           transform=transform, nodata=nodata, tiled=True,
                           compress="deflate") as dst:
            for top in range(0, window.height, block_rows):
                progress.check()
                rows = min(block_rows, window.height - top)
                block = Window(0, top, window.width, rows)
                burnt = features.rasterize(shapes, out_shape=(rows, window.width), fill=nodata,
                                           transform=dst.window_transform(block), dtype=dtype)
                dst.write(burnt[None], window=block)
                progress.fraction((top + rows) / window.height)
    return out
