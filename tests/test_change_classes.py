"""flair:change and the classes a map records (issue #16, item 4): a map written by the plugin from
the user's own 2-class model is refused with a message naming its classes, unless a class map
says which FLAIR code each class stands for; then it is read through it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from conftest import TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis.change import ChangeOptions, compare
from flair_qgis.change_classes import parse_class_map
from flair_qgis.errors import FlairError
from flair_qgis.palette import ClassInfo
from flair_qgis.progress import Progress


@pytest.fixture(scope="module")
def parking_map(tmp_path_factory):
    """A map written by flair:segment's engine from a tiny 2-class model (1 parking, 2 other)."""
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.engine import segment_with
    from flair_qgis.segment_options import SegmentRequest
    from flair_qgis.normalisation import Normalisation

    folder = tmp_path_factory.mktemp("parking")
    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb,
                     classes=(ClassInfo(1, "parking", "#ff0000"), ClassInfo(2, "other", "#00ff00")),
                     active=(True, True), normalisation=Normalisation.for_bands(rgb), tile_size=64, margin=16,
                     name="my parking model")
    image = make_raster(folder / "ortho.tif", random_image(48, 56, seed=3))
    result = segment_with(tiny_model(3, 2, seed=1), spec, SegmentRequest.of(input=image, output=folder / "map.tif"))
    return result.output


def _flair_map(tmp_path, like):
    with rasterio.open(like) as src:
        shape = (src.height, src.width)
    codes = np.random.default_rng(7).integers(1, 20, shape, dtype=np.uint8)
    return make_raster(tmp_path / "flair.tif", codes[None], nodata=0), codes


def test_a_map_of_a_two_class_model_is_refused_naming_its_classes(tmp_path, parking_map):
    flair, _ = _flair_map(tmp_path, parking_map)
    with pytest.raises(FlairError, match=r"AFTER .*map.tif records classes that are not FLAIR's: 1 parking, "
                                         r"2 other\. .*\(parking as building, other as pervious surface\).*"
                                         r"CLASS_MAP.*'parking=3, other=19'"):
        compare(ChangeOptions(flair, parking_map, min_area=0, change=tmp_path / "out" / "change.tif"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(FlairError, match=r"BEFORE .*map.tif records classes that are not FLAIR's: 1 parking"):
        compare(ChangeOptions(parking_map, flair, min_area=0))


def test_a_class_map_reads_the_map_through_it(tmp_path, parking_map):
    flair, codes = _flair_map(tmp_path, parking_map)
    logged, warned = [], []
    result = compare(ChangeOptions(flair, parking_map, min_area=0, class_map="Parking=3; 2=19"),
                     Progress(log=logged.append, warn=warned.append))
    with rasterio.open(parking_map) as src:
        own = src.read(1)
    on_flair = np.array([0, 3, 19], dtype=np.int64)[own]
    expected = np.bincount((codes.astype(np.int64) * 20 + on_flair)[on_flair > 0], minlength=400).reshape(20, 20)
    got = np.zeros((20, 20), dtype=np.int64)
    for t in result.transitions:
        got[t.from_code, t.to_code] = t.pixels
    assert np.array_equal(got, expected) and {t.to_code for t in result.transitions} <= {3, 19}
    assert any("1 parking → 3 impervious surface; 2 other → 19 other" in line for line in logged)
    assert not warned


def test_a_class_map_must_name_every_class_and_be_well_formed(tmp_path, parking_map):
    flair, _ = _flair_map(tmp_path, parking_map)
    with pytest.raises(FlairError, match=r"does not say which FLAIR code 2 other stands for"):
        compare(ChangeOptions(flair, parking_map, class_map="parking=3"))
    for text in ("parking", "parking=20", "=3", "parking=x"):
        with pytest.raises(FlairError, match=r"class map \(CLASS_MAP\): .* is not CLASS=CODE"):
            parse_class_map(text)
    with pytest.raises(FlairError, match="given twice"):
        parse_class_map("parking=3, PARKING=1")
    assert parse_class_map(" parking = 3 ,\nOther=0 ") == {"parking": 3, "other": 0}


def test_flair_maps_pass_and_an_unused_class_map_is_said(tmp_path):
    codes = np.random.default_rng(2).integers(1, 20, (1, 6, 6), dtype=np.uint8)
    b = make_raster(tmp_path / "b.tif", codes, nodata=0)
    warned = []
    compare(ChangeOptions(b, b, class_map="1=3"), Progress(warn=warned.append))
    assert warned == ["the class map (CLASS_MAP) is not used: both maps record FLAIR's classes (or none)"]


def test_a_13_class_baseline_map_whose_13_is_other_is_refused(tmp_path):
    """FLAIR #1's baseline writes 13 'other', which FLAIR's 19 codes call swimming pool (artificialised)."""
    from flair_qgis import raster_io
    from flair_qgis.palette import palette

    classes = palette("flair-13")
    codes = np.random.default_rng(3).integers(1, 14, (8, 8), dtype=np.uint8)
    path = tmp_path / "baseline.tif"
    with rasterio.open(make_raster(tmp_path / "like.tif", codes[None])) as like:
        spec = raster_io.OutputSpec(width=8, height=8, count=1, crs=like.crs, transform=like.transform,
                                    classes=classes)
    with raster_io.AtomicRasterWriter(path, spec) as out:
        out.write(codes[None], rasterio.windows.Window(0, 0, 8, 8))
        out.commit()
    flair = make_raster(tmp_path / "flair.tif", codes[None], nodata=0)
    with pytest.raises(FlairError, match=r"records classes that are not FLAIR's: 1 building, .* 13 other"):
        compare(ChangeOptions(flair, path))
    result = compare(ChangeOptions(flair, path, min_area=0, class_map="other=19, " + ", ".join(
        str(c.code) + "=" + str(c.code) for c in classes if c.code != 13)))
    assert {t.to_code for t in result.transitions} <= set(range(1, 13)) | {19}


def test_the_log_says_a_map_of_own_classes_is_read_with_them_not_as_flair_codes(tmp_path, parking_map):
    """Found trying the plugin as a new user: flair:classareas, flair:polygonize and flair:change logged
    "class values read as FLAIR codes 1–19" for the 2-class map, then wrote parking/other (or refused it)."""
    from flair_qgis.class_codes import FLAIR, resolve

    logged = []
    assert resolve(parking_map, log=logged.append).convention == FLAIR
    assert len(logged) == 1 and "FLAIR codes 1–19" not in logged[0]
    assert "the map's own classes, not FLAIR's: 1 parking, 2 other (0 = nodata" in logged[0]
    flair, _ = _flair_map(tmp_path, parking_map)
    resolve(flair, log=logged.append)
    assert "class values read as FLAIR codes 1–19 (0 = nodata)" in logged[1]
