"""Keeps OpenAI's ``triton`` out of the QGIS process.

segmentation-models-pytorch imports timm, which imports torchvision, which imports
``torch._dynamo``, which imports ``triton`` when it is installed (PyTorch's Linux wheels depend on
it). ``triton/_C/libtriton.so`` carries its own LLVM; in a QGIS desktop whose OpenGL is Mesa's
software renderer (virtual machines, remote desktops, no GPU driver), Mesa's ``libLLVM`` is
already loaded and libtriton's static initialisers crash the whole desktop (signal 11) the first
time a FLAIR algorithm imports smp. Nothing FLAIR does needs triton (it only serves
``torch.compile`` on GPUs), and PyTorch treats a triton that cannot be imported as "no triton".

:func:`block_triton` marks ``triton`` as not importable (``sys.modules["triton"] = None``, Python's
own way to make ``import triton`` raise ``ImportError`` and ``importlib.util.find_spec("triton")``
answer ``None``). The plugin calls it when QGIS loads it, before anything imports torch. Set
``FLAIR_ALLOW_TRITON=1`` to keep triton importable (e.g. a CUDA user who wants ``torch.compile``).
"""

from __future__ import annotations

import importlib.util
import os
import sys

ALLOW_ENV = "FLAIR_ALLOW_TRITON"
MODULE = "triton"


def loaded() -> bool:
    """Whether a real triton module is imported in this process."""
    return any(module is not None and (name == MODULE or name.startswith(MODULE + "."))
               for name, module in list(sys.modules.items()))


def blocked() -> bool:
    """Whether :func:`block_triton` (or anyone the same way) made triton unimportable."""
    return MODULE in sys.modules and sys.modules[MODULE] is None


def block_triton() -> bool:
    """Make ``import triton`` fail in this process; returns whether triton is blocked.

    Does nothing when ``FLAIR_ALLOW_TRITON`` is set, or when triton is imported already (too late:
    blocking it then would only break whoever holds it).
    """
    if os.environ.get(ALLOW_ENV, "").strip() not in ("", "0") or loaded():
        return blocked()
    sys.modules[MODULE] = None
    return True


def status() -> str:
    """One line for flair:diagnostics: is triton installed, blocked, or loaded in this process."""
    if loaded():
        return "loaded in this process (a QGIS desktop on Mesa's software OpenGL may crash)"
    if blocked():
        return f"blocked (never imported inside QGIS; {ALLOW_ENV}=1 allows it)"
    try:
        installed = importlib.util.find_spec(MODULE) is not None
    except (ImportError, ValueError):
        installed = False
    if installed:
        return "installed, not blocked: importing segmentation-models-pytorch would import it"
    return "not installed"
