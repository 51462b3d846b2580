"""Zone polygons (communes, parcels…) read from a vector file with GDAL's OGR, for the command line;
inside QGIS the algorithm reads them from the layer instead."""

from __future__ import annotations

import json
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .change import Zone
from .errors import FlairError


def read_zones(path: Path | str, field: str | None, crs_wkt: str) -> list[Zone]:
    """The polygons of ``path``'s first layer in the CRS ``crs_wkt``, named by ``field`` (else the
    feature's number from 1)."""
    from osgeo import gdal, ogr, osr

    with _gdal_errors_quiet():
        return _read(path, field, crs_wkt, gdal, ogr, osr)


@contextmanager
def _gdal_errors_quiet():
    """GDAL's errors kept off stderr while the zones are read (a handler of this thread only), and
    its Python exceptions off in this thread (GDAL ≥ 3.7; the process's setting is restored after):
    failures are checked per call instead."""
    from osgeo import gdal, ogr, osr

    with ExitStack() as stack:
        for module in (gdal, ogr, osr):  # GDAL ≥ 3.7: exceptions off in this thread, restored after
            if hasattr(module, "ExceptionMgr"):
                stack.enter_context(module.ExceptionMgr(useExceptions=False))
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            yield
        finally:
            gdal.PopErrorHandler()


def _read(path: Path | str, field: str | None, crs_wkt: str, gdal, ogr, osr) -> list[Zone]:
    gdal.ErrorReset()
    try:  # raises where the process (or another plugin) has switched GDAL's exceptions on
        source = ogr.Open(str(path))
    except RuntimeError as e:
        raise FlairError(f"zones {path} cannot be read as a vector file ({e}): check the path") from None
    if source is None or source.GetLayerCount() == 0:
        detail = gdal.GetLastErrorMsg()
        raise FlairError(f"zones {path} cannot be read as a vector file{f' ({detail})' if detail else ''}: "
                         "check the path")
    layer = source.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    if field and field not in names:
        raise FlairError(f"zones {path} have no field {field!r}: choose one of {', '.join(names) or '(none)'}")
    target = osr.SpatialReference()
    target.ImportFromWkt(crs_wkt)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    own = layer.GetSpatialRef()
    transform = None
    if own is not None:
        own.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        if not own.IsSame(target):
            transform = osr.CoordinateTransformation(own, target)
    zones: list[Zone] = []
    for number, feature in enumerate(layer, start=1):
        geometry = feature.GetGeometryRef()
        if geometry is None:
            continue
        if ogr.GT_Flatten(geometry.GetGeometryType()) not in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
            raise FlairError(f"zones {path}: feature {number} is a {geometry.GetGeometryName().lower()}, not a "
                             "polygon: choose a polygon layer (communes, parcels…)")
        geometry = geometry.Clone()
        if transform is not None and _transform(geometry, transform) != 0:
            raise FlairError(f"zones {path}: feature {number} cannot be carried into the rasters' CRS "
                             f"({gdal.GetLastErrorMsg() or 'PROJ failed'}): check the zones' CRS")
        name = feature.GetField(field) if field else number
        zones.append(Zone(str(name), json.loads(geometry.ExportToJson())))
    return zones


def _transform(geometry, transform) -> int:
    """``geometry.Transform``'s error code (0: done), whether GDAL raises or returns codes."""
    try:
        return geometry.Transform(transform)
    except RuntimeError:
        return 1
