"""The tables of a land-cover change (transitions, land take per zone), and staging them and the
figure under temporary names until every output of :func:`change.compare` is complete."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import raster_io
from .change_spec import TRANSITION_FIELDS, WHOLE_OVERLAP, ZONE_FIELDS
from .errors import FlairError
from .palette import palette

CODES = 20  # FLAIR codes 0 (nodata) … 19


@dataclass(frozen=True)
class Transition:
    from_code: int
    from_class: str
    to_code: int
    to_class: str
    pixels: int
    area_m2: float
    area_ha: float


@dataclass(frozen=True)
class ZoneChange:
    zone: str
    artificialised_before_m2: float
    artificialised_after_m2: float
    gain_m2: float
    loss_m2: float
    net_m2: float
    net_pct: float | None
    mapped_m2: float
    covered_pct: float | None = 100.0  # of the zone's area inside the compared overlap


@dataclass
class ChangeResult:
    transitions: list[Transition]
    zones: list[ZoneChange]
    pixel_area_m2: float
    reverted_pixels: int  # changed pixels in regions under the minimum area, counted as unchanged
    outside_before_pct: float
    outside_after_pct: float
    written: dict[str, Path] = field(default_factory=dict)


def result_of(counting: Any, artificialised: tuple[int, ...], area: float, outside_before: float,
            outside_after: float) -> ChangeResult:
    names = {c.code: c.name for c in palette("flair-19")}
    matrix = counting.counts.reshape(CODES, CODES).copy()
    matrix[0, :] = matrix[:, 0] = 0  # nodata at either date
    transitions = [Transition(f, names.get(f, f"class {f}"), t, names.get(t, f"class {t}"), int(matrix[f, t]),
                              float(matrix[f, t] * area), float(matrix[f, t] * area / 10_000.0))
                   for f, t in zip(*(axis.tolist() for axis in np.nonzero(matrix)))]
    if counting.zones:
        zones = []
        for zone, counts, covered in zip(counting.zones, counting.zone_counts, counting.covered):
            counts = counts.reshape(CODES, CODES).copy()
            counts[0, :] = counts[:, 0] = 0
            zones.append(zone_change(zone.name, counts, artificialised, area, covered))
    else:
        zones = [zone_change(WHOLE_OVERLAP, matrix, artificialised, area)]
    return ChangeResult(transitions, zones, area, counting.reverted, outside_before, outside_after)


def zone_change(name: str, matrix: np.ndarray, artificialised: Sequence[int], area: float,
                covered: float | None = 100.0) -> ZoneChange:
    """A zone's artificialised areas from its transition matrix (rows: before, columns: after);
    ``covered``: the share (%) of the zone inside the compared overlap."""
    is_art = np.zeros(CODES, dtype=bool)
    is_art[list(artificialised)] = True
    before = matrix[is_art].sum() * area
    after = matrix[:, is_art].sum() * area
    gain = matrix[np.ix_(~is_art, is_art)].sum() * area
    loss = matrix[np.ix_(is_art, ~is_art)].sum() * area
    mapped = matrix.sum() * area
    net = gain - loss
    return ZoneChange(name, float(before), float(after), float(gain), float(loss), float(net),
                      float(100.0 * net / mapped) if mapped else None, float(mapped), covered)


def _csv_text(fields: Sequence[str], rows: list[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if v is None else round(v, 4) if isinstance(v, float) else v for v in row])
    return out.getvalue()


def _stage(path: Path, write) -> str:
    """Write a file next to ``path`` under a temporary name (``write(tmp)``); returns that name."""
    folder = raster_io.prepare_output_folder(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).stem}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise FlairError(f"cannot write in the output folder {folder} ({e.strerror or e}): choose an output "
                         "path in a folder you can write to, with free space") from None
    os.close(fd)
    try:
        write(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def stage_tables(options: Any, result: ChangeResult, stack: ExitStack) -> dict:
    """The CSV tables and the plot, written under temporary names (removed if anything fails)."""
    staged: dict[str, tuple[str, Path]] = {}

    def cleanup() -> None:
        for tmp, _ in staged.values():
            Path(tmp).unlink(missing_ok=True)

    stack.callback(cleanup)
    tables = [(options.transitions_csv, "transitions", TRANSITION_FIELDS,
               [[getattr(t, f) for f in TRANSITION_FIELDS] for t in result.transitions]),
              (options.zones_csv, "zones", ZONE_FIELDS, [[getattr(z, f) for f in ZONE_FIELDS] for z in result.zones])]
    for path, name, fields, rows in tables:
        if path is not None:
            text = _csv_text(fields, rows)
            staged[name] = (_stage(path, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8")),
                            Path(path))
    if options.plot is not None:
        from .change_plot import change_png

        staged["plot"] = (_stage(options.plot, lambda tmp: change_png(result.transitions, tmp)), Path(options.plot))
    return staged
