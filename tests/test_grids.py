"""CRSs compared by equivalence, as GDAL and QGIS do (issue #10, item 4): an unnamed but equivalent
Lambert-93 (a PROJ string, as old files and some tools write it) is EPSG:2154's grid; a CRS that
really differs is refused, and never printed with the same name as the other."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from conftest import make_raster
from flair_qgis.errors import FlairError
from flair_qgis.grids import aligned_windows, same_crs
from flair_qgis.raster_evaluation import RasterEvaluation, evaluate_rasters
from flair_qgis.palette import palette
from synthetic import write_images_labels

LAMBERT93 = ("+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +ellps=GRS80 "
             "+towgs84=0,0,0,0,0,0,0 +units=m +no_defs")
LAMBERT93_NO_DATUM = LAMBERT93.replace(" +towgs84=0,0,0,0,0,0,0", "")
SHIFTED = LAMBERT93_NO_DATUM.replace("+y_0=6600000", "+y_0=6600001")  # 1 m off: another grid
CODES = np.array([[1, 2, 3, 6], [1, 1, 2, 6], [3, 3, 2, 1]], dtype=np.uint8)[None]


@pytest.mark.parametrize("definition", [LAMBERT93, LAMBERT93_NO_DATUM])
def test_an_unnamed_lambert93_is_the_same_crs_as_epsg_2154(definition):
    unnamed = CRS.from_proj4(definition)
    assert unnamed != CRS.from_epsg(2154)  # rasterio's own comparison: the bug's cause
    assert same_crs(CRS.from_epsg(2154), unnamed, (650000, 6859000, 651000, 6860000), 0.2)


def test_other_crss_are_not_the_same():
    bounds = (650000, 6859000, 651000, 6860000)
    assert not same_crs(CRS.from_epsg(2154), CRS.from_proj4(SHIFTED), bounds, 0.2)
    assert not same_crs(CRS.from_epsg(2154), CRS.from_epsg(27572), bounds, 0.2)  # NTF Lambert II
    assert not same_crs(CRS.from_epsg(2154), CRS.from_epsg(4326))


def test_evaluate_accepts_identical_grids_whose_crs_is_written_differently(tmp_path):
    prediction = make_raster(tmp_path / "pred.tif", CODES, nodata=0)
    reference = make_raster(tmp_path / "ref.tif", CODES, nodata=0, crs=LAMBERT93)
    with rasterio.open(prediction) as a, rasterio.open(reference) as b:
        assert a.crs != b.crs and a.crs.to_string() == b.crs.to_string() == "EPSG:2154"

    scores = evaluate_rasters(RasterEvaluation(prediction, reference, classes=palette("flair-19")))

    assert scores.oa == pytest.approx(1.0) and scores.pixels == CODES.size


def test_really_different_crss_are_refused_with_names_that_differ(tmp_path):
    a = make_raster(tmp_path / "a.tif", CODES, nodata=0)
    b = make_raster(tmp_path / "b.tif", CODES, nodata=0, crs=SHIFTED)
    with rasterio.open(a) as ra, rasterio.open(b) as rb, pytest.raises(FlairError) as error:
        aligned_windows(ra, rb)
    message = str(error.value)
    assert "different grids" in message and "+y_0=6600001" in message
    said = message.split(" is in ", 1)[1].split(": the rasters", 1)[0]
    name_a, name_b = said.split(f" and {b} in ")
    assert name_a != name_b


def test_training_pairs_in_an_equivalent_crs_are_kept(tmp_path):
    from flair_qgis.patch_files import check_pairs, find_pairs

    folder = write_images_labels(tmp_path / "patches", 2, size=32)
    label = folder / "labels" / "tile_0001.tif"
    with rasterio.open(label) as src:
        data, transform = src.read(), src.transform
    with rasterio.open(label, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint8",
                       crs=LAMBERT93, transform=transform) as dst:
        dst.write(data)

    checked = check_pairs(find_pairs([folder]))

    assert len(checked.pairs) == 2 and not checked.problems
