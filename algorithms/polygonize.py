"""flair:polygonize — class polygons of a class raster: dissolved per class, holes kept,
simplified, small ones merged or dropped, styled with the class names and colours.

The core (``flair_qgis.vectorize``) cuts polygons block by block; QGIS's own algorithms dissolve
them, split them into single polygons, drop the small ones and simplify. ``polygonize`` is also
what flair:segment calls for its optional POLYGONS output.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from qgis.core import (QgsCategorizedSymbolRenderer, QgsCoordinateReferenceSystem, QgsFeature,
                       QgsFields, QgsFillSymbol, QgsGeometry, QgsProcessing, QgsProcessingException,
                       QgsProcessingMultiStepFeedback, QgsProcessingParameterDistance, QgsProcessingParameterEnum,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorDestination, QgsProcessingUtils, QgsRendererCategory,
                       QgsVectorFileWriter, QgsVectorLayer, QgsWkbTypes)

from ..i18n import tr
from .base import FlairAlgorithm, import_core
from .children import run_child
from .class_values import codes_parameter
from .qt_compat import INT, STRING, field

SMALL = ["merge", "drop"]
DEFAULT_TOLERANCE = 0.5  # map units (m): about two pixels of a 0.2 m orthophoto
DEFAULT_MIN_AREA = 1.0  # m²


def class_renderer(classes) -> QgsCategorizedSymbolRenderer:
    """Fill colour and legend name per class code (field ``code``), no outlines."""
    categories = [QgsRendererCategory(c.code, QgsFillSymbol.createSimple({"color": c.colour, "outline_style": "no"}),
                                      c.name) for c in sorted(classes, key=lambda c: c.code)]
    return QgsCategorizedSymbolRenderer("code", categories)


def style_polygons(output: str, classes, context) -> None:
    """Style the written layer; the style is saved in the GeoPackage (or as a .qml beside other
    formats) as its default, so the file opens styled anywhere."""
    layer = QgsProcessingUtils.mapLayerFromString(output, context)
    if not isinstance(layer, QgsVectorLayer):
        return
    layer.setRenderer(class_renderer(classes))
    source = layer.source().split("|")[0]
    if layer.providerType() == "ogr" and source.lower().endswith(".gpkg"):
        layer.saveStyleToDatabase("FLAIR classes", "FLAIR land-cover classes. Small regions are merged into their "
                                  "neighbours: exact areas per class come from flair:classareas", True, "")
    elif layer.providerType() == "ogr":
        layer.saveNamedStyle(str(Path(source).with_suffix(".qml")))


def polygonize(raster: Path, output: str, tolerance: float, min_area: float, small: str, context,
               feedback, codes: str = "auto") -> str:
    """Write ``raster``'s class polygons to ``output`` (a destination path or ``memory:``); returns it.
    ``codes``: how the raster's values are read (see ``flair_qgis.class_codes``)."""
    vectorize, styling = import_core("vectorize"), import_core("styling")
    steps = QgsProcessingMultiStepFeedback(6, feedback)
    convention = FlairAlgorithm.run_core(import_core("class_codes").resolve, raster, codes, feedback.pushInfo)
    classes = None if convention.zero_based else FlairAlgorithm.run_core(styling.classes_of, raster)
    if not classes:
        classes = FlairAlgorithm.run_core(import_core("palette").palette, "flair-19")
    names = {c.code: c.name for c in classes}
    width, height = FlairAlgorithm.run_core(vectorize.pixel_size, raster)
    merge_below = vectorize.min_pixels(min_area, width * height) if small == "merge" else 0
    with tempfile.TemporaryDirectory(prefix="flair-polygons-") as tmp:
        # FlatGeobuf in between: no fid column, which single parts would duplicate in a GeoPackage
        pieces = _write_pieces(raster, Path(tmp) / "pieces.fgb", names, merge_below, vectorize, context,
                               FlairAlgorithm.progress(steps), convention)
        current = pieces
        runs = [("native:dissolve", {"FIELD": ["code"]}), ("native:multiparttosingleparts", {})]
        if small == "drop" and min_area > 0:
            runs.append(("native:extractbyexpression", {"EXPRESSION": f"area($geometry) >= {float(min_area)!r}"}))
        if tolerance > 0:
            runs.append(("native:simplifygeometries", {"METHOD": 0, "TOLERANCE": float(tolerance)}))
        runs.append(("native:fieldcalculator", {"FIELD_NAME": "area_m2", "FIELD_TYPE": 0, "FIELD_LENGTH": 20,
                                                "FIELD_PRECISION": 2, "FORMULA": "area($geometry)"}))
        for i, (alg, params) in enumerate(runs):
            steps.setCurrentStep(i + 1)
            if steps.isCanceled():
                raise QgsProcessingException(tr("cancelled by the user"))
            last = i == len(runs) - 1
            step_output = output if last else str(Path(tmp) / f"step{i}.fgb")
            current = _run(alg, {"INPUT": current, **params, "OUTPUT": step_output}, context, steps)
    style_polygons(current, classes, context)
    _report_area_agreement(raster, current, classes, min_area, small, context, feedback, convention)
    return current


def _report_area_agreement(raster: Path, output: str, classes, min_area: float, small: str, context, feedback,
                           convention) -> None:
    """Say, per class, where the polygons' areas differ from the raster's exact pixel areas (small
    regions merged into neighbours, outlines simplified), and that flair:classareas has the exact ones."""
    areas = import_core("areas")
    layer = QgsProcessingUtils.mapLayerFromString(output, context)
    if not isinstance(layer, QgsVectorLayer):
        return
    drawn: dict = {}
    for feature in layer.getFeatures():
        drawn[int(feature["code"])] = drawn.get(int(feature["code"]), 0.0) + float(feature["area_m2"] or 0.0)
    counts, _ = FlairAlgorithm.run_core(areas.count_classes, raster, class_codes=convention)
    size = FlairAlgorithm.run_core(areas.pixel_area, raster)
    differences = areas.area_differences({code: n * size for code, n in counts.items()}, drawn, classes)
    if min_area <= 0:
        why = tr("outlines simplified")
    elif small == "merge":
        why = tr("regions under {:g} m² merged into their neighbours, outlines simplified").format(min_area)
    else:
        why = tr("regions under {:g} m² dropped, outlines simplified").format(min_area)
    if differences:
        feedback.pushWarning(tr("The polygons' areas per class differ from the raster's exact pixel areas ({}): {}. "
                                "For exact areas per class use 'Land-cover areas per class' (flair:classareas), "
                                "which counts the raster's pixels").format(why, "; ".join(differences[:8])))
    else:
        feedback.pushInfo(tr("The polygons' areas per class agree with the raster's pixel areas within 1 %"))


def _write_pieces(raster, path, names, merge_below, vectorize, context, progress, convention) -> str:
    """The core's block-by-block polygons, in a temporary file (fields code, class)."""
    fields = QgsFields()
    fields.append(field("code", INT))
    fields.append(field("class", STRING, 80))
    crs = QgsCoordinateReferenceSystem.fromWkt(_crs_wkt(raster))
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "FlatGeobuf"
    writer = QgsVectorFileWriter.create(str(path), fields, QgsWkbTypes.Type.Polygon, crs,
                                        context.transformContext(), options)

    def write_all():
        for polygon in vectorize.class_polygons(raster, progress, min_region=merge_below,
                                                  class_codes=convention):
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromWkt(polygon.wkt))
            feature.setAttributes([polygon.code, names.get(polygon.code, f"class {polygon.code}")])
            writer.addFeature(feature)  # noqa: F821 - deleted below only after write_all has run

    try:
        if writer.hasError():
            raise QgsProcessingException(writer.errorMessage())
        FlairAlgorithm.run_core(write_all)
    finally:
        del writer
    return str(path)


def _crs_wkt(raster: Path) -> str:
    raster_io = import_core("raster_io")
    with raster_io.open_raster(raster) as src:
        if src.crs is None:
            raise QgsProcessingException(f"{raster} has no CRS: the polygons could not be placed")
        # its EPSG definition where it is equivalent to one: QGIS then needs no datum transformation
        return import_core("grids").output_crs(src.crs, src.bounds, abs(src.transform.a)).to_wkt()


def _run(alg: str, params: dict, context, feedback) -> str:
    return run_child(alg, params, context, feedback)["OUTPUT"]


class PolygonizeAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    TOLERANCE = "TOLERANCE"
    MIN_AREA = "MIN_AREA"
    SMALL_POLYGONS = "SMALL_POLYGONS"
    CODES = "CODES"
    OUTPUT = "OUTPUT"

    def name(self):
        return "polygonize"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Land-cover polygons")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Turns a class raster (band 1 holds class codes, e.g. the output of 'Segment land cover') into "
            "polygons: one polygon per connected region of a class, holes kept, with the fields code, "
            "class (its name) and area_m2. The raster is read block by block (memory stays bounded) and "
            "the pieces are dissolved per class.\n\n"
            "Minimum area (m²): regions smaller than this are merged into their largest neighbouring class "
            "('merge', done on the raster before vectorising, so the map has no gaps) or removed ('drop'). "
            "0 keeps every region.\n\n"
            "Simplification tolerance (map units): polygon outlines are simplified (Douglas-Peucker) so "
            "that they no longer follow every pixel step; 0 keeps the exact pixel outlines (which never "
            "overlap). Simplified neighbours may overlap or leave slivers up to the tolerance.\n\n"
            "The output is styled with the class names and colours (the classes recorded in the raster, "
            "else FLAIR's 19); in a GeoPackage the style is saved as the layer's default. Maps with 0-based "
            "class values (IGN's flair-detect, FLAIR-HUB; see 'Class values') get FLAIR codes 1–19 in the "
            "code field.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Class raster")))
        self.addParameter(QgsProcessingParameterDistance(
            self.TOLERANCE, self.tr("Simplification tolerance"), DEFAULT_TOLERANCE, self.INPUT, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_AREA, self.tr("Minimum polygon area (m²)"), QgsProcessingParameterNumber.Type.Double,
            DEFAULT_MIN_AREA, minValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.SMALL_POLYGONS, self.tr("Polygons under the minimum area"), options=SMALL, defaultValue="merge",
            usesStaticStrings=True))
        self.addParameter(codes_parameter())
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Land-cover polygons"), QgsProcessing.SourceType.TypeVectorPolygon))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr("Class raster: the layer could not be loaded as a raster file"))
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        written = polygonize(Path(layer.source().split("|")[0]), output,
                             self.parameterAsDouble(parameters, self.TOLERANCE, context),
                             self.parameterAsDouble(parameters, self.MIN_AREA, context),
                             self.parameterAsEnumString(parameters, self.SMALL_POLYGONS, context), context, feedback,
                             self.parameterAsEnumString(parameters, self.CODES, context))
        return {self.OUTPUT: written}
