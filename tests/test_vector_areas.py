"""Class polygons and area tables: the core's block-by-block vectorising and counting, and the
flair:polygonize and flair:classareas algorithms on a class raster whose regions are known."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_raster
from flair_qgis import areas, vectorize
from flair_qgis.errors import FlairError

PIXEL = 0.2  # m
PIXEL_AREA = PIXEL * PIXEL


def known_classes() -> np.ndarray:
    """120 × 160 px: code 1 on the left with a 20 × 20 block of code 2 inside (a hole), code 6 on the
    right with a 3 × 3 speck of code 10 (0.36 m², under 1 m²), and a nodata strip at the top."""
    codes = np.ones((120, 160), dtype=np.uint8)
    codes[:, 80:] = 6
    codes[40:60, 20:40] = 2
    codes[70:73, 120:123] = 10
    codes[:10, :] = 0
    return codes[None]


@pytest.fixture
def class_raster(tmp_path):
    return make_raster(tmp_path / "classes.tif", known_classes(), nodata=0)


def _ring_count(wkt: str) -> int:
    return wkt.count("(") - 1


# --- core ------------------------------------------------------------------------------------

def test_polygons_have_holes_and_are_cut_at_block_edges(class_raster):
    whole = list(vectorize.class_polygons(class_raster))
    by_code = {}
    for p in whole:
        by_code.setdefault(p.code, []).append(p)
    assert sorted(by_code) == [1, 2, 6, 10] and all(len(v) == 1 for v in by_code.values())
    assert _ring_count(by_code[1][0].wkt) == 2 and _ring_count(by_code[6][0].wkt) == 2  # one hole each

    blocks = list(vectorize.class_polygons(class_raster, block=64))
    assert len([p for p in blocks if p.code == 1]) == 4  # 2 × 2 blocks hold code 1: the caller dissolves


def test_regions_under_the_minimum_merge_into_their_neighbour(class_raster):
    polygons = list(vectorize.class_polygons(class_raster, min_region=vectorize.min_pixels(1.0, PIXEL_AREA),
                                             block=64))
    assert {p.code for p in polygons} == {1, 2, 6}  # the 9 px speck (< 25 px) is now code 6


def test_sieve_near_block_edges_judges_whole_regions(tmp_path):
    codes = np.ones((1, 100, 100), dtype=np.uint8)
    codes[0, 60:70, 30:33] = 5  # 30 px, across the edge of 64 px blocks: kept with a 25 px minimum
    codes[0, 10:14, 62:66] = 7  # 16 px, across a vertical edge: merged
    path = make_raster(tmp_path / "edges.tif", codes, nodata=0)
    kept = {p.code for p in vectorize.class_polygons(path, min_region=25, block=64)}
    assert kept == {1, 5}


def test_salt_and_pepper_is_merged_up_to_the_minimum(tmp_path):
    """Noise has no large neighbour to merge into: GDAL's sieve alone would keep every speck."""
    from rasterio.features import shapes

    noise = np.random.default_rng(0).integers(1, 4, (1, 60, 60), dtype=np.uint8)
    valid = np.ones((60, 60), dtype=bool)
    merged = vectorize.sieve_progressively(noise[0], 16, valid)
    sizes = [round(abs(_area(g))) for g, _ in shapes(merged, connectivity=4)]
    assert len(sizes) < 100 and min(sizes) >= 16


def _area(geometry) -> float:
    """Shoelace area of a GeoJSON polygon in pixels (outer ring minus holes)."""
    def ring(points):
        return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    outer, *holes = geometry["coordinates"]
    return abs(ring(outer)) - sum(abs(ring(h)) for h in holes)


def test_min_pixels_rounds_up_and_zero_keeps_everything():
    assert vectorize.min_pixels(1.0, 0.04) == 25 and vectorize.min_pixels(1.01, 0.04) == 26
    assert vectorize.min_pixels(0, 0.04) == 0


def test_polygon_wkt_writes_every_ring():
    square = {"type": "Polygon", "coordinates": [[(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (0.0, 0.0)],
                                                 [(0.5, 0.5), (1.0, 0.5), (0.5, 1.0), (0.5, 0.5)]]}
    assert vectorize.polygon_wkt(square) == ("POLYGON((0.0 0.0,0.0 2.0,2.0 2.0,0.0 0.0),"
                                             "(0.5 0.5,1.0 0.5,0.5 1.0,0.5 0.5))")


def test_counts_by_window_equal_the_whole_raster_counts(class_raster):
    counts, nodata = areas.count_classes(class_raster, rows=7)
    values, n = np.unique(known_classes(), return_counts=True)
    expected = dict(zip(values.tolist(), n.tolist()))
    assert nodata == expected.pop(0) and dict(counts) == expected


def test_area_table_gives_m2_ha_and_share_of_the_classified_area(class_raster):
    from flair_qgis.palette import palette

    counts, _ = areas.count_classes(class_raster)
    rows = {r.code: r for r in areas.area_table(counts, areas.pixel_area(class_raster), palette("flair-19"))}
    assert areas.pixel_area(class_raster) == pytest.approx(PIXEL_AREA)
    assert rows[2].pixels == 400 and rows[2].area_m2 == pytest.approx(16.0) and rows[2].area_ha == pytest.approx(0.0016)
    assert rows[2].name == "pervious surface"
    assert sum(r.share_pct for r in rows.values()) == pytest.approx(100.0)
    assert rows[6].share_pct == pytest.approx(100 * (110 * 80 - 9) / (110 * 160))


def test_areas_refuse_a_geographic_crs(tmp_path):
    path = make_raster(tmp_path / "wgs84.tif", known_classes(), nodata=0, crs="EPSG:4326", res=0.0001,
                       origin=(2.0, 48.0))
    with pytest.raises(FlairError, match="geographic CRS"):
        areas.pixel_area(path)


# --- in QGIS ---------------------------------------------------------------------------------

def _features(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return layer, list(layer.getFeatures())


@pytest.mark.qgis
def test_polygonize_dissolves_blocks_keeps_holes_merges_specks_and_styles(provider, class_raster, tmp_path,
                                                                          monkeypatch):
    import processing

    import flair_for_qgis.flair_qgis.vectorize as plugin_vectorize

    monkeypatch.setattr(plugin_vectorize, "BLOCK", 64)  # cut the raster into 2 × 3 blocks
    out = tmp_path / "polygons.gpkg"
    result = processing.run("flair:polygonize", {"INPUT": str(class_raster), "TOLERANCE": 0, "MIN_AREA": 1.0,
                                                 "SMALL_POLYGONS": "merge", "OUTPUT": str(out)})

    layer, features = _features(result["OUTPUT"])
    assert [f.name() for f in layer.fields()][-3:] == ["code", "class", "area_m2"]
    by_code = {f["code"]: f for f in features}
    assert sorted(by_code) == [1, 2, 6] and len(features) == 3  # one polygon per region, seams dissolved
    assert by_code[1].geometry().constGet().numInteriorRings() == 1  # the hole of code 2
    assert by_code[6].geometry().constGet().numInteriorRings() == 0  # the speck was merged
    assert by_code[1]["area_m2"] == pytest.approx((110 * 80 - 400) * PIXEL_AREA)
    assert by_code[6]["area_m2"] == pytest.approx(110 * 80 * PIXEL_AREA)
    assert by_code[2]["class"] == "pervious surface"
    renderer = layer.renderer()  # the GeoPackage's default style
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "code"
    assert {str(c.value()): c.label() for c in renderer.categories()}["2"] == "pervious surface"


@pytest.mark.qgis
def test_polygonize_drops_small_polygons_and_simplifies(provider, class_raster, tmp_path):
    import processing

    exact = processing.run("flair:polygonize", {"INPUT": str(class_raster), "TOLERANCE": 0, "MIN_AREA": 0,
                                                "OUTPUT": str(tmp_path / "exact.gpkg")})
    dropped = processing.run("flair:polygonize", {"INPUT": str(class_raster), "TOLERANCE": 1.0, "MIN_AREA": 1.0,
                                                  "SMALL_POLYGONS": "drop", "OUTPUT": str(tmp_path / "dropped.gpkg")})

    _, exact_features = _features(exact["OUTPUT"])
    _, dropped_features = _features(dropped["OUTPUT"])
    assert sorted(f["code"] for f in exact_features) == [1, 2, 6, 10]
    assert sorted(f["code"] for f in dropped_features) == [1, 2, 6]
    vertices = {f["code"]: len(list(f.geometry().vertices())) for f in exact_features}
    simpler = {f["code"]: len(list(f.geometry().vertices())) for f in dropped_features}
    assert all(simpler[c] <= vertices[c] for c in simpler)


@pytest.mark.qgis
def test_classareas_of_the_whole_raster_match_the_pixel_counts(provider, class_raster, tmp_path):
    import processing

    result = processing.run("flair:classareas", {"INPUT": str(class_raster), "OUTPUT": str(tmp_path / "areas.csv")})

    layer, features = _features(result["OUTPUT"])
    rows = {int(f["code"]): f for f in features}
    assert sorted(rows) == [1, 2, 6, 10]
    assert float(rows[10]["area_m2"]) == pytest.approx(9 * PIXEL_AREA)
    assert float(rows[2]["area_ha"]) == pytest.approx(0.0016)
    assert sum(float(f["share_pct"]) for f in features) == pytest.approx(100.0)
    # written to 12 significant digits: no binary noise (0.0016000000000000001), nothing lost that matters
    cells = [line.split(",") for line in (tmp_path / "areas.csv").read_text().splitlines()]
    assert cells[0] == ["code", "class", "pixels", "area_m2", "area_ha", "share_pct"]
    by_code = {int(row[0].strip('"')): row for row in cells[1:]}
    assert by_code[2][3:5] == ["16", "0.0016"]
    total = sum(int(row[2].strip('"')) for row in cells[1:])
    assert by_code[2][5] == f"{100 * 400 / total:.12g}" == "2.27272727273"


def _zone_layer(columns: dict[str, tuple[int, int]]):
    """A memory layer of zones named by ``name``, each the raster's full height over columns [c0, c1)."""
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    x0, y0 = 650000.0, 6860000.0  # make_raster's origin (top left)
    zones = QgsVectorLayer("Polygon?crs=EPSG:2154", "communes", "memory")
    zones.dataProvider().addAttributes([QgsField("name", QVariant.String)])
    zones.updateFields()
    for name, (c0, c1) in columns.items():
        f = QgsFeature(zones.fields())
        f.setAttributes([name])
        f.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({x0 + c0 * PIXEL} {y0},{x0 + c1 * PIXEL} {y0},{x0 + c1 * PIXEL} {y0 - 120 * PIXEL},"
            f"{x0 + c0 * PIXEL} {y0 - 120 * PIXEL},{x0 + c0 * PIXEL} {y0}))"))
        zones.dataProvider().addFeature(f)
    return zones


@pytest.mark.qgis
def test_classareas_names_the_zones_outside_the_raster_and_refuses_when_none_overlaps(provider, class_raster,
                                                                                      tmp_path):
    from qgis.core import QgsProcessingException

    import processing
    from conftest import KeepingFeedback

    feedback = KeepingFeedback()
    zones = _zone_layer({"west": (0, 80), "straddling": (120, 200), "away": (400, 500)})
    result = processing.run("flair:classareas", {"INPUT": str(class_raster), "ZONES": zones, "ZONE_FIELD": "name",
                                                 "OUTPUT": str(tmp_path / "zones.gpkg")}, feedback=feedback)
    features = _features(result["OUTPUT"])[1]  # the layer not kept: a traceback below would hold it past QGIS's exit
    assert sorted({f["zone"] for f in features}) == ["straddling", "west"]
    assert any(w.startswith("1 zone lies wholly outside the raster (x 650000.0–650032.0") and w.endswith(
        ": away; it has no rows in the table") for w in feedback.warnings), feedback.warnings
    assert any(m.startswith("zone straddling: 50.0 % lies outside the raster; its areas are those of the other "
                            "50.0 %") for m in feedback.infos), feedback.infos

    with pytest.raises(QgsProcessingException, match="no zone overlaps the raster .*zones away, farther lie "
                                                     "wholly outside it"):
        processing.run("flair:classareas", {"INPUT": str(class_raster), "ZONE_FIELD": "name",
                                            "ZONES": _zone_layer({"away": (400, 500), "farther": (600, 700)}),
                                            "OUTPUT": str(tmp_path / "none.gpkg")})
    assert not (tmp_path / "none.gpkg").exists()


@pytest.mark.qgis
def test_classareas_per_zone_counts_each_polygon(provider, class_raster, tmp_path):
    import processing

    zones = _zone_layer({"west": (0, 80), "east": (80, 160)})

    result = processing.run("flair:classareas", {"INPUT": str(class_raster), "ZONES": zones, "ZONE_FIELD": "name",
                                                 "OUTPUT": str(tmp_path / "zones.gpkg")})

    _, features = _features(result["OUTPUT"])
    rows = {(f["zone"], f["code"]): f for f in features}
    assert sorted(rows) == [("east", 6), ("east", 10), ("west", 1), ("west", 2)]
    assert rows[("west", 2)]["pixels"] == 400 and rows[("east", 10)]["pixels"] == 9
    assert rows[("west", 1)]["share_pct"] + rows[("west", 2)]["share_pct"] == pytest.approx(100.0)
    assert rows[("west", 2)]["share_pct"] == pytest.approx(100 * 400 / (110 * 80))


@pytest.mark.qgis
def test_segment_writes_styled_polygons_when_asked(provider, tmp_path):
    import processing
    import torch

    from conftest import TINY_ENCODER, random_image, tiny_model
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-19"), active=(True,) * 19,
                     normalisation=Normalisation.for_bands(rgb), tile_size=128, margin=32)
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", tiny_model(3, 19), spec)
    raster = make_raster(tmp_path / "ortho.tif", random_image(160, 200))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = processing.run("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(checkpoint),
                                                  "OUTPUT": str(tmp_path / "landcover.tif"),
                                                  "POLYGONS": str(tmp_path / "landcover.gpkg")})
        without = processing.run("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(checkpoint),
                                                   "OUTPUT": str(tmp_path / "only_raster.tif")})
    finally:
        torch.set_num_threads(threads)

    layer, features = _features(result["POLYGONS"])
    codes, _ = areas.count_classes(tmp_path / "landcover.tif")
    assert features and {f["code"] for f in features} <= set(codes)
    assert sum(f["area_m2"] for f in features) == pytest.approx(160 * 200 * PIXEL_AREA, rel=0.02)
    assert layer.renderer().type() == "categorizedSymbol"
    assert "POLYGONS" not in without and not (tmp_path / "only_raster.gpkg").exists()


def test_tally_counts_small_and_large_codes_alike():
    """np.bincount for codes below BINCOUNT_LIMIT, sorting above (32-bit codes, negative values)."""
    rng = np.random.default_rng(4)
    for codes in (rng.integers(0, 20, (50, 60)).astype(np.uint8), rng.integers(0, 300, (7, 9)).astype(np.uint16),
                  np.array([[0, 70000, 70000], [5, 0, -3]], np.int32), np.zeros((3, 0), np.uint8)):
        values, n = np.unique(codes[codes != 0], return_counts=True)
        assert areas.tally(codes) == (dict(zip(values.tolist(), n.tolist())), int((codes == 0).sum()))
