"""The engine's request in four parts (what is read, which model, how it runs, what is written),
and every check of a request run once: by segment(), segment_with() and a sharded run alike."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis import band_sources, raster_io, resampling, segment_checks
from flair_qgis.band_sources import BandSources
from flair_qgis.checkpoints import save_checkpoint
from flair_qgis.distributed import ZoneOptions, run_zone
from flair_qgis.engine import segment
from flair_qgis.errors import FlairError
from flair_qgis.segment_options import ModelChoice, ReadOptions, RunOptions, SegmentRequest, WriteOptions
from flair_qgis.zoo import get_entry

ORIGIN = (650000.0, 6860000.0)
RGB = replace(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, encoder=TINY_ENCODER,
              tile_size=64, margin=16)
RGBI = replace(get_entry("FLAIR-INC_rgbi_15cl_resnet34-unet").spec, tile_size=64, margin=16)


def test_flat_settings_are_routed_to_their_part_and_back():
    request = SegmentRequest.of("in.tif", "out.tif", model="FLAIR-INC_rgb_15cl_resnet34-unet", bands=[3, 2, 1],
                                batch_size=8, tile_grid="map-anchored", output_type="class_prob", window=(0, 0, 5, 5))

    assert request.read == ReadOptions(Path("in.tif"), bands=[3, 2, 1], window=(0, 0, 5, 5))
    assert request.model == ModelChoice(name="FLAIR-INC_rgb_15cl_resnet34-unet", tile_grid="map-anchored")
    assert request.run == RunOptions(batch_size=8)
    assert request.write == WriteOptions(Path("out.tif"), output_type="class_prob")
    settings = request.settings()
    assert len(settings) == 30 and settings["model"] == "FLAIR-INC_rgb_15cl_resnet34-unet"
    assert SegmentRequest.of(**settings) == request
    assert request.changed(device="cpu").run.device == "cpu" and request.run.device == "auto"


def test_a_misspelt_setting_is_refused():
    with pytest.raises(TypeError, match="unexpected setting 'batchsize'"):
        SegmentRequest.of("in.tif", "out.tif", batchsize=8)
    request = SegmentRequest.of("in.tif", "out.tif")
    with pytest.raises(AttributeError):
        request.run.batchsize = 8  # slots: no silent new attribute


def _counted(monkeypatch, calls: Counter, module, name: str) -> None:
    """Count the calls of ``module.name`` (it still runs)."""
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


@pytest.fixture
def calls(monkeypatch) -> Counter:
    counter: Counter = Counter()
    for module, name in ((band_sources, "check"), (resampling, "check_crs"), (raster_io, "check_band_numbers"),
                         (raster_io, "check_output_folder"), (segment_checks, "check_tile_settings")):
        _counted(monkeypatch, counter, module, name)
    return counter


def test_a_request_with_band_sources_is_checked_once(tmp_path, calls):
    rgb = make_raster(tmp_path / "rgb.tif", random_image(80, 90, seed=1), origin=ORIGIN)
    irc = make_raster(tmp_path / "irc.tif", random_image(80, 90, seed=2), origin=ORIGIN)
    ckpt = save_checkpoint(tmp_path / "rgbi.pt", tiny_model(in_channels=4), replace(RGBI, encoder=TINY_ENCODER))
    request = SegmentRequest.of(rgb, tmp_path / "o.tif", checkpoint=ckpt, bands=[1, 2, 3],
                                sources=BandSources(irc=irc), tile_size=64, margin=16)

    result = segment(request)

    # before: twice each (the request, then the sources again and the stacked VRT as a new input)
    assert calls == Counter(check=1, check_crs=1, check_band_numbers=1, check_output_folder=1, check_tile_settings=1)
    assert result.spec.bands == ("R", "G", "B", "NIR")


def test_a_request_is_checked_once_before_the_model_is_loaded(tmp_path, calls):
    src = make_raster(tmp_path / "in.tif", random_image(70, 70, seed=3), origin=ORIGIN)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), RGB)

    segment(SegmentRequest.of(src, tmp_path / "o.tif", checkpoint=ckpt))
    assert calls["check_crs"] == 1 and calls["check_output_folder"] == 1  # before: twice each

    with pytest.raises(FlairError, match=r"window \(60, 0, 20, 5\).*not inside the 70×70 px raster"):
        segment(SegmentRequest.of(src, tmp_path / "w.tif", checkpoint=tmp_path / "nope.pt", window=(60, 0, 20, 5)))


def test_a_sharded_zone_is_checked_once_not_once_per_block(tmp_path, calls):
    src = make_raster(tmp_path / "zone.tif", random_image(150, 150, seed=4), origin=ORIGIN)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), RGB)

    result = run_zone(ZoneOptions(SegmentRequest.of(src, tmp_path / "z.tif", checkpoint=ckpt), block_size=64))

    assert result.blocks >= 4
    assert calls["check_crs"] == 1 and calls["check_band_numbers"] == 1  # before: once per block
    single = segment(SegmentRequest.of(src, tmp_path / "single.tif", checkpoint=ckpt)).output
    with raster_io.open_raster(single) as a, raster_io.open_raster(result.output) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_a_sharded_zone_without_crs_is_refused_as_a_single_run_is(tmp_path):
    src = make_raster(tmp_path / "nocrs.tif", random_image(70, 70, seed=5), crs=None)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", tiny_model(), RGB)

    with pytest.raises(FlairError) as single:
        segment(SegmentRequest.of(src, tmp_path / "a.tif", checkpoint=ckpt))
    with pytest.raises(FlairError) as sharded:
        run_zone(ZoneOptions(SegmentRequest.of(src, tmp_path / "b.tif", checkpoint=ckpt), block_size=64))

    assert str(sharded.value) == str(single.value) and "gdal_edit.py -a_srs EPSG:2154 nocrs.tif" in str(single.value)
    assert not (tmp_path / "b.shards").exists()
