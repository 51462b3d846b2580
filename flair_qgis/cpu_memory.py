"""How many tiles a CPU run may put in one batch without running the machine out of memory.

Measured, not guessed: one tile (at most :data:`PROBE` px, scaled to the tile size by its pixels: a
model's activations grow with them) runs while the process's peak resident memory is watched, and the
batch is what fits in a share of the memory free. A tile too large even alone is refused before the
run, naming a ``TILE_SIZE`` that fits. Standard library only (no psutil): ``/proc`` on Linux (with a
cgroup's limit), the Win32 API on Windows, ``resource``/``sysconf`` elsewhere; where a figure cannot
be read, the batch is left as it is and the log says so.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import Callable

import numpy as np

from .errors import FlairError
from .progress import Progress

PROBE = 512  # px: the side of the tile measured (smaller tiles are measured at their own size)
SHARE = 0.8  # of the free memory a batch may take: the rest for GDAL, the writer, the system
SCALED = 1.2  # headroom on a figure scaled up from a smaller probe tile
GIB = 1024 ** 3
CPU_BATCH_PIXELS = 4 * 512 * 512  # the default batch of 512 px tiles: more is not faster on the CPU, only larger


def cpu_batch_size(batch_size: int, tile_size: int) -> int:
    """``batch_size`` lowered so that a batch holds no more pixels than 4 tiles of 512 px (one 2048 px
    tile of a Swin UPerNet already takes about 5 GB on the CPU)."""
    return max(1, min(batch_size, CPU_BATCH_PIXELS // (tile_size * tile_size)))


def available_memory() -> int | None:
    """Bytes of memory this process can still take without swapping, or ``None`` when unknown."""
    meminfo = _proc_field("/proc/meminfo", "MemAvailable")
    if meminfo is not None:
        limit = _cgroup_room()
        return min(meminfo, limit) if limit is not None else meminfo
    if sys.platform == "win32":
        return _windows_available()
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def peak_growth(run: Callable[[], object]) -> int | None:
    """Bytes by which the process's resident memory rose at its peak during ``run()`` above its level
    before, or ``None`` when this system does not say."""
    _trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:  # Linux: reset the peak (VmHWM) to the current RSS
            f.write("5")
        before = _proc_field("/proc/self/status", "VmRSS")
    except OSError:
        before = None
    if before is not None:
        run()
        peak = _proc_field("/proc/self/status", "VmHWM")
        return None if peak is None else max(0, peak - before)
    current = _windows_rss if sys.platform == "win32" else None
    if current is not None and current() is not None:
        return _sampled(run, current)
    try:
        import resource
    except ImportError:
        run()
        return None
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (after - before) * unit if after > before else None  # below an older peak: unknown


def _trim() -> None:
    """Hand the memory freed but kept by glibc's allocator back to the system, so that the resident
    memory before a measurement is what is in use (else a tile reusing it would seem to take less)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library (musl): nothing kept that way
        pass


def fit_batch(predict: Callable[[np.ndarray], object], in_channels: int, tile: int, margin: int, batch: int,
              progress: Progress, free_memory: Callable[[], int | None] | None = None,
              measure: Callable[[Callable[[], object]], int | None] | None = None,
              probe_size: int | None = None) -> int:
    """The batch (at most ``batch``) whose tiles of ``tile`` px fit in :data:`SHARE` of the free memory,
    from one tile run through ``predict`` (zeros of ``in_channels`` bands, ``probe_size`` px: by default
    the tile, at most :data:`PROBE`); logs the choice. Raises a :class:`FlairError` naming a tile size
    that fits when one tile does not."""
    free = (free_memory or available_memory)()
    if free is None:
        progress.log(f"Batch {batch} on the CPU (the free memory cannot be read here: not checked against it)")
        return batch
    probe = probe_size or min(tile, PROBE)
    grown = (measure or peak_growth)(lambda: predict(np.zeros((1, in_channels, probe, probe), np.uint8)))
    if grown is None:
        progress.log(f"Batch {batch} on the CPU (a tile's memory cannot be measured here: not checked)")
        return batch
    per_tile = max(1, int(grown * (tile / probe) ** 2 * (SCALED if probe < tile else 1.0)))
    budget = int(free * SHARE)
    measured = f"measured on a {probe} px tile" if probe < tile else "measured"
    if per_tile > budget:
        raise FlairError(_too_large(tile, margin, per_tile, free, budget, measured))
    fits = max(1, min(batch, budget // per_tile))
    figures = (f"one {tile} px tile takes about {_gib(per_tile)} on the CPU ({measured}), {_gib(free)} "
               "of memory is free")
    if fits < batch:
        progress.log(f"Batch lowered from {batch} to {fits} tile(s) of {tile} px: {figures}")
    else:
        progress.log(f"Batch {batch} on the CPU: {figures}")
    return fits


def _too_large(tile: int, margin: int, per_tile: int, free: int, budget: int, measured: str) -> str:
    side = int(tile * math.sqrt(budget / per_tile)) // 32 * 32  # memory grows with the pixels
    head = (f"not enough memory for one {tile} px tile: it takes about {_gib(per_tile)} on the CPU "
            f"({measured}), and {_gib(free)} is free")
    if side < 64:
        return f"{head}. Close other programs to free memory, or use a machine with more"
    edge = margin * side // tile // 8 * 8
    return (f"{head}. Use smaller tiles: TILE_SIZE {side} with MARGIN {edge} (or less) fits (the map may then "
            "differ from the one the model's own tiling gives), or close other programs to free memory")


def _gib(n: int) -> str:
    """GB to one decimal; MB under 0.1 GB (a small model's tile is not "0.0 GB")."""
    return f"{n / GIB:.1f} GB" if n >= GIB // 10 else f"{max(1, round(n / 2 ** 20))} MB"


def _proc_field(path: str, name: str) -> int | None:
    """A ``Name:  123 kB`` line of a /proc file, in bytes."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Room left under this process's cgroup v2 memory limit (containers), if it has one."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            group = next((line.strip().split("::", 1)[1] for line in f if line.startswith("0::")), None)
        if group is None:
            return None
        folder = "/sys/fs/cgroup" + group.rstrip("/")
        with open(f"{folder}/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        with open(f"{folder}/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
    except (OSError, ValueError, IndexError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def _windows_available() -> int | None:
    try:
        import ctypes

        class Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("available", ctypes.c_ulonglong), ("page_total", ctypes.c_ulonglong),
                        ("page_free", ctypes.c_ulonglong), ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_free", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]

        status = Status()
        status.length = ctypes.sizeof(Status)
        if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return None
        return int(status.available)
    except Exception:  # noqa: BLE001 - no figure: the caller says so
        return None


def _windows_rss() -> int | None:
    """The process's working set (its resident memory) on Windows."""
    try:
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [("cb", wintypes.DWORD), ("faults", wintypes.DWORD)] + [
                (name, ctypes.c_size_t) for name in ("peak", "working_set", "peak_paged", "paged", "peak_nonpaged",
                                                     "nonpaged", "pagefile", "peak_pagefile")]

        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        process = ctypes.windll.kernel32.GetCurrentProcess()  # type: ignore[attr-defined]
        if not ctypes.windll.psapi.GetProcessMemoryInfo(process, ctypes.byref(counters), counters.cb):  # type: ignore[attr-defined]
            return None
        return int(counters.working_set)
    except Exception:  # noqa: BLE001 - no figure: the caller measures otherwise
        return None


def _sampled(run: Callable[[], object], current: Callable[[], int | None], every: float = 0.005) -> int:
    """The peak of ``current()`` sampled while ``run()`` runs, above its value before."""
    before = current() or 0
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], current() or 0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run()
    finally:
        done.set()
        watcher.join()
    return max(0, max(peak[0], current() or 0) - before)
