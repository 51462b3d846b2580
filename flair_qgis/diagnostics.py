"""What a bug report needs: versions, devices, the model cache and the state of its files."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from . import openvino_backend, triton_guard
from .files import sha256_of
from .hf_download import cache_dir, cached_copies, offline
from .zoo import ZOO


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def cached_models(verify: bool = True) -> list[tuple[str, str]]:
    """(model, state) for every zoo model (FLAIR-INC and FLAIR-HUB) found in the cache: its revision and
    whether its sha256 is right (``verify``: the pinned hash, else the one the hub announced), or that it
    is not cached."""
    states = []
    copies = cached_copies()
    for entry in ZOO.values():
        files = copies.get((entry.repo_id, entry.filename), [])
        if not files:
            states.append((entry.name, "not cached"))
            continue
        for revision, f in files:
            state = f"cached (revision {revision[:12]})"
            if verify:
                blob = f.resolve()
                expected = entry.sha256 or blob.name
                state += ", sha256 OK" if sha256_of(blob) == expected else ", sha256 WRONG: download it again"
            states.append((entry.name, state))
    return states


def report(extra: dict[str, str] | None = None, verify: bool = True) -> str:
    """A plain-text report to paste into a bug report."""
    lines = [f"Python {sys.version.split()[0]} on {platform.platform()}"]
    lines += [f"{dist} {_version(dist)}" for dist in
              ("numpy", "torch", "torchvision", "segmentation-models-pytorch", "timm", "rasterio",
               "huggingface_hub", "safetensors", "torchmetrics", "PyYAML", "openvino")]
    try:
        import rasterio

        lines.append(f"GDAL (rasterio's) {rasterio.__gdal_version__}")
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                lines.append(f"CUDA device {i}: {torch.cuda.get_device_name(i)}, "
                             f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free")
        else:
            lines.append(f"CUDA: not available (torch {torch.__version__}); CPU threads {torch.get_num_threads()}")
    except ImportError:
        lines.append("CUDA: unknown (torch is missing)")
    lines.append(f"triton: {triton_guard.status()}")
    lines.append(f"OpenVINO devices: {', '.join(openvino_backend.devices())}; compiled models in "
                 f"{openvino_backend.cache_dir()}")
    for key, value in (extra or {}).items():
        lines.append(f"{key} {value}")
    lines.append(f"Model cache: {cache_dir()}{' (offline mode)' if offline() else ''}")
    lines += [f"  {name}: {state}" for name, state in cached_models(verify)]
    return "\n".join(lines)
