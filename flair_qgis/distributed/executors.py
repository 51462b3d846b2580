"""Where the blocks run: in this process, or on a Dask cluster (local worker processes, or a
scheduler's address); each yields (block name, record) as blocks finish."""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any, Callable, Iterator

from ..errors import FlairError
from ..progress import Progress
from .blocks import Block
from .workers import BlockJob

Submit = Callable[..., Iterator[tuple[str, dict]]]


@contextmanager
def executor(options: Any, progress: Progress) -> Iterator[tuple[Submit, str | None]]:
    """``(submit_all, dashboard)`` for a :class:`~.run.ZoneOptions`: its cluster, else a local
    cluster of its ``workers``, else this process."""
    if not options.cluster and not options.workers:
        yield _in_process(progress), None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise FlairError("a cluster run needs the Python packages dask and distributed: "
                         "python -m pip install -r requirements.txt") from None
    cluster = None
    try:
        if options.cluster:
            client = Client(options.cluster, timeout="30s")
        else:
            cluster = LocalCluster(n_workers=int(options.workers), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0")
            client = Client(cluster)
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise FlairError(f"cannot reach the Dask scheduler at {options.cluster}: {e}") from None
    try:
        import importlib.util

        dashboard = _dashboard(client)
        plots = "" if importlib.util.find_spec("bokeh") else " (its plots need bokeh where the scheduler runs)"
        n_workers = len(client.scheduler_info()["workers"])
        progress.log(f"Dask scheduler {client.scheduler.address}: {n_workers} workers; dashboard "
                     f"{dashboard + plots if dashboard else 'not served'}")
        if not n_workers:
            progress.warn("the scheduler has no workers yet: the blocks wait until workers join it")
        yield _on_cluster(client, progress), dashboard
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dashboard(client: Any) -> str | None:
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - the address is informative only
        return None


def _in_process(progress: Progress) -> Submit:
    def submit_all(jobs: list[BlockJob], task, tracker: Any, by_name: dict[str, Block]):
        for job in jobs:
            progress.check()
            block = by_name[job.name]
            sub = Progress(fraction=lambda f, b=block: tracker.within(b, f), cancelled=progress.cancelled,
                           log=lambda _m: None, warn=progress.warn)
            yield job.name, task(job, sub)
    return submit_all


def _threads_by_host(client: Any) -> dict[str, int]:
    """Torch threads for each worker process: the host's cores shared among its workers' threads."""
    info = client.scheduler_info()["workers"]
    per_host: dict[str, int] = {}
    for w in info.values():
        host = w.get("host") or w["id"]
        per_host[host] = per_host.get(host, 0) + int(w.get("nthreads", 1))
    cores = client.run(lambda: len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    host_cores = {}
    for addr, n in cores.items():
        host_cores[addr.split("://")[-1].rsplit(":", 1)[0]] = n
    return {h: max(1, host_cores.get(h, 1) // n) for h, n in per_host.items()}


def _on_cluster(client: Any, progress: Progress) -> Submit:
    from distributed import as_completed

    def submit_all(jobs: list[BlockJob], task, tracker: Any, by_name: dict[str, Block]):
        threads = _threads_by_host(client)
        token = hashlib.sha256(json.dumps([asdict(by_name[j.name]) for j in jobs]).encode()
                               + str(time.time_ns()).encode()).hexdigest()[:10]
        futures = [client.submit(task, replace(j, torch_threads=threads), key=f"flair-block-{j.name}-{token}",
                                 retries=1, pure=False) for j in jobs]
        pending = as_completed(futures)
        try:
            while not pending.is_empty():
                ready = pending.next_batch(block=False)
                if not ready:
                    progress.check()
                    time.sleep(0.2)
                    continue
                for f in ready:
                    if f.status == "error":
                        _raise_task_error(f)
                    if f.status == "cancelled":
                        raise FlairError(f"block {f.key} was cancelled on the cluster")
                    record = f.result()
                    f.release()
                    yield record["name"], record
                progress.check()
        finally:  # a stopped job leaves nothing queued on the cluster
            client.cancel([f for f in futures if not f.done()])
    return submit_all


def _raise_task_error(future: Any) -> None:
    """Raise a failed block's error; a cluster that cannot import this plugin is told how to fix it."""
    try:
        future.result()
    except (RuntimeError, ImportError) as e:
        if "deserializ" in str(e) or "flair_qgis" in str(e):
            raise FlairError(
                "the Dask scheduler or workers cannot import flair_qgis: start `dask scheduler` and "
                "`dask worker` with PYTHONPATH set to this plugin's folder and the same Python packages "
                f"(requirements.txt) as here ({type(e).__name__}: {str(e).splitlines()[0]})") from None
        raise
