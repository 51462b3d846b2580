"""flair:segment on what users really have: any map layer, an extent, mask polygons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import make_raster, random_image
from test_processing import _segment, flair_ckpt, out_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.qgis
X0, Y0 = 650000.0, 6860000.0  # make_raster's origin; pixels of 0.2 m


def read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_extent_restricts_the_output_to_that_part_of_the_raster(provider, tmp_path, out_dir, flair_ckpt):
    raster = make_raster(tmp_path / "in.tif", random_image(300, 420, seed=1))
    whole = read(_segment(INPUT=raster, CHECKPOINT=flair_ckpt, OUTPUT=out_dir / "whole.tif")["OUTPUT"])
    extent = f"{X0 + 10},{X0 + 50},{Y0 - 40},{Y0 - 20} [EPSG:2154]"  # cols 50..250, rows 100..200
    part = _segment(INPUT=raster, CHECKPOINT=flair_ckpt, EXTENT=extent, OUTPUT=out_dir / "part.tif")["OUTPUT"]
    with rasterio.open(part) as p:
        assert (p.width, p.height) == (200, 100)
        assert p.transform.c == pytest.approx(X0 + 10) and p.transform.f == pytest.approx(Y0 - 20)
    np.testing.assert_array_equal(read(part), whole[100:200, 50:250])


def test_mask_polygons_leave_nodata_outside(provider, tmp_path, out_dir, flair_ckpt):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    raster = make_raster(tmp_path / "in.tif", random_image(300, 420, seed=2))
    polygons = QgsVectorLayer("Polygon?crs=EPSG:2154", "area", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt(
        f"POLYGON(({X0 + 4} {Y0 - 4}, {X0 + 24} {Y0 - 4}, {X0 + 24} {Y0 - 14}, {X0 + 4} {Y0 - 14}, "
        f"{X0 + 4} {Y0 - 4}))"))
    polygons.dataProvider().addFeatures([feature])
    out = _segment(INPUT=raster, CHECKPOINT=flair_ckpt, MASK=polygons, OUTPUT=out_dir / "masked.tif")["OUTPUT"]
    codes = read(out)
    assert codes.shape == (50, 100)  # the polygon's extent: 20 m × 10 m
    assert (codes > 0).all()


def test_a_layer_that_is_not_a_file_is_rendered_then_segmented(provider, tmp_path, out_dir, flair_ckpt):
    """A virtual raster layer (QGIS's on-the-fly raster calculator) stands for WMS/XYZ layers."""
    from qgis.core import QgsRasterLayer

    pixels = random_image(150, 200, seed=3)
    raster = make_raster(tmp_path / "in.tif", pixels)
    x1, y1 = X0 + 200 * 0.2, Y0 - 150 * 0.2
    uri = (f"?crs=EPSG:2154&extent={X0},{y1},{x1},{Y0}&width=200&height=150"
           f"&formula=%22band@1%22&band:uri={raster}&band:provider=gdal")
    virtual = QgsRasterLayer(uri, "virtual", "virtualraster")
    assert virtual.isValid() and virtual.providerType() == "virtualraster"
    got = _segment(INPUT=virtual, CHECKPOINT=flair_ckpt, BANDS=[1, 1, 1], OUTPUT=out_dir / "v.tif")["OUTPUT"]
    grey = make_raster(tmp_path / "grey.tif", np.repeat(pixels[:1], 3, axis=0))
    expected = _segment(INPUT=grey, CHECKPOINT=flair_ckpt, OUTPUT=out_dir / "g.tif")["OUTPUT"]
    with rasterio.open(got) as g:
        assert g.crs.to_epsg() == 2154 and (g.width, g.height) == (200, 150)
    assert (read(got) == read(expected)).mean() > 0.999


def test_an_extent_outside_the_raster_is_refused(provider, tmp_path, out_dir, flair_ckpt):
    from qgis.core import QgsProcessingException

    raster = make_raster(tmp_path / "in.tif", random_image(100, 100, seed=4))
    with pytest.raises(QgsProcessingException, match="does not overlap"):
        _segment(INPUT=raster, CHECKPOINT=flair_ckpt, EXTENT=f"{X0 + 500},{X0 + 600},{Y0 - 600},{Y0 - 500} [EPSG:2154]",
                 OUTPUT=out_dir / "o.tif")
    assert list(Path(out_dir).iterdir()) == []
