"""Publishing files: written under a temporary name, then moved into place whole; and their hashes.

Every file the core finishes (rasters, checkpoints, styles, shards, manifests, mosaics) is written
to ``.{name}.{host}.{pid}.{random}{suffix}`` next to its final path, synced to disk, given the
permissions a new file gets under the umask and renamed over ``name``: readers see the previous
file or the complete new one, never a part. Runs killed meanwhile leave their temporaries behind;
:func:`remove_stale_temporaries` deletes those of dead processes of this host (the host name keeps
workers of several machines sharing one storage apart).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

TEMPORARY = ".tmp"  # the suffix of temporary files; rasters add ".tif" or ".vrt" so that GDAL knows them


def host() -> str:
    """This machine's name as it appears in temporary names (no dots: they separate the parts)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def process_alive(pid: int, platform: str = sys.platform, kernel32=None) -> bool:
    """Whether process ``pid`` of this machine still runs. On Windows ``os.kill(pid, 0)`` would
    terminate it, so the process is opened and its exit code read instead (``kernel32``: the
    Windows API, ``ctypes.windll.kernel32`` unless given)."""
    if not platform.startswith("win"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's: alive
        return True
    import ctypes

    kernel32 = kernel32 or ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _prefix(path: Path) -> str:
    return f".{path.name}.{host()}.{os.getpid()}."


def temporary_file(path: str | Path, suffix: str = TEMPORARY) -> Path:
    """Create an empty temporary file next to ``path`` (mode 0600) and return its name."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def temporary_folder(path: str | Path, suffix: str) -> Path:
    """Create a temporary folder next to ``path`` for the work of a run writing ``path``."""
    path = Path(path)
    return Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=suffix, dir=path.parent))


def publish(tmp: str | Path, path: str | Path) -> None:
    """Sync ``tmp`` to disk, give it the permissions a new file gets under the umask (mkstemp's
    0600 would hide it from other users, e.g. a cluster's client reading its workers' shards)
    and rename it to ``path`` atomically."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@contextmanager
def writing(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for ``path`` (``mode`` "w" for text in UTF-8, "wb" for bytes) and
    publish it when the block ends normally; remove it when the block raises."""
    path = Path(path)
    remove_stale_temporaries(path)
    tmp = temporary_file(path)
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`writing`)."""
    with writing(path) as f:
        f.write(text)


def _writer(name: str, final: str) -> tuple[str, int] | None:
    """(host, pid) of a temporary name made by this module for ``final``; None for other names."""
    if not name.startswith(f".{final}."):
        return None
    parts = name[len(final) + 2:].split(".")
    if len(parts) not in (4, 5) or not parts[1].isdigit() or parts[3] not in ("tmp", "resample") \
            or parts[3] == "resample" and len(parts) == 5:
        return None
    return parts[0], int(parts[1])


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete the temporaries (files, their GDAL ``.aux.xml``, work folders) that runs of this host
    killed while writing ``path`` left behind; those of live processes and other hosts are kept."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*"):
        writer = _writer(tmp.name, path.name)
        if writer is None or writer[0] != host():
            continue
        if process_alive(writer[1]):
            continue  # still running
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.aux.xml").unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's content, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
