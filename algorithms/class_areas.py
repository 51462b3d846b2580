"""flair:classareas — a table of area (m², ha) and share (%) per class of a class raster, for the
whole raster or within each polygon of a zone layer (communes, parcels…)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qgis.core import (QgsFields, QgsProcessing, QgsProcessingException,
                       QgsProcessingMultiStepFeedback, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterRasterLayer, QgsProcessingUtils, QgsWkbTypes)

from .base import FlairAlgorithm, import_core
from .children import run_child
from .class_values import codes_parameter
from .qt_compat import DOUBLE, INT, LONG, STRING, field
from .tables import add_rows
from .zone_layers import read_zones

PREFIX = "FLAIRPX_"  # zonal histogram columns: FLAIRPX_<code>


class ClassAreasAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    ZONES = "ZONES"
    ZONE_FIELD = "ZONE_FIELD"
    CODES = "CODES"
    OUTPUT = "OUTPUT"

    def name(self):
        return "classareas"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Land-cover areas per class")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Counts the pixels of each class in a class raster (band 1 holds class codes, e.g. the output "
            "of 'Segment land cover') and writes a table with one row per class: code, class (its name), "
            "pixels, area_m2, area_ha and share_pct, the share of the classified area (nodata excluded). "
            "The raster must be in a projected CRS (areas in metres).\n\n"
            "Zones (optional): a polygon layer (communes, parcels…); the table then has one row per zone "
            "and class, for the pixels whose centre lies in the zone, and a zone column holding the zone "
            "field's value (or the feature's number, from 1, when no field is chosen). Shares are then "
            "per zone. A zone wholly outside the raster is named in a warning and has no rows (when none "
            "overlaps it, nothing is written); a zone partly outside is named in the log. Without zones the "
            "whole raster is counted, window by window.\n\n"
            "Class names come from the classes recorded in the raster by this plugin, else FLAIR's 19. Maps "
            "with 0-based class values (IGN's flair-detect, FLAIR-HUB) are read as FLAIR codes (see 'Class "
            "values'): the table always holds FLAIR codes 1–19.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Class raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.ZONES, self.tr("Zones (polygons; empty: the whole raster)"),
            [QgsProcessing.SourceType.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.ZONE_FIELD, self.tr("Zone name field (empty: feature number)"), parentLayerParameterName=self.ZONES,
            optional=True))
        self.addParameter(codes_parameter())
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Areas per class"), QgsProcessing.SourceType.TypeVector))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        areas, styling, palette = import_core("areas"), import_core("styling"), import_core("palette")
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr("Class raster: the layer could not be loaded as a raster file"))
        path = Path(layer.source().split("|")[0])
        pixel_area = self.run_core(areas.pixel_area, path)
        class_codes = import_core("class_codes")
        codes = self.run_core(class_codes.resolve, path, self.parameterAsEnumString(parameters, self.CODES, context),
                              feedback.pushInfo)
        classes = (not codes.zero_based and self.run_core(styling.classes_of, path)) or palette.palette("flair-19")
        has_zones = self.parameterAsSource(parameters, self.ZONES, context) is not None
        zone_field = (self.parameterAsFields(parameters, self.ZONE_FIELD, context) or [None])[0]

        if not has_zones:
            counts, nodata = self.run_core(areas.count_classes, path, self.progress(feedback), class_codes=codes)
            feedback.pushInfo(self.tr("{} classified pixels, {} nodata pixels, {:.6g} m² per pixel").format(
                sum(counts.values()), nodata, pixel_area))
            per_zone = [(None, counts)]
        else:
            self._check_coverage(parameters, layer, context, feedback)
            per_zone = self._zone_counts(parameters, layer, zone_field, codes, context, feedback)
        if feedback.isCanceled():
            return {}

        fields = QgsFields()  # the table is created once every count is known: nothing half-written
        if has_zones:
            fields.append(field("zone", STRING, 254))
        for name, kind in (("code", INT), ("class", STRING), ("pixels", LONG),
                           ("area_m2", DOUBLE), ("area_ha", DOUBLE), ("share_pct", DOUBLE)):
            fields.append(field(name, kind))
        sink, dest = self.parameterAsSink(parameters, self.OUTPUT, context, fields, QgsWkbTypes.Type.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        for zone, counts in per_zone:
            add_rows(sink, fields, (([zone] if has_zones else []) +
                                    [row.code, row.name, row.pixels, row.area_m2, row.area_ha, row.share_pct]
                                    for row in areas.area_table(counts, pixel_area, classes)))
        feedback.pushInfo(self.tr("These areas are exact: counted from the raster's pixels. Land-cover polygons "
                                  "(flair:polygonize) merge regions under their minimum area into neighbours and "
                                  "simplify outlines, so their areas per class can differ"))
        return {self.OUTPUT: dest}

    def _check_coverage(self, parameters, layer, context, feedback):
        """Zones wholly outside the raster named in a warning (refused when none overlaps it), zones
        partly outside in the log."""
        zone_coverage = import_core("zone_coverage")
        found = read_zones(self, parameters, self.ZONES, self.ZONE_FIELD, layer.crs(), context)
        extent = layer.extent()
        self.run_core(zone_coverage.check_coverage, [name for name, _ in found], [g for _, g in found],
                      (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()),
                      self.progress(feedback), zone_coverage.RASTER)

    def _zone_counts(self, parameters, layer, zone_field, codes, context, feedback):
        """Pixels per FLAIR code within each zone, from QGIS's zonal histogram (pixel centres in the
        zone); the histogram's raster values are read as ``codes`` says (0-based or FLAIR codes)."""
        steps = QgsProcessingMultiStepFeedback(2, feedback)
        histogram = run_child("native:zonalhistogram", {
            "INPUT_RASTER": layer, "RASTER_BAND": 1, "INPUT_VECTOR": parameters[self.ZONES],
            "COLUMN_PREFIX": PREFIX, "OUTPUT": "TEMPORARY_OUTPUT"}, context, steps)["OUTPUT"]
        steps.setCurrentStep(1)
        table = QgsProcessingUtils.mapLayerFromString(histogram, context)
        columns = [(f.name(), int(f.name()[len(PREFIX):])) for f in table.fields()
                   if f.name().startswith(PREFIX) and f.name()[len(PREFIX):].lstrip("-").isdigit()]
        out = []
        for number, feature in enumerate(table.getFeatures(), start=1):
            if steps.isCanceled():
                break
            label = feature[zone_field] if zone_field else number
            counts: dict = {}
            for name, value in columns:
                code = int(codes.to_flair(np.array([value]))[0]) if value >= 0 else 0
                if code != 0:
                    counts[code] = counts.get(code, 0) + int(feature[name] or 0)
            out.append((str(label), counts))
        return out
