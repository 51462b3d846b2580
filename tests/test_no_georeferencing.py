"""A photo without georeferencing (a JPEG with no world file) is refused for what it lacks — a
geotransform — with advice that works for a JPEG, and nothing raw from GDAL or rasterio reaches the
user (issue #10, item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning

from conftest import ROOT, TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis.engine import segment
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError

pytestmark = pytest.mark.filterwarnings("error::rasterio.errors.NotGeoreferencedWarning")


@pytest.fixture
def photo(tmp_path):
    """A plain JPEG, as a camera or an image editor writes it: no world file, no CRS."""
    path = tmp_path / "photo.jpg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="JPEG", width=120, height=100, count=3, dtype="uint8") as dst:
            dst.write(random_image(100, 120))
    for aux in tmp_path.glob("photo.jpg.aux.xml"):
        aux.unlink()
    return path


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "tiny_unet.pth"
    torch.save(tiny_model().state_dict(), path)
    return path


def test_a_jpeg_without_georeferencing_is_refused_for_its_missing_geotransform(photo, weights, tmp_path):
    with pytest.raises(FlairError) as error:
        segment(SegmentRequest.of(input=photo, output=tmp_path / "out.tif", checkpoint=weights, encoder=TINY_ENCODER))

    message = str(error.value)
    assert "photo.jpg has no georeferencing (no geotransform" in message
    assert "photo.jgw" in message and "gdal_translate -a_srs EPSG:2154 -a_ullr" in message
    assert "Georeferencer" in message
    assert "gdal_edit" not in message and "has no CRS" not in message
    assert not (tmp_path / "out.tif").exists()


def test_a_jpeg_with_a_world_file_but_no_crs_gets_advice_that_works_for_a_jpeg(photo, weights, tmp_path):
    photo.with_suffix(".jgw").write_text("0.2\n0\n0\n-0.2\n650000.1\n6860000.1\n", encoding="utf-8")

    with pytest.raises(FlairError) as error:
        segment(SegmentRequest.of(input=photo, output=tmp_path / "out.tif", checkpoint=weights, encoder=TINY_ENCODER))

    message = str(error.value)
    assert "photo.jpg has no CRS" in message and "gdal_translate -a_srs EPSG:2154 photo.jpg photo.tif" in message
    assert "gdal_edit" not in message  # it cannot update a JPEG


def test_a_geotiff_without_crs_keeps_the_gdal_edit_advice(tmp_path):
    from flair_qgis.raster_io import open_raster
    from flair_qgis.resampling import check_crs

    src = make_raster(tmp_path / "nocrs.tif", random_image(20, 20), crs=None)
    with open_raster(src) as opened, pytest.raises(FlairError, match=r"has no CRS.*gdal_edit.py -a_srs EPSG:2154"):
        check_crs(opened)


def test_the_command_line_prints_only_the_message(photo, weights, tmp_path):
    conf = tmp_path / "detect.yaml"
    conf.write_text(f"input_img_path: {photo}\noutput_path: {tmp_path / 'out'}\noutput_name: map\n"
                    f"model_weights: {weights}\nencoder_name: {TINY_ENCODER}\n", encoding="utf-8")

    done = subprocess.run([sys.executable, "-m", "flair_qgis", "detect", "--conf", str(conf)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})

    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("flair_qgis: error: input raster"), done.stderr
    assert "ERROR 1" not in done.stderr and "Warning" not in done.stderr
