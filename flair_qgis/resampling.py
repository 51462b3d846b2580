"""Inputs whose pixel size differs from the model's: a resampled view at the model's resolution
(a VRT file, read window by window like any raster), and the way back to the input's grid."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rasterio.windows import Window

from . import vrt
from .errors import FlairError

TOLERANCE = 0.1  # relative difference of pixel size below which the input is used as it is


WORLD_FILES = {"JPEG": ".jgw", "PNG": ".pgw", "GTiff": ".tfw", "GIF": ".gfw", "BMP": ".bpw"}


def check_crs(src: rasterio.DatasetReader) -> None:
    """Georeferencing with a CRS in metres is needed: none, or degrees, is refused with the fix
    that works for the file's format (gdal_edit.py cannot update a JPEG or a PNG)."""
    name = Path(src.name).name
    if src.transform.is_identity and not src.gcps[0] and not src.rpcs:
        world = Path(src.name).with_suffix(WORLD_FILES.get(src.driver, ".wld")).name
        raise FlairError(
            f"input raster {src.name} has no georeferencing (no geotransform: its pixels have no position on "
            f"the ground, as a {src.driver} photo without a world file): georeference it — put its world file "
            f"{world} beside it and save it as a GeoTIFF with its CRS (gdal_translate -a_srs EPSG:2154 {name} "
            f"{Path(name).stem}.tif), or give its corners (gdal_translate -a_srs EPSG:2154 -a_ullr ULX ULY LRX LRY "
            f"{name} {Path(name).stem}.tif), or use QGIS's Georeferencer (Raster → Georeferencer)")
    if src.crs is None:
        fix = (f"gdal_edit.py -a_srs EPSG:2154 {name}" if src.driver == "GTiff" else
               f"save it as a GeoTIFF with its CRS: gdal_translate -a_srs EPSG:2154 {name} {Path(name).stem}.tif, "
               "or QGIS's Raster → Conversion → Translate with 'Override the projection'")
        raise FlairError(f"input raster {src.name} has no CRS (its pixels have a position, in no known "
                         f"coordinate system): assign one ({fix})")
    if src.crs.is_geographic:
        raise FlairError(f"input raster {src.name} is in a geographic CRS ({src.crs.to_string()}, degrees): "
                         "reproject it to a projected CRS in metres first, e.g. Lambert-93 (EPSG:2154) "
                         "or its UTM zone (QGIS: Raster → Projections → Warp; or gdalwarp -t_srs EPSG:2154)")
    if abs(src.transform.b) > 1e-12 or abs(src.transform.d) > 1e-12:
        raise FlairError(f"input raster {src.name} is rotated: warp it to a north-up grid first (gdalwarp)")


def needs_resampling(src: rasterio.DatasetReader, resolution: float, tolerance: float = TOLERANCE) -> bool:
    xres, yres = src.res
    return max(abs(xres - resolution), abs(yres - resolution)) > tolerance * resolution


def to_model_grid(src: rasterio.DatasetReader, resolution: float, path: Path,
                  window: Window | None = None) -> Path:
    """A VRT of ``src`` (or of a window of it) at ``resolution``: bilinear, same extent and CRS."""
    window = window or Window(0, 0, src.width, src.height)
    w0, h0 = int(window.width), int(window.height)
    width = max(1, round(w0 * abs(src.transform.a) / resolution))
    height = max(1, round(h0 * abs(src.transform.e) / resolution))
    return vrt.resized(Path(src.name), path, _cells(window), (width, height), "bilinear")


def to_input_grid(result: Path, src: rasterio.DatasetReader, path: Path, window: Window | None = None) -> Path:
    """A VRT of a result made on the model's grid (the same extent), seen on ``src``'s grid (or that
    of a window of it), nearest neighbour."""
    window = window or Window(0, 0, src.width, src.height)
    with rasterio.open(result) as r:
        whole = (0, 0, r.width, r.height)
    return vrt.resized(Path(result), path, whole, (int(window.width), int(window.height)), "nearest", "Byte")


def _cells(window: Window) -> tuple[int, int, int, int]:
    return int(window.col_off), int(window.row_off), int(window.width), int(window.height)


def strips(width: int, height: int, rows: int = 256) -> list[Window]:
    """Full-width bands of rows, to copy a raster window by window."""
    return [Window(0, r, width, min(rows, height - r)) for r in range(0, height, rows)]

