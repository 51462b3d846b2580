"""A zones parameter read for the core: each zone's name (the zone field's value, else its feature
number from 1) and polygon (GeoJSON, in the raster's CRS)."""

import json

from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProcessingException


def read_zones(alg, parameters, zones: str, zone_field: str, crs, context) -> list[tuple[str, dict]] | None:
    """The zones of parameter ``zones`` named by parameter ``zone_field``, in ``crs`` (a raster layer's
    ``QgsCoordinateReferenceSystem``; not transformed when either CRS is unknown); None without zones.
    Features without geometry are skipped (the others keep their number)."""
    source = alg.parameterAsSource(parameters, zones, context)
    if source is None:
        return None
    field = (alg.parameterAsFields(parameters, zone_field, context) or [None])[0]
    names = source.fields().names()
    if field and field not in names:
        raise QgsProcessingException(alg.tr("Zones: the layer has no field '{}'; choose one of {}").format(
            field, ", ".join(names) or "(none)"))
    return _zones(source, field, crs, context)


def _zones(source, field: str | None, crs, context) -> list[tuple[str, dict]]:
    target = QgsCoordinateReferenceSystem.fromWkt(crs.toWkt()) if crs.isValid() else None
    transform = None
    if target is not None and source.sourceCrs().isValid() and source.sourceCrs() != target:
        transform = QgsCoordinateTransform(source.sourceCrs(), target, context.transformContext())
    found = []
    for number, feature in enumerate(source.getFeatures(), start=1):
        geometry = feature.geometry()
        if geometry.isEmpty():
            continue
        if transform is not None:
            geometry.transform(transform)
        found.append((str(feature[field]) if field else str(number), json.loads(geometry.asJson())))
    return found
