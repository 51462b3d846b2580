"""PNG figures: training curves and confusion-matrix heat maps.

Drawn with matplotlib when it is importable (QGIS ships it; only its Agg canvas is used, never
pyplot, so a QGIS session's own matplotlib state is left alone). Without matplotlib the same
figures are drawn without text by a small numpy + zlib PNG writer, so a PNG is always written.
Newer pyparsing releases warn (``PyparsingDeprecationWarning``, ~20 lines a figure) about the old
names an older matplotlib (Debian's, QGIS's) still calls: exactly that category is silenced while
a figure is drawn (:func:`quiet_pyparsing`), every other warning is left alone.
"""

from __future__ import annotations

import functools
import math
import struct
import warnings
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np


def _pyparsing_warning() -> type[Warning] | None:
    """pyparsing's deprecation-warning category, when the installed pyparsing has one."""
    try:
        import pyparsing
    except ImportError:
        return None
    category = getattr(pyparsing, "PyparsingDeprecationWarning", None)
    return category if isinstance(category, type) and issubclass(category, Warning) else None


def quiet_pyparsing(draw):  # noqa: ANN001, ANN201 - a decorator
    """``draw`` with pyparsing's deprecation warnings (raised by matplotlib's own calls) silenced."""
    @functools.wraps(draw)
    def quiet(*args, **kwargs):  # noqa: ANN202
        with warnings.catch_warnings():
            category = _pyparsing_warning()
            if category is not None:
                warnings.simplefilter("ignore", category)
            return draw(*args, **kwargs)
    return quiet


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


@quiet_pyparsing
def curves_png(history: Sequence[dict], path: Path | str, title: str = "") -> Path:
    """Loss (training and validation) and validation mIoU per epoch."""
    path = Path(path)
    epochs = [h["epoch"] for h in history]
    series = {k: [_num(h.get(k)) for h in history] for k in ("train_loss", "val_loss", "val_miou")}
    mpl = _matplotlib()
    if mpl is None:
        _curves_raw(series, path)
        return path
    Figure, Canvas = mpl
    fig = Figure(figsize=(9, 3.6), dpi=100)
    Canvas(fig)
    loss, miou = fig.subplots(1, 2)
    loss.plot(epochs, series["train_loss"], "o-", label="training")
    loss.plot(epochs, series["val_loss"], "o-", label="validation")
    loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss.legend()
    miou.plot(epochs, series["val_miou"], "o-", color="tab:green")
    miou.set(xlabel="epoch", ylabel="mIoU", title="Validation mIoU", ylim=(0, 1))
    for ax in (loss, miou):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    return path


@quiet_pyparsing
def heatmap_png(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], path: Path | str,
                title: str = "Confusion matrix normalised by rows") -> Path:
    """``matrix`` (reference rows × predicted columns, counts) drawn normalised by rows."""
    path = Path(path)
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    mpl = _matplotlib()
    if mpl is None:
        _write_png(path, _heatmap_raw(norm))
        return path
    Figure, Canvas = mpl
    n_r, n_c = norm.shape
    size = max(4.0, 0.45 * max(n_r, n_c) + 2.5)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    Canvas(fig)
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n_c), labels=list(columns), rotation=60, ha="right")
    ax.set_yticks(range(n_r), labels=list(rows))
    ax.set(xlabel="predicted", ylabel="reference", title=title)
    if max(n_r, n_c) <= 25:
        for r in range(n_r):
            for c in range(n_c):
                if totals[r, 0] > 0:
                    ax.text(c, r, f"{norm[r, c]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if norm[r, c] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _num(value) -> float:
    return float("nan") if value is None else float(value)


# --- without matplotlib ----------------------------------------------------------------------

def _write_png(path: Path, rgb: np.ndarray) -> None:
    """An 8-bit RGB PNG (rows × cols × 3) from numpy alone."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].astype(np.uint8).tobytes() for r in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    path.write_bytes(png)


def _heatmap_raw(norm: np.ndarray, cell: int = 24) -> np.ndarray:
    white, blue = np.array([247, 251, 255.0]), np.array([8, 48, 107.0])
    colours = white + (blue - white) * norm[..., None]
    return np.kron(colours, np.ones((cell, cell, 1))).astype(np.uint8)


def _curves_raw(series: dict[str, list[float]], path: Path, w: int = 400, h: int = 300) -> None:
    canvas = np.full((h, 2 * w, 3), 255, dtype=np.uint8)
    losses = [v for k in ("train_loss", "val_loss") for v in series[k] if not math.isnan(v)]
    top = max(losses) if losses else 1.0
    panels = [(0, "train_loss", top, (31, 119, 180)), (0, "val_loss", top, (255, 127, 14)),
              (w, "val_miou", 1.0, (44, 160, 44))]
    for x0, key, ymax, colour in panels:
        canvas[h - 20, x0 + 20:x0 + w - 10] = 0
        canvas[10:h - 20, x0 + 20] = 0
        values = series[key]
        points = [(x0 + 20 + int((w - 40) * i / max(1, len(values) - 1)),
                   h - 20 - int((h - 40) * (v / ymax if ymax else 0)))
                  for i, v in enumerate(values) if not math.isnan(v)]
        for (c0, r0), (c1, r1) in zip(points, points[1:] or points):
            steps = max(abs(c1 - c0), abs(r1 - r0), 1)
            for t in np.linspace(0, 1, steps + 1):
                r, c = round(r0 + (r1 - r0) * t), round(c0 + (c1 - c0) * t)
                canvas[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = colour
    _write_png(path, canvas)
