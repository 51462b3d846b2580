"""Class polygons from a class raster, block by block so that memory stays bounded.

Each block of the raster (band 1, class codes, 0 = nodata) is read with a halo, optionally sieved
(regions under a minimum number of pixels merged into their largest neighbour, as GDAL's sieve
does), and turned into polygons with holes by ``rasterio.features.shapes``. Polygons are cut at
block edges: the caller dissolves them per class (the Processing algorithm uses QGIS's
``native:dissolve``), which also joins each class's pieces. The core needs no geometry library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from rasterio.features import shapes, sieve
from rasterio.windows import Window

from . import raster_io
from .class_codes import ClassCodes
from .errors import FlairError
from .progress import Progress

BLOCK = 2048  # px per block side: ~4 MB of codes, plus rasterio's labels
MAX_HALO = 1024  # the sieve sees regions up to this far beyond a block


@dataclass(frozen=True)
class ClassPolygon:
    """One polygon of one class, cut at block edges; ``wkt`` is in the raster's CRS."""

    code: int
    wkt: str


def pixel_size(path: Path) -> tuple[float, float]:
    """Width and height of a pixel in CRS units."""
    with raster_io.open_raster(path) as src:
        return abs(src.transform.a), abs(src.transform.e)


def min_pixels(min_area: float, pixel_area: float) -> int:
    """Pixels a region needs to reach ``min_area`` (same units as ``pixel_area``)."""
    return 0 if min_area <= 0 else max(1, math.ceil(min_area / pixel_area - 1e-9))


def _ring_wkt(ring: list) -> str:
    return "(" + ",".join(f"{x!r} {y!r}" for x, y in ring) + ")"


def polygon_wkt(geometry: dict) -> str:
    """WKT of a GeoJSON polygon (``shapes`` yields polygons, outer ring then holes)."""
    if geometry["type"] != "Polygon":
        raise FlairError(f"unexpected geometry {geometry['type']} from the raster's shapes")
    return "POLYGON(" + ",".join(_ring_wkt(r) for r in geometry["coordinates"]) + ")"


def sieve_progressively(codes: np.ndarray, min_region: int, valid: np.ndarray, connectivity: int = 4) -> np.ndarray:
    """Merge regions under ``min_region`` pixels into their largest neighbour.

    GDAL's sieve leaves a small region alone when all its neighbours are small too (salt and
    pepper stays), so the threshold grows by doubling up to ``min_region``: specks join pairs,
    pairs join larger regions, and so on. Nodata pixels (``valid`` False) take no part.
    """
    threshold = 2
    while threshold < min_region:
        codes = sieve(codes, threshold, connectivity=connectivity, mask=valid)
        threshold *= 2
    for _ in range(4):  # the last size until nothing changes (a few passes at most)
        sieved = sieve(codes, min_region, connectivity=connectivity, mask=valid)
        if np.array_equal(sieved, codes):
            break
        codes = sieved
    return codes


def _blocks(width: int, height: int, block: int) -> Iterator[Window]:
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def class_polygons(path: Path, progress: Progress | None = None, min_region: int = 0,
                   block: int | None = None, connectivity: int = 4,
                   class_codes: ClassCodes | None = None) -> Iterator[ClassPolygon]:
    """Polygons of every class region of ``path``'s band 1, block by block.

    Args:
        path: a class raster (codes in band 1; its nodata value, or 0, is left out).
        min_region: regions of fewer pixels are merged into their largest neighbouring class
            before vectorising (0: keep everything). Judged within the block and a halo of
            ``min(min_region, 1024)`` px around it, which is exact for regions up to that size.
        block: block side in pixels (default :data:`BLOCK`).
        connectivity: 4 (pixels touching by an edge form a region) or 8.
        class_codes: how band 1's values are read (default FLAIR codes); polygons always get FLAIR codes.
    """
    progress = progress or Progress()
    if connectivity not in (4, 8):
        raise FlairError(f"connectivity must be 4 or 8, not {connectivity}")
    reader = class_codes or ClassCodes("flair", "default")
    with raster_io.open_raster(path) as src:
        if src.dtypes[0] not in ("uint8", "uint16", "int16", "int32", "uint32"):
            raise FlairError(f"{path}: band 1 is {src.dtypes[0]}, not integer class codes")
        windows = list(_blocks(src.width, src.height, block or BLOCK))
        halo = min(min_region, MAX_HALO) if min_region > 1 else 0
        for i, window in enumerate(windows):
            progress.check()
            outer = Window(window.col_off - halo, window.row_off - halo, window.width + 2 * halo,
                           window.height + 2 * halo).intersection(Window(0, 0, src.width, src.height))
            codes = reader.read(src, outer)  # FLAIR codes, uint16, 0 = nodata
            valid = codes != 0
            if halo:
                codes = sieve_progressively(codes, min_region, valid, connectivity)
            r0, c0 = window.row_off - outer.row_off, window.col_off - outer.col_off
            codes = np.ascontiguousarray(codes[r0:r0 + window.height, c0:c0 + window.width])
            valid = valid[r0:r0 + window.height, c0:c0 + window.width]
            if valid.any():
                transform = src.window_transform(window)
                for geometry, value in shapes(codes, mask=valid, connectivity=connectivity, transform=transform):
                    yield ClassPolygon(int(value), polygon_wkt(geometry))
            progress.fraction((i + 1) / len(windows))
