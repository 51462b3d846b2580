"""flair:change — land-cover change between two class rasters (two dates): transition table, land
take (artificialised area) per zone, a styled change map and a figure. The core is
``flair_qgis.change``; this wrapper reads the zones from QGIS and writes the tables as feature sinks."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (QgsCoordinateReferenceSystem, QgsFields, QgsProcessing,
                       QgsProcessingException, QgsProcessingParameterDefinition,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMatrix, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString, QgsWkbTypes)

from ..flair_qgis.change_spec import ARTIFICIALISED, DEFAULT_MIN_AREA, TRANSITION_FIELDS, ZONE_FIELDS
from .base import FlairAlgorithm, import_core
from .class_values import codes_parameter
from .evaluate import raster_path
from .styled_output import load_styled
from .qt_compat import DOUBLE, INT, LONG, STRING, field
from .tables import add_rows
from .zone_layers import read_zones

FIELD_TYPES = {"from_code": INT, "to_code": INT, "pixels": LONG, "from_class": STRING, "to_class": STRING,
               "zone": STRING}


class ChangeAlgorithm(FlairAlgorithm):
    BEFORE = "BEFORE"
    AFTER = "AFTER"
    CODES = "CODES"
    ZONES = "ZONES"
    ZONE_FIELD = "ZONE_FIELD"
    MIN_AREA = "MIN_AREA"
    GROUPS = "GROUPS"
    CLASS_MAP = "CLASS_MAP"
    TRANSITIONS = "TRANSITIONS"
    ZONE_TABLE = "ZONE_TABLE"
    CHANGE = "CHANGE"
    CHANGE_CODES = "CHANGE_CODES"
    PLOT = "PLOT"

    def name(self):
        return "change"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Land-cover change and land take")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Compares two land-cover maps of the same place at two dates (for example two runs of 'Segment land "
            "cover' on the orthophotos of two campaigns) and measures what changed: a table of every transition "
            "between classes, the artificialised area (land take) per zone, a styled change map and a figure.\n\n"
            "The maps may differ in extent, pixel size or grid origin: their overlap is compared on the grid of "
            "the first date's map, each of its pixels taking the second map's pixel under its centre (nearest "
            "neighbour); the log says how much of each map lies outside the overlap. They must be in the same "
            "CRS. Both are read as FLAIR codes 1–19: maps with 0-based class values (IGN's flair-detect, "
            "FLAIR-HUB) are converted (see 'Class values'). Pixels that are nodata at either date are not "
            "counted. A map that records classes other than FLAIR's (made with your own model, e.g. 1 parking, "
            "2 other) is refused, naming its classes, unless the class map says which FLAIR code each of its "
            "classes stands for.\n\n"
            "Minimum change area (m²): connected regions of changed pixels smaller than this are counted as "
            "unchanged, so that the thin slivers that misregistration between two campaigns leaves along every "
            "edge are not reported as change. 0 counts every pixel.\n\n"
            "Artificialised classes: the FLAIR codes that count as artificialised land (default building 1, "
            "pervious surface 2, impervious surface 3, swimming pool 13, greenhouse 18).\n\n"
            "Class map (advanced): for maps whose recorded classes are not FLAIR's, the FLAIR code of each of their "
            "classes, by name or value: 'parking=3, other=19' or '1=3, 2=19' (0 leaves a class out). It applies "
            "to every such map and must name all of its classes; values a map does not record are nodata.\n\n"
            "Outputs: the transitions (from_code, from_class, to_code, to_class, pixels, area_m2, area_ha, "
            "unchanged pairs included); per zone (or for the whole overlap without zones) the artificialised "
            "area at both dates, the gain (not artificialised → artificialised), the loss (the reverse), the net "
            "change in m² and in % of the zone's mapped area, and the share of the zone's area inside the two "
            "maps' overlap (covered_pct: zones partly outside are reported in the log, zones wholly outside in a "
            "warning; none inside is an error); the change map (1 unchanged, 2 artificialised, "
            "3 de-artificialised, 4 other class change, 0 nodata; styled); optionally every transition as "
            "from × 100 + to; and a PNG of the area of each class at both dates and the largest transitions. "
            "A zone counts the pixels whose centre lies in it.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.BEFORE, self.tr("Land cover, first date (before)")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.AFTER, self.tr("Land cover, second date (after)")))
        self.addParameter(codes_parameter(self.tr("Class values of the two maps")))
        zones = QgsProcessingParameterFeatureSource(self.ZONES, self.tr("Zones (polygons; empty: the whole overlap)"),
                                                    [QgsProcessing.SourceType.TypeVectorPolygon], optional=True)
        zones.setHelp(self.tr("Polygons (communes, parcels…) to account for separately, in any CRS."))
        self.addParameter(zones)
        field = QgsProcessingParameterField(self.ZONE_FIELD, self.tr("Zone name field (empty: feature number)"),
                                            parentLayerParameterName=self.ZONES, optional=True)
        field.setHelp(self.tr("The zones' field that names them in the zone table."))
        self.addParameter(field)
        min_area = QgsProcessingParameterNumber(self.MIN_AREA, self.tr("Minimum change area (m²)"),
                                                QgsProcessingParameterNumber.Type.Double, DEFAULT_MIN_AREA, minValue=0)
        min_area.setHelp(self.tr("Connected changed regions smaller than this are counted as unchanged (0: none)."))
        self.addParameter(min_area)
        groups = QgsProcessingParameterMatrix(self.GROUPS, self.tr("Artificialised classes (FLAIR codes)"),
                                              numberRows=len(ARTIFICIALISED), hasFixedNumberRows=False,
                                              headers=["code"], defaultValue=list(ARTIFICIALISED), optional=True)
        groups.setHelp(self.tr("FLAIR codes (1–19) that count as artificialised land; one per row."))
        groups.setFlags(groups.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(groups)
        class_map = QgsProcessingParameterString(self.CLASS_MAP, self.tr("Class map, for maps of other classes "
                                                                         "(e.g. parking=3, other=19)"),
                                                 optional=True)
        class_map.setHelp(self.tr("For a map whose recorded classes are not FLAIR's (your own model's): the FLAIR "
                                  "code each of its classes stands for, by class name or value, separated by "
                                  "commas; 0 leaves a class out. Empty: such maps are refused."))
        class_map.setFlags(class_map.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(class_map)
        self.addParameter(QgsProcessingParameterFeatureSink(self.TRANSITIONS, self.tr("Transitions between classes"),
                                                            QgsProcessing.SourceType.TypeVector))
        self.addParameter(QgsProcessingParameterFeatureSink(self.ZONE_TABLE, self.tr("Land take per zone"),
                                                            QgsProcessing.SourceType.TypeVector))
        self.addParameter(QgsProcessingParameterRasterDestination(self.CHANGE, self.tr("Change map")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.CHANGE_CODES, self.tr("Every transition (from × 100 + to)"), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.PLOT, self.tr("Figure (PNG)"), fileFilter="PNG images (*.png)", optional=True))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        change = import_core("change")
        palette = import_core("palette")
        before = self.parameterAsRasterLayer(parameters, self.BEFORE, context)
        after = self.parameterAsRasterLayer(parameters, self.AFTER, context)
        if before is None or after is None:
            raise QgsProcessingException(self.tr("Give the land-cover maps of both dates (BEFORE and AFTER)"))
        before_path = raster_path(before, self.tr("Land cover, first date"))
        after_path = raster_path(after, self.tr("Land cover, second date"))
        sinks = {key: self.parameterAsOutputLayer(parameters, key, context) for key in (self.TRANSITIONS,
                                                                                        self.ZONE_TABLE)}
        raster_io = import_core("raster_io")
        for destination in sinks.values():
            if destination and not destination.startswith(("memory:", "ogr:", "postgres")):
                self.run_core(raster_io.check_output_folder, Path(destination.split("|")[0]))
        change_codes = self.parameterAsOutputLayer(parameters, self.CHANGE_CODES, context)
        plot = self.parameterAsFileOutput(parameters, self.PLOT, context)
        options = change.ChangeOptions(
            before=before_path, after=after_path, codes=self.parameterAsEnumString(parameters, self.CODES, context),
            zones=self._zones(parameters, before, context),
            min_area=self.parameterAsDouble(parameters, self.MIN_AREA, context),
            artificialised=[v for v in self.parameterAsMatrix(parameters, self.GROUPS, context) if str(v).strip()],
            change=Path(self.parameterAsOutputLayer(parameters, self.CHANGE, context)),
            change_codes=Path(change_codes) if change_codes else None, plot=Path(plot) if plot else None,
            class_map=self.parameterAsString(parameters, self.CLASS_MAP, context) or None)
        result = self.run_core(change.compare, options, self.progress(feedback))
        try:
            outputs = {self.TRANSITIONS: self._write(parameters, self.TRANSITIONS, TRANSITION_FIELDS,
                                                     result.transitions, context),
                       self.ZONE_TABLE: self._write(parameters, self.ZONE_TABLE, ZONE_FIELDS, result.zones, context)}
        except BaseException:
            for path in result.written.values():  # no half set of outputs
                Path(path).unlink(missing_ok=True)
                Path(path).with_suffix(".qml").unlink(missing_ok=True)
            raise
        for zone in result.zones:
            feedback.pushInfo(self.tr("{}: artificialised {:.1f} m² → {:.1f} m² (gain {:.1f} m², loss {:.1f} m², "
                                      "net {:+.1f} m²)").format(zone.zone, zone.artificialised_before_m2,
                                                                zone.artificialised_after_m2, zone.gain_m2,
                                                                zone.loss_m2, zone.net_m2))
        change_map = self.parameterAsOutputLayer(parameters, self.CHANGE, context)
        load_styled(context, change_map, palette.style_path(result.written["change"]), self.tr("Change map"))
        if "change_codes" in result.written:
            load_styled(context, change_codes, palette.style_path(result.written["change_codes"]),
                        self.tr("Every transition (from × 100 + to)"))
        outputs.update({self.CHANGE: str(result.written["change"]),
                        self.CHANGE_CODES: str(result.written.get("change_codes", "")) or None,
                        self.PLOT: str(result.written.get("plot", "")) or None})
        return outputs

    def _zones(self, parameters, before, context):
        """The zone polygons in the first map's CRS, named by the zone field (else the feature number)."""
        found = read_zones(self, parameters, self.ZONES, self.ZONE_FIELD, before.crs(), context)
        if found is None:
            return None
        Zone = import_core("change").Zone
        return [Zone(name, geometry) for name, geometry in found]

    def _write(self, parameters, key, names, rows, context):
        fields = QgsFields()
        for name in names:
            fields.append(field(name, FIELD_TYPES.get(name, DOUBLE)))
        sink, dest = self.parameterAsSink(parameters, key, context, fields, QgsWkbTypes.Type.NoGeometry,
                                          QgsCoordinateReferenceSystem())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, key))
        add_rows(sink, fields, ([getattr(row, name) for name in names] for row in rows))
        return dest
