"""How much of each zone a raster covers (``flair:classareas``), or two maps' overlap (``flair:change``):
a zone wholly outside is named in a warning (an error when none overlaps), a zone partly outside gets
a log line (and in ``flair:change``'s table its covered share, ``covered_pct``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import FlairError

Box = tuple[float, float, float, float]  # left, bottom, right, top


def _ring_area(points: np.ndarray) -> float:
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def _clip(points: np.ndarray, box: Box) -> np.ndarray:
    """A ring clipped to ``box`` (Sutherland–Hodgman: right for the area of any simple ring)."""
    left, bottom, right, top = box
    for axis, limit, keep_above in ((0, left, True), (0, right, False), (1, bottom, True), (1, top, False)):
        if not len(points):
            break
        side = points[:, axis] >= limit if keep_above else points[:, axis] <= limit
        out = []
        for i in range(len(points)):
            p, q, p_in, q_in = points[i - 1], points[i], side[i - 1], side[i]
            if p_in != q_in:
                t = (limit - p[axis]) / (q[axis] - p[axis])
                out.append(p + t * (q - p))
            if q_in:
                out.append(q)
        points = np.array(out, dtype=np.float64).reshape(-1, 2)
    return points


def _polygons(geometry: Mapping[str, Any]) -> list:
    kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return [coordinates]
    if kind == "MultiPolygon":
        return list(coordinates)
    if kind == "GeometryCollection":
        return [p for g in geometry.get("geometries", []) for p in _polygons(g)]
    return []


def covered_pct(geometry: Mapping[str, Any], box: Box) -> float | None:
    """The share (%) of a zone's area inside ``box``; None for a zone without area."""
    total = inside = 0.0
    for polygon in _polygons(geometry):
        for i, ring in enumerate(polygon):
            points = np.asarray(ring, dtype=np.float64).reshape(-1, np.asarray(ring).shape[-1])[:, :2]
            sign = 1.0 if i == 0 else -1.0  # holes
            total += sign * _ring_area(points)
            inside += sign * _ring_area(_clip(points, box))
    if total <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * inside / total))


@dataclass(frozen=True)
class Wording:
    """What the messages call the covered place, and what the table holds for the zones outside."""

    place: str = "the compared overlap"
    rows_outside: tuple[str, str] = ("its row holds zeros (covered_pct 0)", "their rows hold zeros (covered_pct 0)")
    partly_outside: str = "its figures cover the other {share:.1f} % (covered_pct)"


CHANGE = Wording()
RASTER = Wording("the raster", ("it has no rows in the table", "they have no rows in the table"),
                 "its areas are those of the other {share:.1f} %")


def check_coverage(names: Sequence[str], geometries: Sequence[Mapping[str, Any]], box: Box, progress,
                   wording: Wording = CHANGE) -> list[float | None]:
    """Each zone's covered share, with a warning naming those wholly outside ``box`` (an error when
    every zone is) and a log line for those partly outside."""
    shares = [covered_pct(g, box) for g in geometries]
    outside = [n for n, s in zip(names, shares) if s is not None and s == 0.0]
    where = f"{wording.place} (x {box[0]:.1f}–{box[2]:.1f}, y {box[1]:.1f}–{box[3]:.1f})"
    if names and len(outside) == sum(s is not None for s in shares) and outside:
        raise FlairError(f"no zone overlaps {where}: {_zones(outside)} wholly outside it; check "
                         "that the zones are of the mapped place (and in a CRS QGIS knows)")
    if outside:
        one = len(outside) == 1
        progress.warn(f"{len(outside)} zone{'' if one else 's'} lie{'s' if one else ''} wholly outside {where}: "
                      f"{_listed(outside)}; {wording.rows_outside[0 if one else 1]}")
    for name, share in zip(names, shares):
        if share is not None and 0.0 < share < 99.95:
            progress.log(f"zone {name}: {100 - share:.1f} % lies outside {wording.place}; "
                         + wording.partly_outside.format(share=share))
    return shares


def _zones(names: Sequence[str]) -> str:
    """``zone 1 lies`` / ``zones a, b lie``: names (feature numbers when no name field) never read as a count."""
    return f"zone {names[0]} lies" if len(names) == 1 else f"zones {_listed(names)} lie"


def _listed(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
