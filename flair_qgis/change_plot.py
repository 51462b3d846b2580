"""The change figure (PNG): area of each class at both dates, and the largest class transitions.

Drawn with matplotlib's Agg canvas when matplotlib is importable; without it, the same bars
without text by the numpy PNG writer of :mod:`plots`, so a PNG is always written.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from .palette import palette
from .plots import _matplotlib, _write_png, quiet_pyparsing

TOP_TRANSITIONS = 10


def class_areas_ha(transitions: Sequence) -> tuple[list[int], dict[int, float], dict[int, float]]:
    """Codes present at either date, and the area (ha) of each at the first and the second date."""
    before: dict[int, float] = defaultdict(float)
    after: dict[int, float] = defaultdict(float)
    for t in transitions:
        before[t.from_code] += t.area_ha
        after[t.to_code] += t.area_ha
    return sorted(set(before) | set(after)), before, after


def main_changes(transitions: Sequence, top: int = TOP_TRANSITIONS) -> list:
    """The ``top`` largest transitions between different classes."""
    return sorted((t for t in transitions if t.from_code != t.to_code), key=lambda t: -t.pixels)[:top]


@quiet_pyparsing
def change_png(transitions: Sequence, path: Path | str) -> Path:
    path = Path(path)
    colours = {c.code: c.colour for c in palette("flair-19")}
    codes, before, after = class_areas_ha(transitions)
    changes = main_changes(transitions)
    mpl = _matplotlib()
    if mpl is None:
        _raw(codes, before, after, changes, path)
        return path
    Figure, Canvas = mpl
    small = max([*before.values(), *after.values(), 0.0]) < 10  # under 10 ha: m² read better
    unit, scale = ("m²", 10_000.0) if small else ("ha", 1.0)
    fig = Figure(figsize=(12, max(4.0, 0.35 * max(len(codes), len(changes)) + 1.5)), dpi=100)
    Canvas(fig)
    areas, moves = fig.subplots(1, 2)
    names = {c.code: c.name for c in palette("flair-19")}
    y = np.arange(len(codes))
    areas.barh(y - 0.2, [before[c] * scale for c in codes], 0.4, color=[colours.get(c, "#808080") for c in codes],
               edgecolor="black", linewidth=0.5, alpha=0.5, label="before")
    areas.barh(y + 0.2, [after[c] * scale for c in codes], 0.4, color=[colours.get(c, "#808080") for c in codes],
               edgecolor="black", linewidth=0.5, label="after")
    areas.set_yticks(y, labels=[names.get(c, str(c)) for c in codes])
    areas.invert_yaxis()
    areas.set(xlabel=f"area ({unit})", title="Area per class (pale: before, solid: after)")
    if changes:
        y = np.arange(len(changes))
        moves.barh(y, [t.area_ha * scale for t in changes], color=[colours.get(t.to_code, "#808080") for t in changes],
                   edgecolor="black", linewidth=0.5)
        moves.set_yticks(y, labels=[f"{t.from_class} → {t.to_class}" for t in changes])
        moves.invert_yaxis()
    else:
        moves.text(0.5, 0.5, "no change", ha="center", va="center", transform=moves.transAxes)
    moves.set(xlabel=f"area ({unit})", title="Largest transitions")
    for ax in (areas, moves):
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _raw(codes, before, after, changes, path: Path, w: int = 400, bar: int = 12) -> None:
    rows = max(len(codes) * 2, len(changes), 1)
    canvas = np.full((rows * bar + 20, 2 * w, 3), 255, dtype=np.uint8)
    colours = {c.code: c.rgba()[:3] for c in palette("flair-19")}
    top = max([*before.values(), *after.values(), 1e-12])
    for i, code in enumerate(codes):
        for j, value in enumerate((before[code], after[code])):
            r = 10 + (2 * i + j) * bar
            canvas[r:r + bar - 2, 10:10 + int((w - 20) * value / top)] = colours.get(code, (128, 128, 128))
    most = max([t.area_ha for t in changes] + [1e-12])
    for i, t in enumerate(changes):
        r = 10 + i * bar
        canvas[r:r + bar - 2, w + 10:w + 10 + int((w - 20) * t.area_ha / most)] = colours.get(t.to_code, (128,) * 3)
    _write_png(path, canvas)
