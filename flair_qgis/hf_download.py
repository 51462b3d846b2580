"""Downloading a registry model's file from the HuggingFace Hub into huggingface_hub's cache, verified.

Downloads go through ``huggingface_hub`` (``hf_hub_download``) into its standard cache
(``HF_HOME``/``HF_HUB_CACHE``, read when called), from ``HF_ENDPOINT`` when set, and never with
``HF_HUB_OFFLINE=1``. Every file is checked against its sha256 before use; a file that fails is
deleted from the cache.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath
from typing import Mapping

from . import hf_probe
from .errors import FlairError
from .plugin_cache import file_sha256
from .progress import Progress
from .zoo import ModelEntry

_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir(environ: Mapping[str, str] | None = None, default_home: str | None = None,
              path: type[PurePath] = Path) -> PurePath:
    """huggingface_hub's cache folder as it finds it (``HF_HUB_CACHE``, else ``HF_HOME``/hub, else
    ``XDG_CACHE_HOME``/huggingface/hub, else its own default home's ``huggingface/hub``), read from
    ``environ`` (the environment) when called: huggingface_hub reads it once, at import.
    ``default_home`` and ``path`` (the path flavour) stand for another system's."""
    environ = os.environ if environ is None else environ

    def expand(value: str) -> PurePath:
        return path(os.path.expandvars(os.path.expanduser(value)) if path is Path else value)

    if environ.get("HF_HUB_CACHE"):
        return expand(environ["HF_HUB_CACHE"])
    if environ.get("HF_HOME"):
        return expand(environ["HF_HOME"]) / "hub"
    if environ.get("XDG_CACHE_HOME"):
        return expand(environ["XDG_CACHE_HOME"]) / "huggingface" / "hub"
    if default_home is None:
        from huggingface_hub import constants

        default_home = constants.default_home
    return path(default_home) / "huggingface" / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def fetch(entry: ModelEntry, progress: Progress | None = None, force: bool = False) -> Path:
    """Return the local path of ``entry``'s weights, downloading them if needed, verified."""
    progress = progress or Progress()
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf_errors

    if not force and (local := _pinned_copy(entry)) is not None:
        verify(entry, local)  # a pinned commit's file never changes: no need to ask the hub
        return local
    how_to = (f"fetch it while online with `python -m flair_qgis download {entry.name}` (or the "
              "'Download FLAIR model' algorithm), or give a local checkpoint file instead")
    # One short connection attempt instead of huggingface_hub's retries when there is no network.
    no_hub = None if offline() else hf_probe.unreachable()
    try:
        path = Path(hf_hub_download(
            entry.repo_id, entry.filename, revision=entry.revision, cache_dir=cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None, local_files_only=offline() or no_hub is not None,
            force_download=force and no_hub is None, tqdm_class=_tqdm_reporting_to(progress),
        ))
    except hf_errors.LocalEntryNotFoundError as e:
        why = ("offline mode is on (HF_HUB_OFFLINE)" if offline() else
               f"the hub {hf_probe.endpoint()} cannot be reached ({no_hub or e})")
        raise FlairError(f"model {entry.name} is not in the cache {cache_dir()} and {why}: {how_to}") from None
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError,
            hf_errors.EntryNotFoundError) as e:
        advice = "check the zoo entry" if entry.confirmed else (
            "this entry's file was never confirmed at that revision: download the file from "
            f"{entry.url} and give it as a checkpoint file")
        raise FlairError(f"model {entry.name}: {entry.repo_id}@{entry.revision}/{entry.filename} "
                         f"is not on the hub ({type(e).__name__}); {advice}") from None
    except OSError as e:  # disk full, permissions, broken connection mid-file
        raise FlairError(f"model {entry.name} could not be downloaded into {cache_dir()}: {e}. "
                         "Check the free space there and the network, then run again") from None
    except _network_errors() as e:  # the connection lost for good mid-file, after the resumes tried
        raise FlairError(f"model {entry.name}: the download was interrupted and could not be resumed "
                         f"({type(e).__name__}: {e}); nothing incomplete was kept in the cache. Check the "
                         f"network connection and run again, or {how_to}") from None
    if no_hub is not None:
        progress.warn(f"the hub {hf_probe.endpoint()} cannot be reached ({no_hub}): using the cached "
                      f"copy of {entry.name}" + (", not downloaded again" if force else ""))
    verify(entry, path, announced=None if entry.sha256 else _announced_sha256(entry, path, ask_hub=no_hub is None))
    return path


def _pinned_copy(entry: ModelEntry) -> Path | None:
    """The cached copy of ``entry``'s file when its revision is a commit (not a branch) and the cache
    holds it, found without a connection; else None."""
    if not re.fullmatch(r"[0-9a-f]{40}", entry.revision or ""):
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(entry.repo_id, entry.filename, cache_dir=cache_dir(), revision=entry.revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _network_errors() -> tuple[type[BaseException], ...]:
    """The transport errors of the HTTP clients huggingface_hub may use (none is an OSError)."""
    import importlib

    found = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "RequestException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _announced_sha256(entry: ModelEntry, path: Path, ask_hub: bool = True) -> str | None:
    """The sha256 the hub announced for the file (its LFS ETag). The cache names each blob by it,
    but a cache without symlinks (Windows without developer mode) keeps no blob names: ask the hub
    again then, when online. ``None`` when unknown (a non-LFS file, or offline in such a cache)."""
    blob = path.resolve()
    if _SHA256.fullmatch(blob.name):
        return blob.name
    if offline() or not ask_hub:
        return None
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    endpoint = os.environ.get("HF_ENDPOINT") or None
    try:
        etag = get_hf_file_metadata(hf_hub_url(entry.repo_id, entry.filename, revision=entry.revision,
                                               endpoint=endpoint), endpoint=endpoint).etag or ""
    except Exception:  # noqa: BLE001 - the hub went away since the download: nothing to compare with
        return None
    return etag if _SHA256.fullmatch(etag) else None


def verify(entry: ModelEntry, path: Path, announced: str | None = None) -> None:
    """Check the cached file's size (when pinned) and sha256 against the pinned ones, else the hash the
    hub announced (``announced``, or the cached blob's name); delete it from the cache and raise if it is wrong."""
    blob = path.resolve()
    expected = entry.sha256 or announced or (blob.name if _SHA256.fullmatch(blob.name) else None)
    if expected is None:
        return  # a non-LFS file: the hub gave no hash to check against
    size = blob.stat().st_size
    if entry.size is not None and size != entry.size:  # the pinned size: no need to hash a wrong file
        wrong = f"the downloaded file is {size} bytes, expected {entry.size} (sha256 {expected})"
    else:
        actual = file_sha256(blob)
        wrong = f"the downloaded file's sha256 is {actual}, expected {expected}" if actual != expected else ""
    if wrong:
        blob.unlink(missing_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink(missing_ok=True)
        raise FlairError(f"model {entry.name}: {wrong}; the corrupt file was removed "
                         "from the cache, download it again")


def _tqdm_reporting_to(progress: Progress) -> type:
    """A tqdm class that forwards byte counts to ``progress`` (hf_hub_download's hook)."""
    from tqdm.auto import tqdm

    class _Reporting(tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed with the bar
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            if self.total:
                progress.fraction(min(1.0, self.n / self.total))
            progress.check()
            return out

        def close(self) -> None:
            f = self.fp
            super().close()
            f.close()

    return _Reporting


def cached_copies() -> dict[tuple[str, str], list[tuple[str, Path]]]:
    """``(repo_id, filename)`` → ``[(revision, path)]`` for every model file in the cache (huggingface_hub's
    ``scan_cache_dir``), revisions in order; empty when there is no cache yet."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir())
    except CacheNotFound:
        return {}
    copies: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.commit_hash):
            for f in revision.files:
                copies.setdefault((repo.repo_id, f.file_name), []).append((revision.commit_hash, Path(f.file_path)))
    return copies
