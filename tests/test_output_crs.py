"""Outputs carry the EPSG definition their input's CRS is equivalent to (issue #16, item 8): an
unnamed Lambert-93 (a PROJ string or a WKT without its code) is written as EPSG:2154, which QGIS
then does not read as EPSG:9794 and does not ask for a datum transformation against 2154 layers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from conftest import make_raster
from flair_qgis import raster_io
from flair_qgis.change import ChangeOptions, compare
from flair_qgis.grids import output_crs

LAMBERT93 = ("+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +ellps=GRS80 "
             "+towgs84=0,0,0,0,0,0,0 +units=m +no_defs")
SHIFTED = LAMBERT93.replace("+y_0=6600000", "+y_0=6600001")
BOUNDS = (650000.0, 6859000.0, 651000.0, 6860000.0)


def unnamed_lambert93_wkt() -> str:
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromProj4(LAMBERT93)
    assert srs.GetAuthorityCode(None) is None
    return srs.ExportToWkt()


def epsg_code_in_file(path) -> str | None:
    """The top-level EPSG code GDAL (and QGIS) read in the file."""
    from osgeo import gdal, osr

    dataset = gdal.Open(str(path))
    srs = osr.SpatialReference(wkt=dataset.GetProjection())
    return srs.GetAuthorityCode(None)


def test_an_unnamed_lambert93_becomes_epsg_2154_and_others_stay_as_they_are():
    for crs in (CRS.from_proj4(LAMBERT93), CRS.from_wkt(unnamed_lambert93_wkt())):
        assert output_crs(crs, BOUNDS, 0.2).to_wkt() == CRS.from_epsg(2154).to_wkt()
    shifted = CRS.from_proj4(SHIFTED)
    assert output_crs(shifted, BOUNDS, 0.2) is shifted  # equivalent to no EPSG CRS
    assert output_crs(CRS.from_epsg(32631)) == CRS.from_epsg(32631)
    assert output_crs(None) is None


def test_the_raster_writer_writes_the_epsg_definition(tmp_path):
    spec = raster_io.OutputSpec(width=4, height=3, count=1, crs=CRS.from_wkt(unnamed_lambert93_wkt()),
                                transform=rasterio.transform.from_origin(650000, 6860000, 0.2, 0.2))
    with raster_io.AtomicRasterWriter(tmp_path / "out.tif", spec) as out:
        out.write(np.ones((1, 3, 4), dtype=np.uint8), rasterio.windows.Window(0, 0, 4, 3))
        out.commit()
    assert epsg_code_in_file(tmp_path / "out.tif") == "2154"


def test_change_outputs_of_unnamed_lambert93_maps_are_epsg_2154(tmp_path):
    codes = np.random.default_rng(1).integers(1, 20, (1, 8, 8), dtype=np.uint8)
    wkt = unnamed_lambert93_wkt()
    b = make_raster(tmp_path / "b.tif", codes, nodata=0, crs=wkt)
    a = make_raster(tmp_path / "a.tif", codes[:, ::-1], nodata=0, crs=wkt)
    assert epsg_code_in_file(b) is None  # the input: unnamed
    compare(ChangeOptions(b, a, change=tmp_path / "change.tif", change_codes=tmp_path / "codes.tif"))
    assert epsg_code_in_file(tmp_path / "change.tif") == "2154"
    assert epsg_code_in_file(tmp_path / "codes.tif") == "2154"


@pytest.mark.qgis
def test_polygons_of_an_unnamed_lambert93_map_are_in_epsg_2154(provider, tmp_path):
    import processing
    from qgis.core import QgsVectorLayer

    codes = np.zeros((1, 10, 10), dtype=np.uint8) + 1
    codes[0, :, 5:] = 6
    raster = make_raster(tmp_path / "map.tif", codes, nodata=0, crs=unnamed_lambert93_wkt())
    out = processing.run("flair:polygonize", {"INPUT": str(raster), "OUTPUT": str(tmp_path / "poly.gpkg")})
    layer = QgsVectorLayer(out["OUTPUT"], "poly", "ogr")
    assert layer.isValid() and layer.crs().authid() == "EPSG:2154"
