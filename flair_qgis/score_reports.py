"""Scores written and shown: JSON (with what was evaluated), a CSV table, a row-normalised heat
map (PNG), and a score in a log line."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import Scores


def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path | str, data: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_table(path: Path | str, scores: Scores) -> Path:
    """Per-class scores as CSV, then a row with the mIoU and the OA."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["code", "name", "iou", "f1", "precision", "recall", "reference_pixels", "predicted_pixels"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(fields)
        for c in scores.classes:
            out.writerow([_cell(v) for v in c.as_dict().values()])
        out.writerow(["", "mIoU", _cell(scores.miou), "", "", "", scores.pixels, ""])
        out.writerow(["", "overall accuracy", _cell(scores.oa), "", "", "", scores.pixels, ""])
    return path


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return round(value, 6) if isinstance(value, float) else value


def write_reports(scores: Scores, json_path: Path | str | None = None, csv_path: Path | str | None = None,
                  png_path: Path | str | None = None, about: dict[str, Any] | None = None) -> None:
    """The scores as JSON (with ``about``: what was evaluated), CSV and a row-normalised heat map."""
    if json_path:
        write_json(json_path, {**(about or {}), **scores.as_dict()})
    if csv_path:
        write_table(csv_path, scores)
    if png_path:
        from .plots import heatmap_png

        Path(png_path).parent.mkdir(parents=True, exist_ok=True)
        heatmap_png(np.array(scores.matrix, dtype=np.int64).reshape(len(scores.rows), len(scores.columns)),
                    scores.rows, scores.columns, png_path)


def fmt(value: float | None) -> str:
    """A score for a log line: 4 decimals, or ``n/a`` when there is none."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
