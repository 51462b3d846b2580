"""How the core reports progress, checks for cancel and logs, without knowing who listens."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import Cancelled


def _ignore(*_args: object) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Progress:
    """Callbacks given to long-running core functions.

    ``algorithms/`` adapts a ``QgsProcessingFeedback`` to this; the command line prints.
    ``fraction`` is in [0, 1].
    """

    fraction: Callable[[float], None] = field(default=_ignore)
    cancelled: Callable[[], bool] = field(default=_never)
    log: Callable[[str], None] = field(default=_ignore)
    warn: Callable[[str], None] = field(default=_ignore)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancelled():
            raise Cancelled()


def duration(seconds: float) -> str:
    """A duration for people: ``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Eta:
    """The time left of a long run, from the time each kind of work has taken per unit so far
    (training batches and validation patches, tiles, a zone's pixels…)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._units: dict[str, float] = {}

    def add(self, kind: str, units: float, seconds: float) -> None:
        """``units`` of ``kind`` took ``seconds``."""
        self._seconds[kind] = self._seconds.get(kind, 0.0) + seconds
        self._units[kind] = self._units.get(kind, 0.0) + units

    def per_unit(self, kind: str) -> float | None:
        """Seconds per unit of ``kind`` so far; None before any was timed."""
        return self._seconds[kind] / self._units[kind] if self._units.get(kind) else None

    def left(self, **units: float) -> float:
        """Seconds that ``units`` more of each kind will take (a kind not timed yet counts 0)."""
        return sum(n * (self.per_unit(kind) or 0.0) for kind, n in units.items())


class Throttle:
    """True at most once every ``every`` seconds: for log lines of long loops."""

    def __init__(self, every: float) -> None:
        self.every, self._last = every, float("-inf")

    def __call__(self) -> bool:
        now = time.perf_counter()
        if now - self._last < self.every:
            return False
        self._last = now
        return True
