"""Virtual rasters (VRT) built by GDAL itself: mosaics of tiles or shards, resized views, one band
of a layer laid on another raster's grid, stacks of such bands and pixel-function bands.

GDAL's Python bindings ship with QGIS and with rasterio's GDAL. GDAL writes the VRT files: grids,
windows, resampling and nodata are worked out by ``gdal.BuildVRT``/``gdal.Translate``; the bands
made here through the VRT driver (stacks, pixel functions) take whole bands of rasters already on
their grid, handed to the driver as one-line source definitions (its ``new_vrt_sources``).
GDAL's error state is process-wide and QGIS relies on it, so errors are caught per call
(``gdal.UseExceptions`` is never switched on; where another plugin has, it is off for these calls).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from xml.sax.saxutils import escape

from osgeo import gdal

from .errors import FlairError
from .files import publish, temporary_file


def _quietly(call: Callable[[], Any]) -> Any:
    """``call()`` with GDAL's messages held back (kept for :func:`_failed`), not printed, and its
    Python exceptions off in this thread whatever the process's setting (GDAL ≥ 3.7's ``ExceptionMgr``,
    which restores it after: GDAL 3.10 otherwise warns that the setting was never chosen)."""
    manager = getattr(gdal, "ExceptionMgr", None)
    with manager(useExceptions=False) if manager else nullcontext():
        gdal.ErrorReset()
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            return call()
        finally:
            gdal.PopErrorHandler()


def _failed(what: str) -> FlairError:
    return FlairError(f"{what} failed: {gdal.GetLastErrorMsg() or 'GDAL gave no reason'}")


def _gdal(what: str, call: Callable[[], Any]) -> Any:
    """Run a GDAL call that returns None on failure; raise a FlairError with GDAL's message."""
    result = _quietly(call)
    if result is None:
        raise _failed(what)
    return result


def _done(what: str, call: Callable[[], int]) -> None:
    """Run a GDAL call that returns an error code; raise a FlairError with GDAL's message unless it
    is CE_None."""
    if _quietly(call) != gdal.CE_None:
        raise _failed(what)


def mosaic(sources: list[Path], path: Path, add_alpha: bool = False,
           describe: Callable[[Any], None] | None = None) -> Path:
    """``gdal.BuildVRT`` of ``sources`` (on one grid, the first one's pixel size) into ``path``,
    published whole. Sources under ``path``'s folder are referenced relative to it, others by
    absolute path; their nodata values are kept. ``add_alpha`` adds an alpha band that is 0 where
    no source lies (``-addalpha``).
    ``describe(dataset)`` may set metadata, descriptions… on the VRT before it is written."""
    tmp = temporary_file(path, ".tmp.vrt")
    try:
        first = _gdal(f"reading {sources[0]}", lambda: gdal.Open(str(sources[0])))
        gt = first.GetGeoTransform()
        first = None
        # the first source's pixel size exactly (BuildVRT's average would be recomputed, 0.19999…)
        options = gdal.BuildVRTOptions(addAlpha=add_alpha, resolution="user", xRes=gt[1], yRes=abs(gt[5]))
        ds = _gdal(f"building the mosaic {path}",
                   lambda: gdal.BuildVRT(str(tmp), [str(Path(s).resolve()) for s in sources], options=options))
        if describe is not None:
            describe(ds)
        ds.FlushCache()
        ds = None  # closing writes the file
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resized(source: Path, path: Path, window: tuple[int, int, int, int], size: tuple[int, int],
            resampling: str, data_type: str | None = None) -> Path:
    """``gdal.Translate`` to a VRT: the ``window`` (col, row, width, height) of ``source`` resized to
    ``size`` (width, height) pixels over the same extent, with ``resampling`` (bilinear, nearest…),
    as GDAL ``data_type`` (e.g. Byte) or the source's type."""
    options = gdal.TranslateOptions(format="VRT", srcWin=list(window), width=size[0], height=size[1],
                                    resampleAlg=resampling,
                                    outputType=gdal.GetDataTypeByName(data_type) if data_type else gdal.GDT_Unknown)
    ds = _gdal(f"the resampled view {path} of {source}",
               lambda: gdal.Translate(str(path), str(Path(source).resolve()), options=options))
    ds = None  # noqa: F841 - closing writes the file
    return path


@dataclass(frozen=True)
class Grid:
    """A raster's pixel grid: size, GDAL geotransform (north up) and CRS (WKT, or empty)."""

    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]
    srs: str = ""

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y)."""
        x0, dx, _, y0, _, dy = self.transform
        return x0, y0 + self.height * dy, x0 + self.width * dx, y0


def on_grid(source: Path, band: int, grid: Grid, path: Path, resampling: str = "bilinear") -> Path:
    """``gdal.BuildVRT`` of band ``band`` of ``source`` laid on ``grid`` (same CRS, told so): its
    pixels copied where the grids agree, else resampled (``resampling``) from the exact fractional
    window; where the source does not reach and where it is nodata, the VRT (which declares no
    nodata) reads 0. The source's own mask (an alpha band) is not applied: its values are taken
    as they are, whatever the mask of the raster they are stacked with."""
    options = gdal.BuildVRTOptions(["-ignore_srcmaskband"], bandList=[band], outputBounds=grid.bounds,
                                   resolution="user", xRes=grid.transform[1], yRes=-grid.transform[5],
                                   resampleAlg=resampling, outputSRS=grid.srs or None, VRTNodata="None")
    ds = _gdal(f"laying {source} on the input's grid",
               lambda: gdal.BuildVRT(str(path), [str(Path(source).resolve())], options=options))
    size = (ds.RasterXSize, ds.RasterYSize)
    ds = None  # closing writes the file
    if size != (grid.width, grid.height):
        raise FlairError(f"laying {source} on the input's grid gave {size[0]}×{size[1]} px instead of "
                         f"{grid.width}×{grid.height}")
    return path


def derived(path: Path, grid: Grid, function: str, sources: Sequence[tuple[Path, str, float]], data_type: str,
            transfer_type: str, description: str = "") -> Path:
    """A one-band VRT on ``grid`` whose band is GDAL's pixel function ``function`` (``sum``,
    ``diff``…) of ``sources``: (raster on ``grid``, its band — e.g. ``1`` or ``mask,1`` —, scale),
    computed in ``transfer_type`` and written as ``data_type`` (GDAL names; cast as GDAL casts)."""
    ds = _create(path, grid)
    options = ["subClass=VRTDerivedRasterBand", f"PixelFunctionType={function}", f"SourceTransferType={transfer_type}"]
    _done(f"the {function} band of {path}", lambda: ds.AddBand(gdal.GetDataTypeByName(data_type), options))
    band = ds.GetRasterBand(1)
    band.SetDescription(description)
    for i, (source, source_band, scale) in enumerate(sources):
        _done(f"adding {source} to {path}", lambda: band.SetMetadataItem(
            f"source_{i}", _whole(source, source_band, grid, scale), "new_vrt_sources"))
    ds = None  # closing writes the file
    return path


def stack(path: Path, grid: Grid, bands: Sequence[tuple[Path, str]], mask: Path | None = None) -> Path:
    """A VRT on ``grid`` whose bands are the first bands of ``bands`` (rasters on ``grid``, and each
    band's description), in one data type (theirs when they share it, else Float32), with band 1 of
    ``mask`` (on ``grid``) as its mask (valid where non-zero) when given."""
    types = set()
    for source, _ in bands:
        ds = _gdal(f"reading {source}", lambda: gdal.Open(str(source)))
        types.add(ds.GetRasterBand(1).DataType)
        ds = None
    data_type = types.pop() if len(types) == 1 else gdal.GDT_Float32
    ds = _create(path, grid)
    for i, (source, description) in enumerate(bands, start=1):
        _done(f"band {i} of {path}", lambda: ds.AddBand(data_type))
        band = ds.GetRasterBand(i)
        band.SetDescription(description)
        _done(f"adding {source} to {path}",
              lambda: band.SetMetadataItem("source_0", _whole(source, "1", grid), "new_vrt_sources"))
    if mask is not None:
        _done(f"the mask of {path}", lambda: ds.CreateMaskBand(gdal.GMF_PER_DATASET))
        _done(f"adding {mask} to {path}", lambda: ds.GetRasterBand(1).GetMaskBand().SetMetadataItem(
            "source_0", _whole(mask, "1", grid), "new_vrt_sources"))
    ds = None  # closing writes the file
    return path


def _create(path: Path, grid: Grid) -> Any:
    ds = _gdal(f"creating {path}", lambda: gdal.GetDriverByName("VRT").Create(str(path), grid.width, grid.height, 0))
    ds.SetGeoTransform(grid.transform)
    if grid.srs:
        ds.SetProjection(grid.srs)
    return ds


def _whole(source: Path, band: str, grid: Grid, scale: float = 1.0) -> str:
    """The VRT driver's definition of a source that is the whole of ``band`` of ``source``, a
    raster on ``grid`` (pixel for pixel: no window, no resampling), multiplied by ``scale``."""
    kind = "SimpleSource" if scale == 1.0 else "ComplexSource"
    rect = f'xOff="0" yOff="0" xSize="{grid.width}" ySize="{grid.height}"'
    scaling = "" if scale == 1.0 else f"<ScaleOffset>0</ScaleOffset><ScaleRatio>{scale!r}</ScaleRatio>"
    return (f'<{kind}><SourceFilename relativeToVRT="0">{escape(str(Path(source).resolve()))}'
            f"</SourceFilename><SourceBand>{band}</SourceBand><SrcRect {rect}/><DstRect {rect}/>{scaling}</{kind}>")
