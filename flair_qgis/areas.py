"""Area and share of each class in a class raster, counted window by window.

Counts come either from the whole raster (:func:`count_classes`, bounded memory) or from the
caller (per zone: the Processing algorithm gets them from QGIS's zonal histogram); :func:`area_table`
turns counts into areas in m² and ha and shares in %.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import raster_io
from .class_codes import ClassCodes
from .errors import FlairError
from .palette import ClassInfo
from .progress import Progress

ROWS = 1024  # rows per window
BINCOUNT_LIMIT = 1 << 16  # codes counted with np.bincount below this (16-bit classes), sorted above


@dataclass(frozen=True)
class ClassArea:
    """One class's pixels, area and share of the classified (non-nodata) pixels."""

    code: int
    name: str
    pixels: int
    area_m2: float
    area_ha: float
    share_pct: float


def pixel_area(path: Path) -> float:
    """Area of one pixel in m²; the raster's CRS must be projected in metres (or feet, converted)."""
    with raster_io.open_raster(path) as src:
        crs = src.crs
        if crs is None:
            raise FlairError(f"{path} has no CRS: areas cannot be measured")
        if not crs.is_projected:
            raise FlairError(f"{path} is in a geographic CRS ({crs.to_string()}): reproject it to a projected "
                             "CRS in metres (e.g. Lambert-93, EPSG:2154) to measure areas")
        factor = crs.linear_units_factor[1] if hasattr(crs, "linear_units_factor") else 1.0
        t = src.transform
        return abs(t.a * t.e - t.b * t.d) * factor * factor


def count_classes(path: Path, progress: Progress | None = None, rows: int = ROWS,
                  class_codes: ClassCodes | None = None) -> tuple[Counter, int]:
    """Pixels of each FLAIR code in band 1, and the number of nodata pixels (nodata value, 0 and
    masked pixels). ``class_codes``: how the values are read (default FLAIR codes; see ``class_codes``)."""
    progress = progress or Progress()
    reader = class_codes or ClassCodes("flair", "default")
    counts: Counter = Counter()
    nodata_pixels = 0
    with raster_io.open_raster(path) as src:
        if src.dtypes[0] not in ("uint8", "uint16", "int16", "int32", "uint32"):
            raise FlairError(f"{path}: band 1 is {src.dtypes[0]}, not integer class codes")
        for row in range(0, src.height, rows):
            progress.check()
            window = ((row, min(row + rows, src.height)), (0, src.width))
            found, zeros = tally(reader.read(src, window))
            counts.update(found)
            nodata_pixels += zeros
            progress.fraction(min(row + rows, src.height) / src.height)
    return counts, nodata_pixels


def tally(codes: np.ndarray) -> tuple[dict[int, int], int]:
    """The pixels of each non-zero code in ``codes``, and the number of zeros (nodata). Codes below
    :data:`BINCOUNT_LIMIT` are counted with ``np.bincount`` (tens of times faster than sorting them)."""
    flat = codes.ravel()
    if not flat.size:
        return {}, 0
    if flat.min() >= 0 and flat.max() < BINCOUNT_LIMIT:
        n = np.bincount(flat)
        found = np.flatnonzero(n[1:]) + 1
        return dict(zip(found.tolist(), n[found].tolist())), int(n[0])
    valid = flat != 0
    values, n = np.unique(flat[valid], return_counts=True)
    return dict(zip(values.tolist(), n.tolist())), int(flat.size - valid.sum())


def area_table(counts: Mapping[int, int], pixel_area_m2: float, classes: Sequence[ClassInfo] = ()) -> list[ClassArea]:
    """One row per code counted, in code order, named after ``classes`` (else ``class N``)."""
    names = {c.code: c.name for c in classes}
    total = sum(counts.values())
    rows = []
    for code in sorted(int(c) for c, n in counts.items() if n):
        pixels = int(counts.get(code, 0))
        area = pixels * pixel_area_m2
        rows.append(ClassArea(code, names.get(code, f"class {code}"), pixels, area, area / 10_000.0,
                              100.0 * pixels / total if total else 0.0))
    return rows


def area_differences(exact_m2: Mapping[int, float], polygons_m2: Mapping[int, float], classes: Sequence[ClassInfo] = (),
                     relative: float = 0.01, absolute_m2: float = 1.0) -> list[str]:
    """Classes whose polygon area differs from the raster's exact (pixel-counted) area by more than
    ``relative`` (1 %) and ``absolute_m2``: ``building: 347.6 m² in the raster, 4.9 m² as polygons``,
    largest difference first."""
    names = {c.code: c.name for c in classes}
    rows = []
    for code in sorted(set(exact_m2) | set(polygons_m2)):
        exact, drawn = float(exact_m2.get(code, 0.0)), float(polygons_m2.get(code, 0.0))
        if abs(drawn - exact) > max(absolute_m2, relative * exact):
            rows.append((abs(drawn - exact), f"{names.get(code, f'class {code}')}: {exact:.1f} m² in the raster, "
                                             f"{drawn:.1f} m² as polygons"))
    return [text for _, text in sorted(rows, key=lambda r: -r[0])]
