"""From a QGIS raster layer to what the core reads: a raster file, the window of it to work on,
and mask polygons — rendering layers that are not files (WMS/WMTS/XYZ, virtual, memory) into a
temporary GeoTIFF first."""

import json
import math
from pathlib import Path

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsMapLayerType, QgsProcessingException,
                       QgsRasterFileWriter, QgsRasterPipe, QgsRasterProjector, QgsRectangle)
from qgis.PyQt.QtCore import QCoreApplication

MODEL_RESOLUTION = 0.2  # metres: every FLAIR model's
MAX_RENDERED_PIXELS = 40_000 * 40_000
EDGE_TOLERANCE = 1e-6  # px: an extent this close to a pixel edge is on it


def tr(text):
    return QCoreApplication.translate("layer_input", text)


def is_file_layer(layer) -> bool:
    return layer.providerType() == "gdal" and Path(layer.source().split("|")[0]).is_file()


def is_class_map(layer) -> bool:
    """Whether a raster layer is a land-cover map (a FLAIR output, or any one-band class raster with a
    colour table): never the orthophoto a user means to segment."""
    if layer is None or layer.type() != QgsMapLayerType.RasterLayer or layer.bandCount() != 1:
        return False
    provider = layer.dataProvider()
    if provider is not None and provider.colorTable(1):
        return True
    if layer.renderer() is not None and layer.renderer().type() == "paletted":
        return True
    if layer.providerType() != "gdal":
        return False
    from osgeo import gdal

    dataset = gdal.OpenEx(layer.source().split("|")[0], gdal.OF_RASTER)
    return dataset is not None and dataset.GetMetadataItem("FLAIR_CLASSES") is not None


def preferred_input(active, layers) -> str | None:
    """The layer id the segment dialog should offer as INPUT when the active layer is a class map
    (QGIS would offer the active layer): the first raster of ``layers`` that is not one. ``None``:
    keep QGIS's choice."""
    if not is_class_map(active):
        return None
    return next((layer.id() for layer in layers
                 if layer.type() == QgsMapLayerType.RasterLayer and not is_class_map(layer)), None)


def working_crs(layer, extent: QgsRectangle):
    """The layer's CRS when it is in metres; else Lambert-93 in France, the UTM zone elsewhere."""
    crs = layer.crs()
    if crs.isValid() and not crs.isGeographic():
        return crs
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    centre = QgsCoordinateTransform(crs, wgs84, layer.transformContext()).transform(extent.center()) \
        if crs.isValid() else extent.center()
    if -5.5 <= centre.x() <= 10 and 41 <= centre.y() <= 51.5:
        return QgsCoordinateReferenceSystem("EPSG:2154")
    zone = int((centre.x() + 180) // 6) + 1
    return QgsCoordinateReferenceSystem(f"EPSG:{32600 + zone if centre.y() >= 0 else 32700 + zone}")


def file_grid(layer):
    """(path, CRS, extent, pixel width and height in CRS units, columns, rows) of a file layer."""
    return (Path(layer.source().split("|")[0]), layer.crs(), layer.extent(), layer.rasterUnitsPerPixelX(),
            layer.rasterUnitsPerPixelY(), layer.width(), layer.height())


def render_to_file(layer, extent: QgsRectangle | None, folder: Path, context, feedback):
    """Read or render ``layer`` over ``extent`` (in the layer's CRS; default its whole extent) at
    the models' resolution into a GeoTIFF in ``folder``; returns its grid like :func:`file_grid`."""
    extent = extent if extent is not None and not extent.isEmpty() else layer.extent()
    target = working_crs(layer, extent)
    if target != layer.crs():
        extent = QgsCoordinateTransform(layer.crs(), target, context.transformContext()).transformBoundingBox(extent)
    width = max(1, math.ceil(extent.width() / MODEL_RESOLUTION))
    height = max(1, math.ceil(extent.height() / MODEL_RESOLUTION))
    if width * height > MAX_RENDERED_PIXELS:
        raise QgsProcessingException(tr(
            "Input raster: {} is not a file; rendering it at 0.2 m would make {}×{} px. Choose a smaller "
            "EXTENT, or save the layer as a GeoTIFF first").format(layer.name(), width, height))
    feedback.pushInfo(tr("Reading {} ({} layer) at 0.2 m over {}×{} px in {} into a temporary GeoTIFF")
                      .format(layer.name(), layer.providerType(), width, height, target.authid()))
    pipe = QgsRasterPipe()
    if not pipe.set(layer.dataProvider().clone()):
        raise QgsProcessingException(tr("Input raster: the {} layer cannot be read").format(layer.name()))
    if target != layer.crs():
        projector = QgsRasterProjector()
        projector.setCrs(layer.crs(), target, context.transformContext())
        pipe.insert(2, projector)
    path = folder / "input.tif"
    writer = QgsRasterFileWriter(str(path))
    writer.setCreateOptions(["TILED=YES", "COMPRESS=DEFLATE"])
    error = writer.writeRaster(pipe, width, height, extent, target, context.transformContext())
    if error != QgsRasterFileWriter.WriterError.NoError:
        raise QgsProcessingException(tr("Input raster: reading {} failed (error {}); check the layer "
                                        "loads in QGIS, or save it as a GeoTIFF first").format(layer.name(),
                                                                                              int(error)))
    xres, yres = extent.width() / width, extent.height() / height
    return path, target, extent, xres, yres, width, height


def window_of(grid, extent: QgsRectangle | None, geometries_extent: QgsRectangle | None):
    """The pixel window (col, row, width, height) of a raster (its :func:`file_grid`) covering
    ``extent`` and the mask's extent (both in its CRS), or None for the whole raster."""
    _path, _crs, full, xres, yres, columns, rows = grid
    area = None
    for rect in (extent, geometries_extent):
        if rect is not None and not rect.isEmpty():
            area = QgsRectangle(rect) if area is None else area.intersect(rect)
    if area is None:
        return None
    area = area.intersect(full)
    if area.isEmpty():
        raise QgsProcessingException(tr("EXTENT/MASK: the area chosen does not overlap the input raster"))
    left, top = full.xMinimum(), full.yMaximum()
    col0, col1 = pixel_span((area.xMinimum() - left) / xres, (area.xMaximum() - left) / xres)
    row0, row1 = pixel_span((top - area.yMaximum()) / yres, (top - area.yMinimum()) / yres)
    col0, row0, col1, row1 = max(0, col0), max(0, row0), min(columns, col1), min(rows, row1)
    return col0, row0, max(1, col1 - col0), max(1, row1 - row0)


def pixel_span(start: float, end: float, tolerance: float = EDGE_TOLERANCE) -> tuple[int, int]:
    """The whole pixels (first, one past the last) covering ``start``–``end`` (in pixels). Edges
    within ``tolerance`` px of a pixel edge are on it: 512 px between exact edges are 512 px,
    though (xmax − xmin) / 0.2 comes out as 512.0000000001 in floating point."""
    return math.floor(start + tolerance), math.ceil(end - tolerance)


def mask_geometries(source, crs, context):
    """The polygons of a feature source as GeoJSON-like dicts in ``crs``, and their extent there."""
    if source is None:
        return None, None
    transform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    geometries, extent = [], QgsRectangle()
    extent.setMinimal()
    for feature in source.getFeatures():
        geometry = feature.geometry()
        if geometry.isEmpty():
            continue
        geometry.transform(transform)
        geometries.append(json.loads(geometry.asJson()))
        extent.combineExtentWith(geometry.boundingBox())
    if not geometries:
        raise QgsProcessingException(tr("MASK: the layer has no polygon to segment within"))
    return geometries, extent
