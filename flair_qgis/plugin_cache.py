"""The plugin's own cache folder and what it remembers between runs.

The folder is ``$FLAIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/flair_qgis`` (``~/.cache/flair_qgis``). It
holds the models compiled for OpenVINO (``openvino/``) and small JSON records (``records/<kind>/``):
a file's sha256 known by its path, size and modification time (:func:`file_sha256`), so that a second
run neither hashes a model's weights again nor reads them to know what they are.

A record is only a hint: one that cannot be read is ignored and written again, one that cannot be
written is skipped (a read-only cache slows the next run, nothing more), a file changed since is
hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .files import sha256_of

CACHE_ENV = "FLAIR_CACHE_DIR"


def root() -> Path:
    """``$FLAIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/flair_qgis`` (default ``~/.cache/flair_qgis``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flair_qgis"


def key_of(*parts: Any) -> str:
    """A short stable key for JSON-serialisable ``parts``."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def read_record(kind: str, key: str) -> dict | None:
    """The record ``key`` of ``kind``, or None when there is none or it cannot be read."""
    try:
        value = json.loads((root() / "records" / kind / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_record(kind: str, key: str, value: dict) -> bool:
    """Write the record whole (a temporary file renamed); False when the cache cannot be written."""
    folder = root() / "records" / kind
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(value), encoding="utf-8")
        os.replace(tmp, folder / f"{key}.json")
        return True
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def file_sha256(path: str | Path) -> str:
    """The sha256 of ``path``'s content: remembered by its resolved path, size and modification time
    (hashed again whenever one of them changes)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = key_of(str(path))
    record = read_record("sha256", key)
    if record and record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns \
            and isinstance(record.get("sha256"), str):
        return record["sha256"]
    digest = sha256_of(path)
    write_record("sha256", key, {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                 "sha256": digest})
    return digest
