"""UPerNet exactly as segmentation-models-pytorch 0.4.0 built it: the decoder of IGN's FLAIR-HUB models.

smp 0.5 rewrote its UPerNet (other layers, other parameter names), so the FLAIR-HUB checkpoints, trained
with smp 0.4.0, fit only this one. Same parameter names and shapes as smp 0.4.0 (``decoder.psp``,
``decoder.fpn_stages``, ``decoder.fpn_bottleneck``, ``segmentation_head.0``) and the same forward pass:

- a pyramid pooling module on the deepest feature (pooled to 1, 2, 3 and 6 cells, each 1×1 conv to a
  quarter of the channels, upsampled back, concatenated with the feature, 1×1 conv to 256 channels);
- a top-down pyramid: each stage upsamples the previous output to the next shallower feature's size
  and adds that feature's 1×1 conv (a feature with 0 channels, the 1/2 scale transformers lack, is
  only upsampled to);
- every pyramid output resized to 1/4 of the input, concatenated, 3×3 conv to 64 channels;
- head: 1×1 conv to the classes, then ×4 bilinear upsampling with ``align_corners=True``.

All resizing inside the decoder is bilinear with ``align_corners=False``, as in smp 0.4.0. Every conv
is followed by batch norm and ReLU (no conv bias). smp 0.4.0 also built a pyramid stage for the input
image itself that its forward pass never reaches; it is not built here (its weights are dropped on load).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import FlairError

PSP_SIZES = (1, 2, 3, 6)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1, padding: int = 0) -> nn.Sequential:
    """smp's ``Conv2dReLU`` with batch norm: parameters ``0.weight`` (conv) and ``1.*`` (norm)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class PyramidPooling(nn.Module):
    """The PSP module on the deepest encoder feature."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), conv_bn_relu(in_channels, in_channels // len(PSP_SIZES)))
            for size in PSP_SIZES)
        self.out_conv = conv_bn_relu(in_channels * 2, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        pooled = [F.interpolate(block(x), size=size, mode="bilinear", align_corners=False) for block in self.blocks]
        return self.out_conv(torch.cat([x, *pooled], dim=1))


class PyramidStage(nn.Module):
    """One top-down step: upsample to the skip feature's size, add its 1×1 conv (if it has channels)."""

    def __init__(self, skip_channels: int, pyramid_channels: int) -> None:
        super().__init__()
        self.skip_conv = conv_bn_relu(skip_channels, pyramid_channels) if skip_channels else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return x + self.skip_conv(skip) if skip.shape[1] else x


class UPerNetDecoder(nn.Module):
    """smp 0.4.0's ``UPerNetDecoder`` for an encoder reporting ``encoder_channels`` (input first,
    then scales 1/2 … 1/32; 0 channels where the encoder has no such scale)."""

    def __init__(self, encoder_channels: Sequence[int], pyramid_channels: int = 256,
                 segmentation_channels: int = 64) -> None:
        super().__init__()
        if len(encoder_channels) < 4:
            raise ValueError(f"UPerNet needs an encoder of depth 3 or more, got channels {list(encoder_channels)}")
        deepest_first = list(encoder_channels)[::-1]
        self.psp = PyramidPooling(deepest_first[0], pyramid_channels)
        # smp 0.4.0 also built a stage for the input image (deepest_first[-1]); its forward never used it.
        self.fpn_stages = nn.ModuleList(PyramidStage(ch, pyramid_channels) for ch in deepest_first[1:-1])
        self.fpn_bottleneck = conv_bn_relu((len(encoder_channels) - 1) * pyramid_channels, segmentation_channels,
                                           kernel_size=3, padding=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        height, width = features[0].shape[2:]
        target = (height // 4, width // 4)
        deepest_first = list(features[1:])[::-1]  # the input image itself is not a pyramid level
        pyramid = [self.psp(deepest_first[0])]
        for skip, stage in zip(deepest_first[1:], self.fpn_stages):
            pyramid.append(stage(pyramid[-1], skip))
        resized = [F.interpolate(p, size=target, mode="bilinear", align_corners=False) for p in pyramid]
        return self.fpn_bottleneck(torch.cat(resized, dim=1))


class UPerNet(nn.Module):
    """Encoder (an smp encoder: a list of features, input first) + :class:`UPerNetDecoder` + head.

    ``make_encoder(size)`` builds the encoder for ``size`` (height, width) inputs. Encoders whose
    layers depend on the input size (timm's Swin, built with ``img_size``) are rebuilt for each new
    input size (``sized_encoder``), keeping the same parameter tensors, so that a model runs on any
    tile exactly as one built for that tile size would.
    """

    def __init__(self, make_encoder: Callable[[tuple[int, int]], nn.Module], classes: int,
                 size: tuple[int, int] = (512, 512), sized_encoder: bool = False,
                 pyramid_channels: int = 256, segmentation_channels: int = 64) -> None:
        super().__init__()
        self._make_encoder = make_encoder
        self._sized = sized_encoder
        self._size = tuple(size)
        self.encoder = make_encoder(self._size)
        self.decoder = UPerNetDecoder(self.encoder.out_channels, pyramid_channels, segmentation_channels)
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(segmentation_channels, classes, kernel_size=1),
            nn.Upsample(scale_factor=4, mode="bilinear", align_corners=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.fit_input(tuple(x.shape[-2:]))
        return self.segmentation_head(self.decoder(self.encoder(x)))

    def fit_input(self, size: tuple[int, int]) -> None:
        """Check an input size, and rebuild a size-dependent encoder for it (:meth:`resize_encoder`)."""
        if size[0] % 32 or size[1] % 32:
            raise RuntimeError(f"UPerNet input height and width must be multiples of 32, got {tuple(size)}")
        if self._sized and tuple(size) != self._size:
            self.resize_encoder(tuple(size))

    def resize_encoder(self, size: tuple[int, int]) -> None:
        """Rebuild the encoder for ``size`` inputs around the same parameters (and buffers that are saved)."""
        with torch.inference_mode(False), torch.no_grad():
            old = self.encoder
            new = self._make_encoder(size)
            try:
                new.load_state_dict(old.state_dict(keep_vars=True), strict=True, assign=True)
            except RuntimeError:  # Swin shrinks its attention windows to feature maps smaller than them
                raise FlairError(f"tiles of {size[1]}×{size[0]} px are too small for this model's encoder (its "
                                 "attention windows no longer fit the deepest features): use larger tiles, e.g. "
                                 f"{self._size[0]} px as before") from None
            device = next(old.parameters()).device
            self.encoder = new.to(device).train(old.training)
            self._size = size
