"""Models computing only the kept centre of a tile: the same pixels as the whole model, for less work."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
import torch

from conftest import make_raster, random_image, tiny_model
from hub_fixtures import TINY_CONVNEXT, TINY_SWIN, tiny_hub_entry, tiny_hub_model
from flair_qgis.centre_crop import CentreSlice, UnetCentre, UPerNetCentre, centre_model
from flair_qgis.engine import segment_with
from flair_qgis.model_spec import build_model
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.tiling import tile_grid

MODELS = {
    "unet": (lambda: tiny_model(), UnetCentre),
    "swin-upernet": (lambda: tiny_hub_model(TINY_SWIN), UPerNetCentre),
    "convnext-upernet": (lambda: tiny_hub_model(TINY_CONVNEXT), UPerNetCentre),
    "convnext-unet": (lambda: tiny_hub_model(TINY_CONVNEXT, arch="unet"), UnetCentre),
    "fpn": (lambda: tiny_model(arch="fpn"), CentreSlice),
}
SIZES = [(256, 64), (256, 37), (128, 8), (96, 40), (128, 63)]


def centre_of(out: torch.Tensor, margin: int) -> torch.Tensor:
    return out[..., margin:out.shape[-2] - margin, margin:out.shape[-1] - margin]


@pytest.mark.parametrize("name", MODELS)
def test_the_centre_equals_the_whole_models_centre(name):
    make, kind = MODELS[name]
    model = make().eval()
    for size, margin in SIZES:
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size + margin))
        wrapped = centre_model(model, margin)
        assert type(wrapped) is kind
        with torch.no_grad():
            whole, centre = model(x), wrapped(x)
        expected = centre_of(whole, margin)
        assert centre.shape == expected.shape, (size, margin)
        torch.testing.assert_close(centre, expected, atol=2e-5, rtol=1e-4)


def test_channels_last_inputs_and_a_rebuilt_swin_encoder_give_the_same_centre():
    model = tiny_hub_model(TINY_SWIN).eval().to(memory_format=torch.channels_last)
    wrapped = centre_model(model, 48)
    for size in (256, 192):  # the Swin encoder is rebuilt for 192 px inputs, by the wrapper as by the model
        x = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            torch.testing.assert_close(wrapped(x), centre_of(model(x), 48), atol=2e-5, rtol=1e-4)


def spatial_inputs(layer: torch.nn.Module, run) -> list[tuple[int, int]]:
    """The height and width of what ``layer`` received while ``run()`` ran."""
    seen = []
    hook = layer.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape[-2:])))
    try:
        with torch.no_grad():
            run()
    finally:
        hook.remove()
    return seen


def test_the_decoders_run_on_the_kept_region_only():
    x = torch.randn(1, 3, 256, 256)
    unet = tiny_model().eval()
    last = unet.decoder.blocks[-1].conv1  # the full-resolution block
    assert spatial_inputs(last, lambda: unet(x)) == [(256, 256)]
    # 128 px kept, + 1 for the head's 3×3 conv, + 2 for the block's two 3×3 convs
    assert spatial_inputs(last, lambda: centre_model(unet, 64)(x)) == [(134, 134)]

    upernet = tiny_hub_model(TINY_SWIN).eval()
    bottleneck = upernet.decoder.fpn_bottleneck
    assert spatial_inputs(bottleneck, lambda: upernet(x)) == [(64, 64)]
    [(rows, cols)] = spatial_inputs(bottleneck, lambda: centre_model(upernet, 64)(x))
    assert rows == cols and rows <= 32 + 4  # the kept 32 px at 1/4, the upsampling's and the conv's neighbours


def test_other_decoders_and_u_nets_with_attention_or_instance_norm_run_whole_and_are_sliced():
    import segmentation_models_pytorch as smp

    # smp's scSE attention pools over the whole tile: cutting the tile would change what it computes
    scse = smp.Unet("resnet18", encoder_weights=None, classes=5, decoder_attention_type="scse").eval()
    # instance norm: statistics over the whole tile too
    instance = smp.Unet("resnet18", encoder_weights=None, classes=5,
                        decoder_use_norm={"type": "instancenorm", "affine": True}).eval()
    x = torch.randn(1, 3, 128, 128)
    for model in (scse, instance, build_model("deeplabv3", "resnet18", 3, 5).eval()):
        wrapped = centre_model(model, 32)
        assert type(wrapped) is CentreSlice
        with torch.no_grad():
            torch.testing.assert_close(wrapped(x), centre_of(model(x), 32))
    assert centre_model(scse, 0) is scse


def test_a_tile_smaller_than_twice_the_margin_gets_the_whole_output():
    """The CPU memory probe runs a smaller tile through the run's model."""
    model = tiny_model().eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    assert spatial_inputs(model.encoder, lambda: torch.testing.assert_close(centre_model(model, 32)(x), expected)) \
        == [(64, 64)]  # the encoder run once


@pytest.mark.parametrize("encoder", [TINY_SWIN, TINY_CONVNEXT])
def test_the_engines_map_is_each_tiles_own_prediction_with_a_centre_only_upernet(tmp_path, encoder):
    height, width, size, margin = 200, 230, 128, 32
    pixels = random_image(height, width, seed=5)
    src = make_raster(tmp_path / "in.tif", pixels)
    model = tiny_hub_model(encoder).eval()
    spec = replace(tiny_hub_entry(encoder=encoder).spec, tile_size=size, margin=margin)
    request = SegmentRequest.of(src, tmp_path / "out.tif", batch_size=3, backend="torch", bands=[1, 2, 3])
    with rasterio.open(segment_with(model, spec, request).output) as r:
        out = r.read(1)

    model = model.to(memory_format=torch.contiguous_format)
    codes = np.array([c.code for c in spec.classes])
    inactive = torch.tensor([not a for a in spec.active])
    padded = np.zeros((3, height + 2 * size, width + 2 * size), np.uint8)
    padded[:, size:size + height, size:size + width] = pixels
    expected = np.zeros((height, width), np.int64)
    for t in tile_grid(width, height, size, margin):
        window = padded[:, t.row + size:t.row + 2 * size, t.col + size:t.col + 2 * size]
        with torch.no_grad():
            logits = model(torch.from_numpy(spec.normalisation.apply(window))[None])[0]
        logits[inactive] = float("-inf")
        rows, cols = t.crop
        expected[t.out_row:t.out_row + t.out_height, t.out_col:t.out_col + t.out_width] = \
            codes[logits.argmax(0).numpy()][rows, cols]
    assert (out != expected).mean() < 1e-4  # a tie of two logits may round the other way
