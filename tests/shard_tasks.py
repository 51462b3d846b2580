"""Block tasks for the sharded-run tests, importable by the Dask worker processes (they inherit
the test process's sys.path): wrappers of :func:`flair_qgis.distributed.run_block`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from flair_qgis import distributed
from flair_qgis.progress import Progress

KILL_MARKER = "killed-once.pid"


def kill_mid_block_once(job, progress=None):
    """Run the block, but the first time any worker gets half-way through a block (shard half
    written under its temporary name), that worker process kills itself with SIGKILL."""
    marker = Path(job.options.write.output).parent.parent / KILL_MARKER

    def fraction(f: float) -> None:
        if f < 0.5:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    return distributed.run_block(job, Progress(fraction=fraction))


def model_loads() -> int:
    return distributed.MODEL_LOADS["count"]
