"""Per-band normalisation of raw pixel values, as FLAIR-1 does it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FlairError

_TABLES: dict = {}  # (Normalisation, bands) → its 8-bit table

NORM_TYPES = ("custom", "scaling", "without")

# FLAIR-1 statistics of 8-bit BD ORTHO R, G, B, NIR and elevation (IGNF model cards).
FLAIR_MEANS = {"R": 105.08, "G": 110.87, "B": 101.82, "NIR": 106.38, "Elevation": 53.26}
FLAIR_STDS = {"R": 52.17, "G": 45.38, "B": 44.00, "NIR": 39.69, "Elevation": 79.30}


@dataclass(frozen=True)
class Normalisation:
    """``custom``: (x - mean) / std per band; ``scaling``: x / dtype maximum (skimage's
    ``img_as_float``, i.e. x / 255 for 8-bit); ``without``: raw values."""

    type: str = "custom"
    means: tuple[float, ...] = ()
    stds: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in NORM_TYPES:
            raise FlairError(f"unknown normalisation {self.type!r}: use one of {', '.join(NORM_TYPES)}")
        if self.type == "custom":
            if len(self.means) != len(self.stds) or not self.means:
                raise FlairError(
                    f"custom normalisation needs as many means as stds (got {len(self.means)} means, "
                    f"{len(self.stds)} stds)"
                )
            if any(s == 0 for s in self.stds):
                raise FlairError("custom normalisation: a standard deviation of 0 is not allowed")

    @classmethod
    def for_bands(cls, roles: tuple[str, ...]) -> "Normalisation":
        """FLAIR statistics for the given band roles (R, G, B, NIR, Elevation)."""
        return cls("custom", tuple(FLAIR_MEANS[r] for r in roles), tuple(FLAIR_STDS[r] for r in roles))

    def check_bands(self, count: int) -> None:
        if self.type == "custom" and len(self.means) != count:
            raise FlairError(
                f"custom normalisation has {len(self.means)} means/stds but {count} bands are fed to "
                "the model: give one mean and one std per band"
            )

    def apply(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalise ``pixels`` (bands first, or batch first) and return float32, into ``out`` when
        given (a reused buffer of the same shape).

        Computed in float64 then cast, exactly as flair-detect does, so the model sees the same
        numbers; 8-bit pixels go through a 256-value table per band computed that way (the same
        values, without a float64 copy of the batch).
        """
        if pixels.dtype == np.uint8:
            return self._from_table(pixels, out)
        if self.type == "without":
            x = pixels.astype(np.float32)
        elif self.type == "scaling":
            x = _scale_to_unit(pixels).astype(np.float32)
        else:
            x = pixels.astype(np.float64)
            shape = (-1, 1, 1) if x.ndim == 3 else (1, -1, 1, 1)  # bands first, or batch first
            means = np.asarray(self.means, dtype=np.float64).reshape(shape)
            stds = np.asarray(self.stds, dtype=np.float64).reshape(shape)
            x = ((x - means) / stds).astype(np.float32)
        if out is None:
            return x
        out[...] = x
        return out

    def _from_table(self, pixels: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            out = np.empty(pixels.shape, np.float32)
        bands_axis = 0 if pixels.ndim == 3 else 1
        table = self.table(pixels.shape[bands_axis])
        for b in range(pixels.shape[bands_axis]):
            index = (b,) if bands_axis == 0 else (slice(None), b)
            np.take(table[b], pixels[index], out=out[index])
        return out

    def table(self, bands: int) -> np.ndarray:
        """bands×256 float32: the normalised value of every 8-bit value of each band, computed as
        :meth:`apply` computes it for other types (float64, then cast)."""
        key = (self, bands)
        if key not in _TABLES:
            values = np.arange(256, dtype=np.float64)
            if self.type == "custom":
                self.check_bands(bands)
                rows = [(values - m) / s for m, s in zip(self.means, self.stds)]
            else:  # scaling: x / 255 (skimage's rule for 8-bit); without: x
                rows = [values / 255 if self.type == "scaling" else values] * bands
            _TABLES[key] = np.stack(rows).astype(np.float32)
        return _TABLES[key]

    def as_dict(self) -> dict:
        return {"type": self.type, "means": list(self.means), "stds": list(self.stds)}

    @classmethod
    def from_dict(cls, data: dict) -> "Normalisation":
        return cls(data.get("type", "custom"), tuple(data.get("means", ())), tuple(data.get("stds", ())))


def _scale_to_unit(pixels: np.ndarray) -> np.ndarray:
    """Integers divided by their type's maximum (skimage's rule); floats unchanged."""
    if np.issubdtype(pixels.dtype, np.integer):
        return pixels.astype(np.float64) / np.iinfo(pixels.dtype).max
    return pixels.astype(np.float64)


@dataclass(frozen=True)
class Stretch:
    """Maps other bit depths onto the 0–255 range the FLAIR models were trained on:
    (x − low) / (high − low) × 255 per band, clipped, as uint8."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    rule: str = ""

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 1) if pixels.ndim == 3 else (1, -1, 1, 1)
        low = np.asarray(self.low, np.float64).reshape(shape)
        span = np.maximum(np.asarray(self.high, np.float64).reshape(shape) - low, 1e-9)
        return np.clip(np.rint((pixels - low) / span * 255.0), 0, 255).astype(np.uint8)


def percentile_stretch(sample: np.ndarray, valid: np.ndarray | None, low: float = 2.0,
                       high: float = 98.0) -> Stretch:
    """The ``low``–``high`` percentiles of each band of ``sample`` (bands first), nodata left out."""
    lows, highs = [], []
    for band in sample:
        values = band[valid] if valid is not None else band.ravel()
        if values.size == 0:
            values = np.zeros(1)
        lo, hi = np.percentile(values, [low, high])
        lows.append(float(lo))
        highs.append(float(hi) if hi > lo else float(lo) + 1.0)
    return Stretch(tuple(lows), tuple(highs), f"per-band {low:g}–{high:g} % percentile stretch")
