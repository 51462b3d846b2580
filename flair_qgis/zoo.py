"""The IGNF FLAIR-INC pretrained models as typed data, and their download into the HF cache.

Downloads go through ``huggingface_hub`` into the standard cache (``HF_HOME``/``HF_HUB_CACHE``),
from ``HF_ENDPOINT`` when set, and never with ``HF_HUB_OFFLINE=1``. Every file is checked
against its sha256 before use; a file that fails is deleted from the cache.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Mapping

from . import hub_probe
from .errors import FlairError
from .files import sha256_of
from .normalisation import Normalisation
from .progress import Progress

ETALAB_2 = "Etalab Open Licence 2.0"
RGBIE = ("R", "G", "B", "NIR", "Elevation")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained model: where its file lives on the hub and what it expects and predicts.

    ``revision`` pins a commit where one is known; ``sha256``/``size`` verify the file when known,
    otherwise the hash the hub reports for the file (its LFS ETag) is used. ``confirmed`` says
    whether the file was seen at that revision (its hash, or a tree view listing it; by default:
    when its sha256 is known); an unconfirmed entry may fail to download and says so.
    ``head_classes`` is the number of output channels (19 for every FLAIR-INC model);
    ``palette`` names the active classes.
    ``channel_codes`` gives the FLAIR code of each output channel when it is not channel + 1 (FLAIR-HUB's
    class order); ``tile_size``/``margin`` are the default tiling and ``grid`` the tile grid it follows.
    """

    name: str
    repo_id: str
    filename: str
    bands: tuple[str, ...]
    palette: str
    arch: str = "unet"
    encoder: str = "resnet34"
    head_classes: int = 19
    revision: str = "main"
    sha256: str | None = None
    size: int | None = None
    licence: str = ETALAB_2
    resolution: float = 0.2
    notes: str = ""
    normalisation: Normalisation = field(default=None)  # type: ignore[assignment]
    confirmed: bool = field(default=None)  # type: ignore[assignment]
    channel_codes: tuple[int, ...] = ()
    tile_size: int = 512
    margin: int = 128
    grid: str = "flair-detect"

    def __post_init__(self) -> None:
        if self.confirmed is None:
            object.__setattr__(self, "confirmed", self.sha256 is not None)
        if self.normalisation is None:
            object.__setattr__(self, "normalisation", Normalisation.for_bands(self.bands))

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


def _inc(code: str, bands: tuple[str, ...], palette: str, arch: str = "unet", encoder: str = "resnet34",
         **kw: object) -> ModelEntry:
    name = f"FLAIR-INC_{code}"
    return ModelEntry(name=name, repo_id=f"IGNF/{name}", filename=f"{name}_weights.pth", bands=bands,
                      palette=palette, arch=arch, encoder=encoder, **kw)  # type: ignore[arg-type]


# Every FLAIR-INC entry is pinned to the commit that uploaded its weight file, with that file's
# sha256 and size (reference/IGNF-MODELS.md, "Weight files").
ZOO: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        _inc("rgb_15cl_resnet34-unet", RGBIE[:3], "flair-15",  # the default model
             revision="c3728e205b3e195946d92c27a8f6da0db95020cc", size=97_932_755,
             sha256="d0033871116361360fa6d2024cc4425a01858afdff1bef2ed1d35514cd48a015"),
        _inc("rgbie_15cl_resnet34-unet", RGBIE, "flair-15",
             revision="31b43f7d9c435ea59ba4914fbee113aaae177e12", size=97_957_843,
             sha256="e7be92484275ecb581a758fc8a7efa088f8b4201d62dcbc252094707bd025888",
             notes="mIoU 54.72, OA 76.37 on the FLAIR #1 test set (model card)"),
        _inc("rgbi_15cl_resnet34-unet", RGBIE[:4], "flair-15",
             revision="19b80d1ca5d9b8972bd25218e29aaf0de2b00b22", size=97_945_299,
             sha256="91465bf3e5307a31f3efb9f75ee15aebd02df0650dc8a7efcc64aece78a5fc51"),
        _inc("rgb_12cl_resnet34-unet", RGBIE[:3], "flair-12",
             revision="9b7d3219edb13b7bc75a1ef0f6d50b14374a0579", size=97_932_755,
             sha256="b7900cb1cf34f137c2f86a002dc99bca402d5a0139f8ad6253589ece416a511f"),
        _inc("rgbie_12cl_resnet34-unet", RGBIE, "flair-12",
             revision="b46b81694e5f9da4aaa2b8d7d8327dcd6c9e829f", size=97_957_843,
             sha256="e28ac3605f26fac130eb2ad5fed1b546b7ea639db2795bda128b12c9d2b23981"),
        _inc("rgb_15cl_resnet34-fpn", RGBIE[:3], "flair-15", arch="fpn",
             revision="be7f6fbfe9e7623cc2e61a98dcce312ecb158385", size=92_789_265,
             sha256="8166bcf8da2388748930a128a0c99c7a65db97bfa8e086e6178458fdd162c93a"),
        _inc("rgb_15cl_resnet34-deeplabv3", RGBIE[:3], "flair-15", arch="deeplabv3",
             revision="90679be8e6ad79dab97294a91570c14cf54333d2", size=104_221_495,
             sha256="b872ab0a4940bf1344e194df6e9a71b1f1847d5771ae450459cabacd42a05541"),
        _inc("rgb_15cl_mitb5-unet", RGBIE[:3], "flair-15", encoder="mit_b5",
             revision="d6710c33e69a97a12b8f4a9268ee52be03c6e320", size=339_344_766,
             sha256="bbb59e59e8390362825bb29face698be89b6426bbaf03b0943cece70de9250f9"),
    )
}

DEFAULT_MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"


def get_entry(name: str) -> ModelEntry:
    """The zoo entry called ``name`` (the HF repo name, with or without ``IGNF/``)."""
    key = name.split("/", 1)[1] if name.startswith("IGNF/") else name
    if key not in ZOO:
        raise FlairError(f"unknown model {name!r}: the zoo has {', '.join(ZOO)}")
    return ZOO[key]


def entry_for_file(path: Path) -> ModelEntry | None:
    """The zoo entry whose file has this name, if any (used for local copies of IGNF files)."""
    return next((e for e in ZOO.values() if e.filename == Path(path).name), None)


def hub_cache_dir(environ: Mapping[str, str] | None = None, default_home: str | None = None,
                  path: type[PurePath] = Path) -> PurePath:
    """The HF cache folder as huggingface_hub finds it (``HF_HUB_CACHE``, else ``HF_HOME``/hub,
    else ``XDG_CACHE_HOME``/huggingface/hub, else its own default home's ``.cache``), read from
    ``environ`` (the environment) at call time: huggingface_hub reads it once, on import.
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
    return path(default_home or _hf_default_home()) / "huggingface" / "hub"


def _hf_default_home() -> str:
    """huggingface_hub's own default cache home (``~/.cache``, on every system)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # not installed yet: what it would say
        return str(Path.home() / ".cache")
    return constants.default_home


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def fetch(entry: ModelEntry, progress: Progress | None = None, force: bool = False) -> Path:
    """Return the local path of ``entry``'s weights, downloading them if needed, verified."""
    progress = progress or Progress()
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf_errors

    how_to = (f"fetch it while online with `python -m flair_qgis download {entry.name}` (or the "
              "'Download FLAIR model' algorithm), or give a local checkpoint file instead")
    # One short connection attempt instead of huggingface_hub's retries when there is no network.
    no_hub = None if offline() else hub_probe.unreachable()
    try:
        path = Path(hf_hub_download(
            entry.repo_id, entry.filename, revision=entry.revision, cache_dir=hub_cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None, local_files_only=offline() or no_hub is not None,
            force_download=force and no_hub is None, tqdm_class=_tqdm_reporting_to(progress),
        ))
    except hf_errors.LocalEntryNotFoundError as e:
        why = ("offline mode is on (HF_HUB_OFFLINE)" if offline() else
               f"the hub {hub_probe.endpoint()} cannot be reached ({no_hub or e})")
        raise FlairError(f"model {entry.name} is not in the cache {hub_cache_dir()} and {why}: {how_to}") from None
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError,
            hf_errors.EntryNotFoundError) as e:
        advice = "check the zoo entry" if entry.confirmed else (
            "this entry's file was never confirmed at that revision: download the file from "
            f"{entry.url} and give it as a checkpoint file")
        raise FlairError(f"model {entry.name}: {entry.repo_id}@{entry.revision}/{entry.filename} "
                         f"is not on the hub ({type(e).__name__}); {advice}") from None
    except OSError as e:  # disk full, permissions, broken connection mid-file
        raise FlairError(f"model {entry.name} could not be downloaded into {hub_cache_dir()}: {e}. "
                         "Check the free space there and the network, then run again") from None
    except _network_errors() as e:  # the connection lost for good mid-file, after the resumes tried
        raise FlairError(f"model {entry.name}: the download was interrupted and could not be resumed "
                         f"({type(e).__name__}: {e}); nothing incomplete was kept in the cache. Check the "
                         f"network connection and run again, or {how_to}") from None
    if no_hub is not None:
        progress.warn(f"the hub {hub_probe.endpoint()} cannot be reached ({no_hub}): using the cached "
                      f"copy of {entry.name}" + (", not downloaded again" if force else ""))
    verify(entry, path, announced=None if entry.sha256 else _announced_sha256(entry, path, ask_hub=no_hub is None))
    return path


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
        actual = sha256_of(blob)
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


def confirmed() -> list[ModelEntry]:
    """The entries pinned to the commit that uploaded their file, verified by its sha256 and size."""
    return [e for e in ZOO.values() if e.confirmed and e.sha256 is not None]


def unconfirmed() -> list[ModelEntry]:
    """The entries whose file was never seen at their revision: they may fail to download."""
    return [e for e in ZOO.values() if not e.confirmed]


def describe(entry: ModelEntry) -> str:
    """One line on ``entry`` for lists and logs: model, bands, classes, how its file is pinned."""
    pinned = f"revision {entry.revision[:12]} pinned" if entry.revision != "main" else \
        "revision not pinned (hub's current file)"
    check = ("sha256 pinned" if entry.sha256 else "sha256 checked against the hub's") if entry.confirmed else \
        "file NOT CONFIRMED at this revision (may fail to download)"
    return (f"{entry.name}: {entry.arch}/{entry.encoder}, bands {','.join(entry.bands)}, "
            f"classes {entry.palette}, {pinned}, {check}, licence {entry.licence}"
            + (f" ({entry.notes})" if entry.notes else ""))




# --- FLAIR-HUB aerial-only land-cover models (IGNF/FLAIR-HUB_LC-A_*) ----------------------------------
# IGN's FLAIR-HUB models taking aerial imagery only (reference/FLAIR-HUB-MODELS.md): <repo>.safetensors,
# a timm encoder with smp 0.4.0's UPerNet (or smp's U-Net), 19 channels in FLAIR-HUB's class order.
# No revision, size or sha256 is published for them: unpinned, each download is verified against the
# sha256 the hub announces for the file (its LFS ETag), trust on first use.

HUB_UNVERIFIED = "size and hash not published: verified on first download"


def _hub(code: str, encoder: str, arch: str = "upernet-smp0.4", notes: str = "") -> ModelEntry:
    from .hub_models import (HUB_CHANNEL_CODES, HUB_MARGIN, HUB_TILE, IR_BANDS, IR_NORMALISATION,
                             RGB_BANDS, RGB_NORMALISATION)

    ir = code.startswith("IR_")
    name = f"FLAIR-HUB_LC-A_{code}"
    return ModelEntry(name=name, repo_id=f"IGNF/{name}", filename=f"{name}.safetensors",
                      bands=IR_BANDS if ir else RGB_BANDS, palette="flair-15", arch=arch, encoder=f"tu-{encoder}",
                      normalisation=IR_NORMALISATION if ir else RGB_NORMALISATION, channel_codes=HUB_CHANNEL_CODES,
                      tile_size=HUB_TILE, margin=HUB_MARGIN, grid="flair-hub",
                      notes="; ".join(n for n in (notes, HUB_UNVERIFIED) if n))


ZOO.update({e.name: e for e in (
    _hub("RGB_swintiny-upernet", "swin_tiny_patch4_window7_224"),
    _hub("RGB_swinsmall-upernet", "swin_small_patch4_window7_224"),
    _hub("RGB_swinbase-upernet", "swin_base_patch4_window12_384"),
    _hub("RGB_swinlarge-upernet", "swin_large_patch4_window12_384"),
    _hub("IR_swinbase-upernet", "swin_base_patch4_window12_384"),
    _hub("IR_swinlarge-upernet", "swin_large_patch4_window12_384"),
    _hub("IR_convnextv2tiny-upernet", "convnextv2_tiny", notes="mIoU 62.73, OA 76.43 (model card)"),
    _hub("IR_convnextv2base-upernet", "convnextv2_base", notes="mIoU 63.77, OA 77.03 (model card)"),
    _hub("IR_convnextv2base-unet", "convnextv2_base", arch="unet"),
)})
