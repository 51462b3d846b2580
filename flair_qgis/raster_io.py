"""Reading input windows and writing the output raster, window by window, atomically."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.windows import Window

from .errors import FlairError
from .palette import ClassInfo


def open_raster(path: Path | str) -> rasterio.DatasetReader:
    """Open a raster for reading; a missing or unreadable file gives a :class:`FlairError`."""
    path = Path(path)
    if not path.exists():
        raise FlairError(f"input raster {path} does not exist")
    try:
        return rasterio.open(path)
    except RasterioError as e:
        raise FlairError(f"input raster {path} cannot be read as a raster ({e})") from None


def default_bands(src: rasterio.DatasetReader, needed: int) -> list[int]:
    """The first ``needed`` bands that are not alpha bands (1-based)."""
    usable = [i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha]
    return usable[:needed]


def check_bands(src: rasterio.DatasetReader, bands: list[int], needed: int, roles: tuple[str, ...]) -> None:
    """The chosen bands exist and are as many as the model takes."""
    bad = [b for b in bands if not 1 <= b <= src.count]
    if bad:
        raise FlairError(f"band {bad[0]} does not exist in {src.name}, which has {src.count} band(s): "
                         f"choose bands between 1 and {src.count}")
    if len(bands) != needed:
        raise FlairError(f"the model takes {needed} bands ({', '.join(roles)}) but {len(bands)} "
                         f"{'was' if len(bands) == 1 else 'were'} given ({bands}) from {src.name}, which has "
                         f"{src.count}: list exactly {needed} band numbers in the model's order")


def read_block(src: rasterio.DatasetReader, bands: list[int], col: int, row: int, width: int,
               height: int) -> np.ndarray:
    """``bands`` over a width×height block at (col, row), zeros where it leaves the raster
    (flair-detect's boundless read)."""
    out = np.zeros((len(bands), height, width), dtype=src.dtypes[bands[0] - 1])
    c0, r0 = max(col, 0), max(row, 0)
    c1, r1 = min(col + width, src.width), min(row + height, src.height)
    if c1 > c0 and r1 > r0:
        window = Window(c0, r0, c1 - c0, r1 - r0)
        out[:, r0 - row:r1 - row, c0 - col:c1 - col] = src.read(bands, window=window)
    return out


def read_tile(src: rasterio.DatasetReader, bands: list[int], col: int, row: int, size: int) -> np.ndarray:
    """A ``size``×``size`` tile at (col, row); see :func:`read_block`."""
    return read_block(src, bands, col, row, size, size)


def read_valid(src: rasterio.DatasetReader, bands: list[int], window: Window) -> np.ndarray:
    """True where a pixel has data in at least one of ``bands`` (GDAL's nodata value, alpha band
    or mask), as a boolean array of the window's shape."""
    masks = src.read_masks(bands, window=window)
    return masks.any(axis=0)


def has_nodata(src: rasterio.DatasetReader) -> bool:
    """Whether the raster declares any nodata (value, alpha band or mask) at all."""
    from rasterio.enums import MaskFlags

    return any(MaskFlags.all_valid not in flags for flags in src.mask_flag_enums)


@dataclass
class OutputSpec:
    """The output GeoTIFF's grid and content."""

    width: int
    height: int
    count: int
    crs: Any
    transform: Any
    classes: tuple[ClassInfo, ...] = ()
    band_names: tuple[str, ...] = ()
    nodata: int | None = 0
    tags: dict[str, str] | None = None
    block: int = 256


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files that runs killed while writing ``path`` left behind (their
    names carry the writing process's id; files of live processes are kept)."""
    removed = []
    for tmp in Path(path).parent.glob(f".{Path(path).stem}.*.tmp.tif"):
        parts = tmp.name[len(Path(path).stem) + 2:].split(".")
        if not parts or not parts[0].isdigit():
            continue
        try:
            os.kill(int(parts[0]), 0)
            continue  # still running
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
        except PermissionError:
            continue
    return removed


class AtomicRasterWriter:
    """A tiled, compressed uint8 GeoTIFF written under a temporary name next to ``path`` and
    renamed to ``path`` only by :meth:`commit`; on error or cancel the temporary file is removed
    and an existing ``path`` is left untouched."""

    def __init__(self, path: Path | str, spec: OutputSpec) -> None:
        self.path = Path(path)
        self.spec = spec
        self._tmp: Path | None = None
        self._dst: rasterio.io.DatasetWriter | None = None
        # Masks go inside the TIFF, so that the one file moved into place carries them.
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)

    def __enter__(self) -> "AtomicRasterWriter":
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FlairError(f"cannot create the output folder {folder}: {e}") from None
        if not os.access(folder, os.W_OK):
            raise FlairError(f"the output folder {folder} is not writable: choose another output path")
        remove_stale_temporaries(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.{os.getpid()}.", suffix=".tmp.tif", dir=folder)
        os.close(fd)
        self._tmp = Path(tmp)
        self._env.__enter__()
        s = self.spec
        profile = dict(driver="GTiff", width=s.width, height=s.height, count=s.count, dtype="uint8",
                       crs=s.crs, transform=s.transform, nodata=s.nodata, tiled=True,
                       blockxsize=s.block, blockysize=s.block, compress="deflate", predictor=2,
                       bigtiff="if_safer", interleave="band")
        try:
            self._dst = rasterio.open(self._tmp, "w", **profile)
        except RasterioError as e:
            self._cleanup()
            raise FlairError(f"cannot write {self.path}: {e}") from None
        self._describe()
        return self

    def _describe(self) -> None:
        s, dst = self.spec, self._dst
        assert dst is not None
        if s.classes:
            dst.write_colormap(1, {0: (0, 0, 0, 0), **{c.code: c.rgba() for c in s.classes}})
            dst.update_tags(1, **{f"CLASS_{c.code}": c.name for c in s.classes})
        for i, name in enumerate(s.band_names, start=1):
            dst.set_band_description(i, name)
        if s.tags:
            dst.update_tags(**s.tags)

    def write(self, data: np.ndarray, window: Window) -> None:
        assert self._dst is not None
        try:
            self._dst.write(data, window=window)
        except RasterioError as e:
            raise FlairError(f"writing {self.path} failed (is the disk full?): {e}") from None

    def write_mask(self, valid: np.ndarray, window: Window) -> None:
        assert self._dst is not None
        self._dst.write_mask(np.where(valid, 255, 0).astype(np.uint8), window=window)

    def commit(self) -> Path:
        """Close the file and move it into place."""
        assert self._dst is not None and self._tmp is not None
        try:
            self._dst.close()
            os.replace(self._tmp, self.path)
        except (RasterioError, OSError) as e:
            self._cleanup()
            raise FlairError(f"finishing {self.path} failed (is the disk full?): {e}") from None
        self._dst = self._tmp = None
        self._env.__exit__(None, None, None)
        return self.path

    def _cleanup(self) -> None:
        if self._dst is not None:
            try:
                self._dst.close()
            except RasterioError:
                pass
            self._dst = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            Path(str(self._tmp) + ".aux.xml").unlink(missing_ok=True)
            self._tmp = None
            self._env.__exit__(None, None, None)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._tmp is not None:
            self._cleanup()


def overview_sample(src: rasterio.DatasetReader, bands: list[int], max_side: int = 1024
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A decimated read of the whole raster (at most ``max_side`` px a side) and its valid mask,
    for statistics."""
    factor = max(1, math.ceil(max(src.width, src.height) / max_side))
    shape = (max(1, src.height // factor), max(1, src.width // factor))
    data = src.read(bands, out_shape=(len(bands), *shape))
    valid = src.read_masks(bands, out_shape=(len(bands), *shape)).any(axis=0)
    return data, valid


class Validity:
    """Where the input counts: pixels with data (nodata value, alpha band or mask) and, when
    ``geometries`` are given (GeoJSON-like, in the raster's CRS), inside them. ``None`` from a
    call means every pixel of the window counts."""

    def __init__(self, src: rasterio.DatasetReader, bands: list[int], geometries: list[dict] | None = None):
        self.bands = bands
        self.nodata = has_nodata(src)
        self.geometries = geometries or None

    @property
    def active(self) -> bool:
        return self.nodata or self.geometries is not None

    def __call__(self, src: rasterio.DatasetReader, window: Window) -> np.ndarray | None:
        valid = read_valid(src, self.bands, window) if self.nodata else None
        if self.geometries is not None:
            from rasterio.features import geometry_mask

            inside = geometry_mask(self.geometries, out_shape=(int(window.height), int(window.width)),
                                   transform=src.window_transform(window), invert=True)
            valid = inside if valid is None else valid & inside
        return valid
