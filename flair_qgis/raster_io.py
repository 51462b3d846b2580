"""Reading input windows and writing the output raster, window by window, atomically."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from .errors import FlairError
from .gdal_failures import GdalFailures
from .files import publish, remove_stale_temporaries, temporary_file
from .grids import output_crs
from .palette import ClassInfo


def open_raster(path: Path | str) -> rasterio.DatasetReader:
    """Open a raster for reading; a missing or unreadable file gives a :class:`FlairError`."""
    path = Path(path)
    if not path.exists():
        raise FlairError(f"input raster {path} does not exist: check the path (was the file moved, "
                         "renamed or on a drive not mounted?)")
    try:
        with warnings.catch_warnings():  # a raster without georeferencing is refused with advice, later
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as e:
        if "dimensions" in str(e):
            raise FlairError(f"input raster {path} is empty (it has no pixels: {e}): choose a raster "
                             "with data") from None
        raise FlairError(f"input raster {path} cannot be read as a raster ({e}): check that it opens in "
                         "QGIS; if the file is damaged or incomplete, copy or export it again (GeoTIFF)") from None


def default_bands(src: rasterio.DatasetReader, needed: int) -> list[int]:
    """The first ``needed`` bands that are not alpha bands (1-based)."""
    usable = [i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha]
    return usable[:needed]


def bands_for_roles(src: rasterio.DatasetReader, roles: tuple[str, ...]) -> list[int]:
    """The default bands for a model taking ``roles``: an IR model (NIR, R, G, as FLAIR-HUB's) takes
    bands 4, 1, 2 of a raster with four or more (IGN's RGBI order), as FLAIR-HUB does; any other model,
    or a 3-band raster (taken as IGN's IRC false colour), the first non-alpha bands."""
    usable = default_bands(src, src.count)
    if tuple(roles) == ("NIR", "R", "G") and len(usable) >= 4:
        return [usable[3], usable[0], usable[1]]
    return usable[: len(roles)]


def alpha_nir_hint(src: rasterio.DatasetReader, roles: tuple[str, ...]) -> str:
    """For a model taking NIR and a raster whose only band beyond R, G, B is tagged alpha (GDAL takes
    the 4th band of a 4-band byte GeoTIFF for alpha, though IGN's RGBI has NIR there): the BANDS that
    feed that band as NIR, in the model's order. Empty when that does not apply."""
    alpha = [i + 1 for i, ci in enumerate(src.colorinterp) if ci == ColorInterp.alpha]
    usable = default_bands(src, src.count)
    if "NIR" not in roles or len(alpha) != 1 or len(usable) < 3:
        return ""
    by_role = {"R": usable[0], "G": usable[1], "B": usable[2], "NIR": alpha[0]}
    if not all(r in by_role for r in roles):
        return ""
    bands = ",".join(str(by_role[r]) for r in roles)
    return (f"band {alpha[0]} of {src.name} is tagged alpha (GDAL reads the 4th band of a 4-band image as "
            f"alpha): if it holds near-infrared, as in IGN's RGBI imagery, give BANDS={bands} (bands for "
            f"{', '.join(roles)}) to use it as NIR")


def check_band_numbers(src: rasterio.DatasetReader, bands: list[int]) -> None:
    """Every band number names a band of ``src``."""
    bad = [b for b in bands if not 1 <= b <= src.count]
    if bad:
        raise FlairError(f"band {bad[0]} does not exist in {src.name}, which has {src.count} band(s): "
                         f"choose bands between 1 and {src.count}")


def check_bands(src: rasterio.DatasetReader, bands: list[int], needed: int, roles: tuple[str, ...]) -> None:
    """The chosen bands exist and are as many as the model takes."""
    check_band_numbers(src, bands)
    check_band_count(src, bands, needed, roles)


def check_band_count(src: rasterio.DatasetReader, bands: list[int], needed: int, roles: tuple[str, ...]) -> None:
    """Bands of ``src`` (their numbers checked already) are as many as the model takes."""
    usable = len(default_bands(src, src.count))
    if len(bands) != needed and usable < needed:
        alpha = " besides its alpha band" if usable < src.count else ""
        fix = alpha_nir_hint(src, roles) or "use a raster that has these bands, or a model made for the bands it has"
        raise FlairError(f"the model takes {needed} bands ({', '.join(roles)}) but {src.name} has only "
                         f"{usable}{alpha}: {fix}")
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
        try:
            out[:, r0 - row:r1 - row, c0 - col:c1 - col] = src.read(bands, window=window)
        except RasterioError as e:
            raise read_failed(src, e) from None
    return out


def read_failed(src: rasterio.DatasetReader, error: Exception) -> FlairError:
    """The error for pixels of a raster that opened but cannot be read: a damaged file."""
    detail = error.__cause__ or error.__context__ or error
    return FlairError(f"input raster {src.name} opens but its pixels cannot be read ({detail}): the file is "
                      "damaged or incomplete (an interrupted copy or download?); copy or export it again")


def read_tile(src: rasterio.DatasetReader, bands: list[int], col: int, row: int, size: int) -> np.ndarray:
    """A ``size``×``size`` tile at (col, row); see :func:`read_block`."""
    return read_block(src, bands, col, row, size, size)


def read_valid(src: rasterio.DatasetReader, bands: list[int], window: Window) -> np.ndarray:
    """True where a pixel has data in at least one of ``bands`` (GDAL's nodata value, alpha band
    or mask), as a boolean array of the window's shape."""
    try:
        masks = src.read_masks(bands, window=window)
    except RasterioError as e:
        raise read_failed(src, e) from None
    return masks.any(axis=0)


def nodata_values(src: rasterio.DatasetReader, bands: list[int]) -> np.ndarray | None:
    """The nodata value of each of ``bands`` when they are of one integer type and masked by that value
    alone (no alpha or mask band, no NaN): valid where the data is ``!=`` it; else None."""
    dtype, values = src.dtypes[bands[0] - 1], [src.nodatavals[b - 1] for b in bands]
    if not np.issubdtype(np.dtype(dtype), np.integer) or any(v is None or v != int(v) for v in values) or any(
            src.dtypes[b - 1] != dtype or src.mask_flag_enums[b - 1] != [MaskFlags.nodata] for b in bands):
        return None
    return np.array([int(v) for v in values])


def has_nodata(src: rasterio.DatasetReader) -> bool:
    """Whether the raster declares any nodata (value, alpha band or mask) at all."""
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
    dtype: str = "uint8"


def check_output_folder(path: Path | str) -> None:
    """Refuse, creating nothing, an output whose folder could neither be made nor written to."""
    folder = Path(path).absolute().parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise FlairError(f"cannot create the output folder {folder}: {existing} is a file, not a folder; "
                         "choose an output path in a folder you can write to")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FlairError(f"the output folder {existing} is not writable: choose an output path in a folder "
                         "you can write to")


def prepare_output_folder(path: Path | str) -> Path:
    """Create the folder of the output ``path`` if needed; a clear error when that fails or it
    cannot be written to."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FlairError(f"cannot create the output folder {folder} ({e.strerror or e}): choose an output "
                         "path in a folder you can write to") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise FlairError(f"the output folder {folder} is not writable: choose an output path in a folder "
                         "you can write to")
    return folder


class AtomicRasterWriter:
    """A tiled, compressed GeoTIFF (uint8 unless ``spec.dtype`` says otherwise) written under a
    temporary name next to ``path`` and renamed to ``path`` only by :meth:`commit`; on error or
    cancel the temporary file is removed and an existing ``path`` is left untouched."""

    def __init__(self, path: Path | str, spec: OutputSpec) -> None:
        self.path = Path(path)
        self.spec = spec
        self._tmp: Path | None = None
        self._dst: rasterio.io.DatasetWriter | None = None
        # Masks go inside the TIFF, so that the one file moved into place carries them.
        self._env = rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True)
        self._failures = GdalFailures()

    def __enter__(self) -> "AtomicRasterWriter":
        folder = prepare_output_folder(self.path)
        remove_stale_temporaries(self.path)
        try:
            self._tmp = temporary_file(self.path, ".tmp.tif")
        except OSError as e:
            raise FlairError(f"cannot write in the output folder {folder} ({e.strerror or e}): choose an "
                             "output path in a folder you can write to, with free space") from None
        self._env.__enter__()
        self._failures.__enter__()
        s = self.spec
        profile = dict(driver="GTiff", width=s.width, height=s.height, count=s.count, dtype=s.dtype,
                       crs=output_crs(s.crs, rasterio.transform.array_bounds(s.height, s.width, s.transform),
                                      abs(s.transform.a)) if s.crs is not None else None,
                       transform=s.transform, nodata=s.nodata, tiled=True,
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

    def _failed(self, what: str, detail: object) -> FlairError:
        return FlairError(f"{what} {self.path} failed ({detail}): the disk may be full (or the file too "
                          f"large for it); free some space or choose an output folder on another disk, and "
                          "run again. Nothing was written; an existing output is unchanged")

    def _check_gdal(self, what: str) -> None:
        if self._failures.failures:
            raise self._failed(what, f"GDAL: {self._failures.failures[0]}")

    def write(self, data: np.ndarray, window: Window) -> None:
        assert self._dst is not None
        try:
            self._dst.write(data, window=window)
        except RasterioError as e:
            raise self._failed("writing", e) from None
        self._check_gdal("writing")

    def write_mask(self, valid: np.ndarray, window: Window) -> None:
        assert self._dst is not None
        try:
            self._dst.write_mask(np.where(valid, 255, 0).astype(np.uint8), window=window)
        except RasterioError as e:
            raise self._failed("writing", e) from None
        self._check_gdal("writing")

    def commit(self) -> Path:
        """Close the file and move it into place (only if GDAL reported no failure)."""
        assert self._dst is not None and self._tmp is not None
        try:
            self._dst.close()
            self._dst = None
            self._check_gdal("finishing")
            publish(self._tmp, self.path)
        except (RasterioError, OSError) as e:
            self._cleanup()
            raise self._failed("finishing", e) from None
        except FlairError:
            self._cleanup()
            raise
        self._tmp = None
        self._failures.__exit__()
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
            self._failures.__exit__()
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
    try:
        data = src.read(bands, out_shape=(len(bands), *shape))
        valid = src.read_masks(bands, out_shape=(len(bands), *shape)).any(axis=0)
    except RasterioError as e:
        raise read_failed(src, e) from None
    return data, valid


class Validity:
    """Where the input counts: pixels with data (nodata value, alpha band or mask) and, when
    ``geometries`` are given (GeoJSON-like, in the raster's CRS), inside them. ``None`` from a
    call means every pixel of the window counts."""

    def __init__(self, src: rasterio.DatasetReader, bands: list[int], geometries: list[dict] | None = None):
        self.bands = bands
        self.nodata = has_nodata(src)
        self.geometries = geometries or None
        self.values = nodata_values(src, bands) if self.nodata and self.geometries is None else None

    @property
    def active(self) -> bool:
        return self.nodata or self.geometries is not None

    def of_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """:meth:`__call__` from pixels already read (bands first, raw) when :attr:`values` is set."""
        return (pixels != self.values.reshape(-1, 1, 1)).any(axis=0)

    def __call__(self, src: rasterio.DatasetReader, window: Window) -> np.ndarray | None:
        valid = read_valid(src, self.bands, window) if self.nodata else None
        if self.geometries is not None:
            from rasterio.features import geometry_mask

            inside = geometry_mask(self.geometries, out_shape=(int(window.height), int(window.width)),
                                   transform=src.window_transform(window), invert=True)
            valid = inside if valid is None else valid & inside
        return valid
