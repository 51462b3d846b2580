"""How the core reports progress, checks for cancel and logs, without knowing who listens."""

from __future__ import annotations

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
