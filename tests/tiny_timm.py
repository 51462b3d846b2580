"""Two tiny timm architectures for FLAIR-HUB-shaped test models, registered under their own names: the
real Swin and ConvNeXt-V2 classes with fewer and narrower blocks. Imports only timm, so that a process
running another smp (tests/data/make_upernet_golden.py, smp 0.4.0) can use them too.

``swin_flairtest`` has 2 px attention windows, so that 64 px tiles keep full windows at every stage.
"""

from __future__ import annotations

import logging

from timm.models import register_model
from timm.models._registry import _model_entrypoints
from timm.models.convnext import _create_convnext
from timm.models.swin_transformer import _create_swin_transformer

logging.getLogger("timm").setLevel(logging.ERROR)  # "no pretrained configuration": there is none to have

if "swin_flairtest" not in _model_entrypoints:
    @register_model
    def swin_flairtest(pretrained: bool = False, **kwargs):  # noqa: ANN201 - timm's entry-point signature
        args = dict(patch_size=4, window_size=2, embed_dim=8, depths=(1, 2, 1, 1), num_heads=(1, 1, 2, 2))
        return _create_swin_transformer("swin_flairtest", pretrained=pretrained, **dict(args, **kwargs))

    @register_model
    def convnextv2_flairtest(pretrained: bool = False, **kwargs):  # noqa: ANN201
        args = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32), use_grn=True, ls_init_value=None, conv_mlp=False)
        return _create_convnext("convnextv2_flairtest", pretrained=pretrained, **dict(args, **kwargs))
