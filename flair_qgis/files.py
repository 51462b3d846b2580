"""Moving a finished temporary file into place."""

from __future__ import annotations

import os
from pathlib import Path


def publish(tmp: str | Path, path: str | Path) -> None:
    """Give ``tmp`` (made by ``mkstemp``, mode 0600) the permissions a new file gets under the
    umask — so that other users, e.g. a cluster's client reading its workers' shards, can read
    it — and rename it to ``path`` atomically."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)
