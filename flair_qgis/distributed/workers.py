"""The task each worker runs: one block segmented into its shard, with a model loaded once per
worker process and kept for the next blocks."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import sha256_of
from ..progress import Progress


@dataclass
class BlockJob:
    """One block to segment: ``options`` (a :class:`~flair_qgis.segment_options.SegmentRequest`,
    checked with the zone) has the zone as input, the shard as output and the block as window.
    ``torch_threads`` maps a worker's host to the torch threads each worker process there should
    use (Dask starts workers with one OpenMP thread)."""

    options: Any  # SegmentRequest
    name: str
    torch_threads: dict[str, int] = field(default_factory=dict)


_MODELS: dict[tuple, tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()
MODEL_LOADS = {"count": 0}  # how many models this process has loaded (a worker: once per model)


def _model_key(request: Any) -> tuple:
    choice = request.model
    ckpt = Path(choice.checkpoint).resolve() if choice.checkpoint else None
    stamp = (ckpt.stat().st_size, ckpt.stat().st_mtime_ns) if ckpt and ckpt.exists() else None
    norm = choice.normalisation.as_dict() if choice.normalisation else None
    return (choice.name, str(ckpt) if ckpt else None, stamp, choice.arch, choice.encoder,
            choice.n_classes, json.dumps(norm, sort_keys=True), request.run.device,
            tuple(choice.active_codes or ()))


def cached_model(request: Any) -> tuple[Any, Any]:
    """The model (a :class:`.model_source.ModelSource`) and spec ``request`` names, resolved once per
    process (on its GPU when it has one) and kept for the next blocks; its weights are read when a
    backend first needs them, and its OpenVINO form is known by its file's sha256."""
    from ..devices import device_name
    from ..model_source import resolve

    key = _model_key(request)
    with _MODELS_LOCK:
        if key not in _MODELS:
            source = resolve(request.model, device_name(request.run.device), Progress())
            if len(_MODELS) >= 2:  # a worker serving a third model forgets the oldest
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[key] = (source, source.spec)
            MODEL_LOADS["count"] += 1
        return _MODELS[key]


def _worker_host() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):
        return None


def _set_torch_threads(job: BlockJob) -> None:
    import torch

    wanted = os.environ.get("FLAIR_TORCH_THREADS")
    n = int(wanted) if wanted else job.torch_threads.get(_worker_host() or "", 0)
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def run_block(job: BlockJob, progress: Progress | None = None) -> dict[str, Any]:
    """Segment one block into its shard (on a worker, or in this process); what to record."""
    from ..engine import segment_with

    start = time.perf_counter()
    _set_torch_threads(job)
    model, spec = cached_model(job.options)
    result = segment_with(model, spec, job.options, progress or Progress(), checked=True)  # run_zone checked
    out = Path(result.output)
    return {"name": job.name, "window": list(job.options.read.window), "sha256": sha256_of(out),
            "bytes": out.stat().st_size, "seconds": round(time.perf_counter() - start, 3),
            "tiles": result.tiles, "computed": result.tiles_computed, "device": result.device,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "torch_threads": _torch_threads()}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
