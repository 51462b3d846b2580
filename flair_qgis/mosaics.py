"""Mosaics: the raster a path is (a file, or a VRT over a folder of tiles: an INPUT zone, IGN's
5 km IRC or height tiles), the VRT of a sharded run's shards, and the GeoTIFF (optionally
Cloud-Optimised) made from it. GDAL builds the VRTs (:mod:`.vrt`); band sources and the distributed
package both use this module, which imports neither."""

from __future__ import annotations

from pathlib import Path

from . import vrt
from .errors import FlairError
from .files import publish, remove_stale_temporaries, temporary_file

RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}


def zone_raster(path: Path | str, work_dir: Path, exclude: tuple[Path, ...] = (), name: str = "input",
                vrt_name: str = "zone.vrt") -> Path:
    """The raster that ``path`` (the layer called ``name`` in messages) is: itself for a file (a VRT,
    a GeoTIFF), or a mosaic VRT ``vrt_name`` built in ``work_dir`` over every raster file found in
    a folder (recursively; ``exclude`` skipped)."""
    path = Path(path)
    if not path.exists():
        raise FlairError(f"{name} raster {path} does not exist: check the path")
    if not path.is_dir():
        return path
    files = zone_files(path, exclude)
    if not files:
        raise FlairError(f"the {name} folder {path} holds no raster files ({', '.join(sorted(RASTER_SUFFIXES))})")
    return build_vrt(files, work_dir / vrt_name)


def zone_files(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The raster files of a folder of tiles, recursively, without hidden ones, shard folders and
    ``exclude`` (files or folders)."""
    skip = [p.resolve() for p in exclude]
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") or part.endswith(".shards") for part in p.relative_to(folder).parts)
                  and not any(p.resolve() == s or s in p.resolve().parents for s in skip))


def build_vrt(files: list[Path], vrt_path: Path) -> Path:
    """A mosaic VRT of ``files``, which must share CRS, pixel size, bands and type and lie on one
    pixel grid (else a FlairError names the file and the fix). Where the files leave gaps and
    declare no nodata nor alpha, an alpha band marks the gaps, so that they are nodata (not
    computed) rather than black orthophoto."""
    import rasterio

    infos = []
    for f in files:
        try:
            with rasterio.open(f) as src:
                infos.append(dict(path=f.resolve(), crs=src.crs, res=src.res, count=src.count,
                                  dtypes=src.dtypes, bounds=src.bounds, width=src.width, height=src.height,
                                  nodata=src.nodata, colorinterp=src.colorinterp,
                                  rotated=src.transform.b != 0 or src.transform.d != 0))
        except rasterio.errors.RasterioError as e:
            raise FlairError(f"{f} cannot be read as a raster ({e})") from None
    first = infos[0]
    if first["crs"] is None:
        raise FlairError(f"{first['path']} has no CRS: assign one to the tiles (gdal_edit.py -a_srs EPSG:2154)")
    for i in infos:
        why = ("its CRS differs" if i["crs"] != first["crs"] else
               "its pixel size differs" if any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(i["res"], first["res"])) else
               "its number of bands differs" if i["count"] != first["count"] else
               "its data type differs" if i["dtypes"] != first["dtypes"] else
               "it is rotated" if i["rotated"] else None)
        if why:
            raise FlairError(f"{i['path']} cannot join {first['path']} in one zone: {why}; "
                             "reproject or resample the tiles to one grid first (gdalwarp)")
    xres, yres = first["res"]
    left = min(i["bounds"].left for i in infos)
    top = max(i["bounds"].top for i in infos)
    right = max(i["bounds"].right for i in infos)
    bottom = min(i["bounds"].bottom for i in infos)
    for i in infos:
        x, y = (i["bounds"].left - left) / xres, (top - i["bounds"].top) / yres
        if abs(x - round(x)) > 1e-3 or abs(y - round(y)) > 1e-3:
            raise FlairError(f"{i['path']} is not on the pixel grid of {first['path']} (offset of "
                             f"{x - round(x):.3f}, {y - round(y):.3f} px): resample it onto one grid first")
    has_alpha = any(ci.name == "alpha" for ci in first["colorinterp"])
    covered = sum(i["width"] * i["height"] for i in infos)
    gaps = covered < round((right - left) / xres) * round((top - bottom) / yres)
    add_alpha = first["nodata"] is None and not has_alpha and gaps
    return vrt.mosaic([i["path"] for i in infos], vrt_path, add_alpha=add_alpha)


def assemble_vrt(vrt_path: Path, shards_dir: Path, blocks: list, argmax: bool = True) -> Path:
    """A VRT over the shards of ``blocks`` (paths relative to it when the shards lie beside it),
    with the shards' georeferencing, colour table, band names and metadata."""
    import rasterio

    with rasterio.open(shards_dir / f"{blocks[0].name}.tif") as src:
        tags, band_tags, names = src.tags(), [src.tags(i) for i in range(1, src.count + 1)], src.descriptions

    def describe(ds) -> None:
        ds.SetMetadata(tags)
        for b in range(1, ds.RasterCount + 1):
            band = ds.GetRasterBand(b)
            if names[b - 1]:
                band.SetDescription(names[b - 1])
            if band_tags[b - 1]:
                band.SetMetadata(band_tags[b - 1])

    return vrt.mosaic([shards_dir / f"{b.name}.tif" for b in blocks], vrt_path, describe=describe)


def write_cog(vrt_path: Path, cog_path: Path, argmax: bool = True) -> Path:
    """One Cloud-Optimised GeoTIFF with overviews (mode of the classes, or mean of probabilities),
    written under a temporary name and moved into place."""
    return _copy(vrt_path, cog_path, "COG", "COG", COMPRESS="DEFLATE", PREDICTOR="YES", BLOCKSIZE=256,
                 BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS", OVERVIEW_RESAMPLING="MODE" if argmax else "AVERAGE")


def write_geotiff(vrt_path: Path, tif_path: Path) -> Path:
    """The mosaic as one tiled, compressed GeoTIFF (colour table, band names and tags kept), written
    under a temporary name and moved into place."""
    return _copy(vrt_path, tif_path, "GTiff", "GeoTIFF", TILED="YES", BLOCKXSIZE=256, BLOCKYSIZE=256,
                 COMPRESS="DEFLATE", PREDICTOR=2, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")


def _copy(vrt_path: Path, path: Path, driver: str, what: str, **creation) -> Path:
    import rasterio
    import rasterio.shutil

    remove_stale_temporaries(path)
    tmp = temporary_file(path, ".tmp.tif")
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(str(vrt_path), tmp, driver=driver, **creation)
        publish(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, rasterio.errors.RasterioError):
            raise FlairError(f"writing the {what} {path} failed (is the disk full?): {e}") from None
        raise
    return path
