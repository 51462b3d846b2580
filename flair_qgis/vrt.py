"""Virtual rasters (VRT) built by GDAL itself: mosaics of tiles or shards, and resized views.

GDAL's Python bindings ship with QGIS and with rasterio's GDAL; nothing here writes VRT XML.
GDAL's error state is process-wide and QGIS relies on it, so errors are caught per call
(``gdal.UseExceptions`` is never switched on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from osgeo import gdal

from .errors import FlairError
from .files import publish, temporary_file


def _gdal(what: str, call: Callable[[], Any]) -> Any:
    """Run a GDAL call that returns None on failure; raise a FlairError with GDAL's message."""
    gdal.ErrorReset()
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        result = call()
    finally:
        gdal.PopErrorHandler()
    if result is None:
        raise FlairError(f"{what} failed: {gdal.GetLastErrorMsg() or 'GDAL gave no reason'}")
    return result


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
