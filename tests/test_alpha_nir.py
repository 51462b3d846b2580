"""An RGBI GeoTIFF whose 4th band GDAL tags as alpha, given to a model that takes NIR: the error says
which BANDS use that band as NIR for this model (issue #16, item 3), and that advice works."""

from __future__ import annotations

from dataclasses import replace

import pytest
import rasterio
from rasterio.enums import ColorInterp

from conftest import make_raster, random_image, tiny_model
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.zoo import get_entry
from hub_fixtures import tiny_hub_entry

CASES = {  # model -> (its bands, the BANDS that feed band 4 as NIR)
    "FLAIR-HUB IR (NIR, R, G)": (lambda: tiny_hub_entry().spec, "4,1,2"),
    "FLAIR-INC RGBI (R, G, B, NIR)": (lambda: get_entry("FLAIR-INC_rgbi_15cl_resnet34-unet").spec,
                                      "1,2,3,4"),
}


@pytest.fixture
def rgbi_alpha(tmp_path):
    """A 4-band byte GeoTIFF as GDAL writes it by default: bands 1-3 RGB, band 4 tagged alpha."""
    path = make_raster(tmp_path / "rgbi.tif", random_image(80, 80, bands=4, seed=2))
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    with rasterio.open(path) as src:
        assert src.colorinterp[3] == ColorInterp.alpha
    return path


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_hint_names_the_bands_that_use_the_alpha_band_as_nir_for_this_model(case, rgbi_alpha, tmp_path):
    make_spec, bands = CASES[case]
    spec = replace(make_spec(), tile_size=64, margin=16)
    model = tiny_model(spec.in_channels, 19)

    with pytest.raises(FlairError) as err:
        segment_with(model, spec, SegmentRequest.of(rgbi_alpha, tmp_path / "refused.tif"))

    message = str(err.value)
    assert f"band 4 of {rgbi_alpha} is tagged alpha" in message and f"BANDS={bands}" in message
    assert "a 4-band INPUT" not in message and "choose its bands 1, 2, 3" not in message

    result = segment_with(model, spec, SegmentRequest.of(rgbi_alpha, tmp_path / "out.tif",
                                                      bands=[int(b) for b in bands.split(",")]))
    with rasterio.open(result.output) as out:
        assert (out.read(1) > 0).all()  # the NIR band is imagery, not a mask: every pixel classified
