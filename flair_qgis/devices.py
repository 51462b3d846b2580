"""Which device a run uses: ``auto`` takes a CUDA GPU when PyTorch sees one, else the CPU.

PyTorch is asked only where a CUDA GPU may be there (an NVIDIA driver is installed): a CPU run that
does not use PyTorch (OpenVINO, :mod:`.openvino_backend`) does not pay its import.
"""

from __future__ import annotations

import os
import sys

from .choices import DEVICES, check_choice
from .errors import FlairError


def nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is installed (CUDA needs one): Linux's ``/proc/driver/nvidia`` or
    ``/dev/nvidiactl``, Windows's ``nvcuda.dll``; never on macOS."""
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")
    if sys.platform == "win32":
        system = os.environ.get("SystemRoot", r"C:\Windows")
        return os.path.exists(os.path.join(system, "System32", "nvcuda.dll"))
    return False


def device_name(name: str) -> str:
    """``cpu`` or ``cuda`` for a DEVICE setting (``auto``, ``cpu``, ``cuda``/``gpu``); asking for CUDA
    without it is an error."""
    name = {"gpu": "cuda"}.get(name.lower(), name.lower())
    check_choice("device", name, DEVICES)
    if name == "cpu" or (name == "auto" and not nvidia_driver_present()):
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise FlairError("device 'cuda' was asked for but PyTorch sees no CUDA GPU here: use 'auto' or 'cpu'")
    return "cpu"
