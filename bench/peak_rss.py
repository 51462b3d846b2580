"""The peak RSS of this process, right also in a subprocess the benches start."""

from __future__ import annotations

import resource
import sys


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB. Linux's ``ru_maxrss`` keeps, across ``exec``, the RSS of the process
    that forked it (a bench's parent, models and all: a child using 13 MiB was measured at 813 MiB that
    way); the peak of this program's own memory is ``VmHWM``."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):  # not Linux: ru_maxrss (kB on Linux, bytes on macOS)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / (2 ** 20 if sys.platform == "darwin" else 1024)
