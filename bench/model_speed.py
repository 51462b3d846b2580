"""Forward-pass speed of the shipped architectures on the same tiles: FLAIR-INC's ResNet34 U-Net and the
FLAIR-HUB Swin-tiny and ConvNeXt-V2-tiny UPerNets (random weights; tiles/s, CPU, and CUDA when present).

    .venv/bin/python bench/model_speed.py --tile 512 --batch 4 --batches 2   # alone; bench/run.py calls it too
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flair_qgis.model_spec import build_model  # noqa: E402
from flair_qgis.zoo import get_entry  # noqa: E402

MODELS = ("FLAIR-INC_rgb_15cl_resnet34-unet", "FLAIR-HUB_LC-A_RGB_swintiny-upernet",
          "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet")


def tiles_per_second(name: str, device: torch.device, tile: int, batch: int, batches: int) -> float:
    """Tiles per second of ``name``'s architecture (fp32 on the CPU, fp16 autocast on CUDA, channels-last)."""
    spec = get_entry(name).spec
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval().to(device)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, spec.in_channels, tile, tile, device=device).contiguous(memory_format=torch.channels_last)
    cuda = device.type == "cuda"
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
        model(x)  # warm-up (and Swin built for this tile size)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        if cuda:
            torch.cuda.synchronize()
    return batch * batches / (time.perf_counter() - start)


def model_speeds(report: Callable[[str, str], None], tile: int = 512, batch: int = 4, batches: int = 2) -> None:
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for name in MODELS:
            rate = tiles_per_second(name, device, tile, batch, batches * (8 if device.type == "cuda" else 1))
            report(f"forward speed, {name.split('_', 1)[1]}, {tile} px, batch {batch}, {device.type}",
                   f"{rate:.2f} tiles/s")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--batches", type=int, default=2)
    a = p.parse_args()
    model_speeds(lambda k, v: print(f"{k:<72} {v}", flush=True), a.tile, a.batch, a.batches)
