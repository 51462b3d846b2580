"""The model zoo: every entry is consistent and buildable, and downloads from a loopback hub land
in the HF cache verified, are reused, work offline, and never leave a corrupt file behind."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import ROOT, TINY_ENCODER, ignf_state_dict, tiny_model
from registry_fixtures import entry_like
from flair_qgis import hf_download, zoo
from flair_qgis.checkpoints import load_weights
from flair_qgis.model_spec import build_model
from flair_qgis.model_resolution import resolve_model
from flair_qgis.errors import Cancelled, FlairError
from flair_qgis.normalisation import FLAIR_MEANS, FLAIR_STDS
from flair_qgis.palette import palette
from flair_qgis.progress import Progress

ENTRIES = [e for e in zoo.ZOO.values() if e.name.startswith("FLAIR-INC_")]  # FLAIR-HUB: test_hub_models.py
# The default entry as if no sha256 were known (every real FLAIR-INC entry has one): downloads are then
# verified against the hash the hub announces.
UNHASHED = replace(zoo.ZOO["FLAIR-INC_rgb_15cl_resnet34-unet"], sha256=None, size=None)
# reference/IGNF-MODELS.md, "Weight files": the commit that uploaded each file, its sha256 and size.
WEIGHT_FILES = {
    "rgb_15cl_resnet34-unet": ("c3728e205b3e195946d92c27a8f6da0db95020cc",
                               "d0033871116361360fa6d2024cc4425a01858afdff1bef2ed1d35514cd48a015", 97932755),
    "rgb_12cl_resnet34-unet": ("9b7d3219edb13b7bc75a1ef0f6d50b14374a0579",
                               "b7900cb1cf34f137c2f86a002dc99bca402d5a0139f8ad6253589ece416a511f", 97932755),
    "rgbi_15cl_resnet34-unet": ("19b80d1ca5d9b8972bd25218e29aaf0de2b00b22",
                                "91465bf3e5307a31f3efb9f75ee15aebd02df0650dc8a7efcc64aece78a5fc51", 97945299),
    "rgbie_15cl_resnet34-unet": ("31b43f7d9c435ea59ba4914fbee113aaae177e12",
                                 "e7be92484275ecb581a758fc8a7efa088f8b4201d62dcbc252094707bd025888", 97957843),
    "rgbie_12cl_resnet34-unet": ("b46b81694e5f9da4aaa2b8d7d8327dcd6c9e829f",
                                 "e28ac3605f26fac130eb2ad5fed1b546b7ea639db2795bda128b12c9d2b23981", 97957843),
    "rgb_15cl_resnet34-fpn": ("be7f6fbfe9e7623cc2e61a98dcce312ecb158385",
                              "8166bcf8da2388748930a128a0c99c7a65db97bfa8e086e6178458fdd162c93a", 92789265),
    "rgb_15cl_resnet34-deeplabv3": ("90679be8e6ad79dab97294a91570c14cf54333d2",
                                    "b872ab0a4940bf1344e194df6e9a71b1f1847d5771ae450459cabacd42a05541", 104221495),
    "rgb_15cl_mitb5-unet": ("d6710c33e69a97a12b8f4a9268ee52be03c6e320",
                            "bbb59e59e8390362825bb29face698be89b6426bbaf03b0943cece70de9250f9", 339344766),
}
TINY_NAME = "FLAIR-INC_rgb_15cl_tiny-unet"
TINY_REVISION = "c0ffee0123456789abcdef0123456789abcdef01"
BAND_CODES = {"rgb": ("R", "G", "B"), "rgbi": ("R", "G", "B", "NIR"), "rgbie": ("R", "G", "B", "NIR", "Elevation")}
NOT_ON_META = {"mit_b5"}  # its drop-path schedule calls Tensor.item(): built on the CPU instead


# --- the zoo as data ---------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_names_its_hub_file(entry):
    assert entry.name in zoo.ZOO and zoo.ZOO[entry.name] is entry
    assert entry.repo_id == f"IGNF/{entry.name}"
    assert entry.filename == f"{entry.name}_weights.pth"
    assert entry.url == f"https://huggingface.co/IGNF/{entry.name}"
    assert zoo.get_entry(entry.repo_id) is entry and zoo.get_entry(entry.name) is entry
    assert zoo.entry_for_file(Path("/some/folder") / entry.filename) is entry


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_agrees_with_its_name(entry):
    """FLAIR-INC_<bands>_<n>cl_<encoder>-<arch>: the name is what users pick by, so it must not lie."""
    m = re.fullmatch(r"FLAIR-INC_(rgbi?e?)_(\d+)cl_([a-z0-9]+)-([a-z0-9]+)", entry.name)
    assert m, entry.name
    bands, n_active, encoder, arch = m.groups()
    assert entry.bands == BAND_CODES[bands]
    assert entry.palette == f"flair-{n_active}" and len(palette(entry.palette)) == int(n_active)
    assert entry.encoder.replace("_", "") == encoder
    assert entry.arch == arch


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_bands_palette_and_normalisation(entry):
    assert entry.bands and len(set(entry.bands)) == len(entry.bands)
    assert set(entry.bands) <= set(zoo.RGBIE)
    active = palette(entry.palette)
    assert {c.code for c in active} <= set(range(1, entry.head_classes + 1))
    assert entry.head_classes == 19
    norm = entry.normalisation
    assert norm.type == "custom"
    assert len(norm.means) == len(norm.stds) == len(entry.bands)
    assert norm.means == tuple(FLAIR_MEANS[b] for b in entry.bands)
    assert norm.stds == tuple(FLAIR_STDS[b] for b in entry.bands)
    assert all(s > 0 for s in norm.stds)
    assert entry.licence == zoo.ETALAB_2 and entry.resolution == 0.2


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_spec_masks_the_switched_off_classes(entry):
    spec = entry.spec
    assert spec.n_classes == entry.head_classes and spec.in_channels == len(entry.bands)
    assert [c.code for c in spec.classes] == list(range(1, 20))
    assert [c.code for c in spec.active_classes] == [c.code for c in palette(entry.palette)]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_entry_architecture_builds(entry):
    args = (entry.arch, entry.encoder, len(entry.bands), entry.head_classes)
    try:
        model = build_model(*args, device="meta")
    except RuntimeError:
        assert entry.encoder in NOT_ON_META, f"{entry.name} does not build on the meta device"
        model = build_model(*args, device="cpu")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    first_conv = next(s for s in shapes.values() if len(s) == 4)
    assert first_conv[1] == len(entry.bands)
    assert shapes["segmentation_head.0.weight"][0] == entry.head_classes


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_flair_inc_entry_is_pinned_to_its_files_upload_commit_hash_and_size(entry):
    """Issue #16 (13): each FLAIR-INC entry is the file IGN uploaded, not a card commit or ``main``."""
    revision, sha256, size = WEIGHT_FILES[entry.name.removeprefix("FLAIR-INC_")]
    assert (entry.revision, entry.sha256, entry.size) == (revision, sha256, size)
    assert entry.confirmed and entry in zoo.confirmed() and entry not in zoo.unconfirmed()
    description = zoo.describe(entry)
    assert f"revision {revision[:12]} pinned" in description and "sha256 pinned" in description
    assert "NOT CONFIRMED" not in description and "not confirmed" not in entry.notes


def test_every_flair_inc_file_of_the_reference_is_in_the_zoo():
    assert {e.name.removeprefix("FLAIR-INC_") for e in ENTRIES} == set(WEIGHT_FILES)


@pytest.mark.parametrize("entry", list(zoo.ZOO.values()), ids=list(zoo.ZOO))
def test_entry_pinning(entry):
    """A pinned commit, or an entry that says it follows the hub; a known hash and size with a pinned
    commit only; a file never seen at its revision is marked as such wherever the entry is shown."""
    if entry.revision == "main":
        assert entry.sha256 is None and not entry.confirmed, "a confirmed file needs a revision to belong to"
        assert "not pinned" in zoo.describe(entry)
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", entry.revision)
        assert f"revision {entry.revision[:12]} pinned" in zoo.describe(entry)
    if entry.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256) and entry.confirmed
        assert entry.size is not None and entry.size > 1_000_000
        assert "sha256 pinned" in zoo.describe(entry)
    assert ("NOT CONFIRMED" in zoo.describe(entry)) == (not entry.confirmed)
    assert (entry in zoo.unconfirmed()) == (not entry.confirmed)


def test_the_default_model_is_listed_first_and_pinned():
    assert next(iter(zoo.ZOO)) == zoo.DEFAULT_MODEL
    default = zoo.ZOO[zoo.DEFAULT_MODEL]
    assert default.revision != "main" and default.sha256 is not None and default.size is not None
    assert zoo.confirmed()[0] is default


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_entry_downloads_its_pinned_revision_and_checks_its_pinned_hash(entry, hub, tiny_file):
    """Each entry asks the (loopback) hub for its own revision; a pinned size and sha256 refuse another file."""
    data, sha = tiny_file
    hub.add(entry.repo_id, entry.filename, data)
    with pytest.raises(FlairError, match=f"the downloaded file is {len(data)} bytes, expected {entry.size} "
                                         f"\\(sha256 {entry.sha256}\\); the corrupt file was removed"):
        hf_download.fetch(entry)
    asked = [path for _, path in hub.requests if "/resolve/" in path]
    assert asked and all(f"/{entry.repo_id}/resolve/{entry.revision}/{entry.filename}" in p for p in asked)


def test_an_unconfirmed_entry_missing_from_the_hub_says_what_to_do_instead(hub):
    entry = zoo.unconfirmed()[0]
    with pytest.raises(FlairError, match="never confirmed at that revision: download the file from "
                                         f"{entry.url} and give it as a checkpoint file"):
        hf_download.fetch(entry)


def test_zoo_lookups():
    assert zoo.DEFAULT_MODEL in zoo.ZOO
    assert sum(e.revision != "main" for e in ENTRIES) >= 2
    assert zoo.entry_for_file(Path("my_model.pth")) is None
    with pytest.raises(FlairError) as err:
        zoo.get_entry("IGNF/FLAIR-INC_rgb_99cl_resnet34-unet")
    assert "unknown model" in str(err.value) and zoo.DEFAULT_MODEL in str(err.value)


# --- downloads from the loopback hub ----------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_file() -> tuple[bytes, str]:
    """A tiny model's weights in IGNF's exact ``_weights.pth`` layout, and their sha256."""
    buf = io.BytesIO()
    torch.save(ignf_state_dict(tiny_model()), buf)
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    return fake_hub


@pytest.fixture
def tiny_entry(tiny_file, monkeypatch) -> zoo.ModelEntry:
    """A pinned zoo entry for the tiny file, put in the zoo for the test."""
    entry = entry_like(UNHASHED, name=TINY_NAME, repo_id=f"IGNF/{TINY_NAME}", filename=f"{TINY_NAME}_weights.pth",
                    encoder=TINY_ENCODER, revision=TINY_REVISION, sha256=tiny_file[1], size=len(tiny_file[0]))
    monkeypatch.setitem(zoo.ZOO, TINY_NAME, entry)
    return entry


def file_gets(hub) -> int:
    """GETs of model files (huggingface_hub also GETs /api/... URLs now and then)."""
    return sum(1 for method, path in hub.requests if method == "GET" and "/resolve/" in path)


def cache_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "hub").rglob("*") if p.is_file() and ".locks" not in p.parts)


def blobs(home: Path, entry: zoo.ModelEntry) -> list[Path]:
    folder = home / "hub" / f"models--{entry.repo_id.replace('/', '--')}" / "blobs"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_unhashed_download_lands_in_the_cache_verified_and_is_reused(hub, tiny_file, _private_hf_cache):
    data, sha = tiny_file
    hub.add(UNHASHED.repo_id, UNHASHED.filename, data)
    fractions: list[float] = []

    path = hf_download.fetch(UNHASHED, Progress(fraction=fractions.append))

    assert path.is_relative_to(_private_hf_cache / "hub" / "models--IGNF--FLAIR-INC_rgb_15cl_resnet34-unet")
    assert path.name == UNHASHED.filename and path.read_bytes() == data
    assert path.resolve().name == sha  # the blob is named by the ETag it was verified against
    assert file_gets(hub) == 1
    assert fractions and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions == sorted(fractions)

    assert hf_download.fetch(UNHASHED) == path
    assert file_gets(hub) == 1  # only asked the hub whether the file changed


def test_cached_file_is_served_offline_without_asking_the_hub(hub, tiny_file, monkeypatch):
    hub.add(UNHASHED.repo_id, UNHASHED.filename, tiny_file[0])
    path = hf_download.fetch(UNHASHED)
    asked = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    assert hf_download.fetch(UNHASHED) == path
    assert len(hub.requests) == asked


def test_cached_file_is_served_when_the_hub_is_unreachable(hub, tiny_file, monkeypatch):
    hub.add(UNHASHED.repo_id, UNHASHED.filename, tiny_file[0])
    path = hf_download.fetch(UNHASHED)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")

    assert hf_download.fetch(UNHASHED) == path


def test_pinned_download_verifies_its_hash_and_is_reused_without_a_request(hub, tiny_file, tiny_entry):
    hub.add(tiny_entry.repo_id, tiny_entry.filename, tiny_file[0])

    path = hf_download.fetch(tiny_entry)

    assert path.parent.name == TINY_REVISION and path.read_bytes() == tiny_file[0]
    assert file_gets(hub) == 1
    asked = len(hub.requests)
    assert hf_download.fetch(tiny_entry) == path
    assert len(hub.requests) == asked  # a pinned revision in the cache needs no hub at all


def test_fetched_tiny_model_loads_through_resolve_model_offline(hub, tiny_file, tiny_entry, tmp_path, monkeypatch):
    hub.add(tiny_entry.repo_id, tiny_entry.filename, tiny_file[0])
    hf_download.fetch(tiny_entry)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asked = len(hub.requests)
    logs: list[str] = []

    ckpt, spec = resolve_model(TINY_NAME, None, Progress(log=logs.append))
    model = load_weights(ckpt, spec)

    assert len(hub.requests) == asked
    assert spec == tiny_entry.spec and sum(spec.active) == 15
    assert any(TINY_NAME in m and TINY_REVISION[:12] in m for m in logs)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(model(x), tiny_model()(x))


def test_offline_without_cache_names_the_model_and_how_to_fetch_it(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(FlairError) as err:
        hf_download.fetch(UNHASHED)

    message = str(err.value)
    assert UNHASHED.name in message and "offline" in message
    assert f"python -m flair_qgis download {UNHASHED.name}" in message
    assert hub.requests == []


def test_unreachable_hub_without_cache_is_a_clear_error(monkeypatch, _private_hf_cache):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: one attempt, no retries

    with pytest.raises(FlairError) as err:
        hf_download.fetch(UNHASHED)

    message = str(err.value)
    assert UNHASHED.name in message and "the hub http://127.0.0.1:9 cannot be reached" in message
    assert f"python -m flair_qgis download {UNHASHED.name}" in message
    assert [p.name for p in cache_files(_private_hf_cache)] in ([], ["CACHEDIR.TAG"])


def test_file_missing_on_the_hub_says_so(hub):
    with pytest.raises(FlairError, match=rf"IGNF/FLAIR-INC_rgb_15cl_resnet34-unet@{UNHASHED.revision}/.*is not on "
                                         "the hub"):
        hf_download.fetch(UNHASHED)


def test_file_differing_from_the_hash_the_hub_announces_is_removed(hub, tiny_file, _private_hf_cache):
    data, sha = tiny_file
    hub.add(UNHASHED.repo_id, UNHASHED.filename, data[:-1000] + bytes(1000), announce_sha256=sha)

    with pytest.raises(FlairError) as err:
        hf_download.fetch(UNHASHED)

    assert UNHASHED.name in str(err.value) and f"expected {sha}" in str(err.value)
    assert "removed from the cache" in str(err.value)
    assert blobs(_private_hf_cache, UNHASHED) == []
    assert not any(p.name == UNHASHED.filename for p in (_private_hf_cache / "hub").rglob("*"))

    hub.add(UNHASHED.repo_id, UNHASHED.filename, data)  # the hub is repaired: the next try works
    assert hf_download.fetch(UNHASHED).read_bytes() == data


def test_pinned_file_with_another_hash_is_removed(hub, tiny_file, tiny_entry, _private_hf_cache):
    hub.add(tiny_entry.repo_id, tiny_entry.filename, tiny_file[0])
    wrong = replace(tiny_entry, sha256="0" * 64)

    with pytest.raises(FlairError, match=f"sha256 is {tiny_file[1]}, expected {'0' * 64}"):
        hf_download.fetch(wrong)

    assert blobs(_private_hf_cache, wrong) == []
    assert not any(p.name == wrong.filename for p in (_private_hf_cache / "hub").rglob("*"))


@pytest.fixture
def cache_without_symlinks(monkeypatch):
    """The cache Windows keeps without developer mode: files copied into snapshots/, no named blobs."""
    from huggingface_hub import file_download

    monkeypatch.setattr(file_download, "are_symlinks_supported", lambda *args, **kwargs: False)


def test_cache_without_symlinks_still_checks_the_announced_hash(hub, tiny_file, cache_without_symlinks,
                                                                 _private_hf_cache):
    data, sha = tiny_file
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF
    hub.add(UNHASHED.repo_id, UNHASHED.filename, bytes(corrupt), announce_sha256=sha)

    with pytest.raises(FlairError, match=f"expected {sha}"):
        hf_download.fetch(UNHASHED)

    assert not any(p.name == UNHASHED.filename for p in (_private_hf_cache / "hub").rglob("*"))
    hub.add(UNHASHED.repo_id, UNHASHED.filename, data)
    path = hf_download.fetch(UNHASHED)
    assert not path.is_symlink() and path.read_bytes() == data


@pytest.mark.parametrize("pinned", [False, True], ids=["unpinned", "pinned"])
def test_cached_file_altered_on_disk_is_caught_and_removed(hub, tiny_file, tiny_entry, pinned, _private_hf_cache):
    entry = tiny_entry if pinned else UNHASHED
    hub.add(entry.repo_id, entry.filename, tiny_file[0])
    blob = hf_download.fetch(entry).resolve()
    with open(blob, "r+b") as f:  # one flipped byte, as a bad disk or an interrupted copy would leave
        f.seek(len(tiny_file[0]) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(FlairError, match="sha256 is .* expected"):
        hf_download.fetch(entry)

    assert not blob.exists() and blobs(_private_hf_cache, entry) == []
    assert hf_download.fetch(entry).read_bytes() == tiny_file[0]  # and the next fetch downloads it again
    assert file_gets(hub) == 2


def test_cancelled_download_leaves_no_file_and_the_next_one_completes(hub, tiny_file, tiny_entry,
                                                                       _private_hf_cache):
    hub.add(tiny_entry.repo_id, tiny_entry.filename, tiny_file[0])

    with pytest.raises(Cancelled):
        hf_download.fetch(tiny_entry, Progress(cancelled=lambda: True))

    assert blobs(_private_hf_cache, tiny_entry) == [] or all(
        p.name.endswith(".incomplete") for p in blobs(_private_hf_cache, tiny_entry))
    assert hf_download.fetch(tiny_entry).read_bytes() == tiny_file[0]


def test_force_downloads_again(hub, tiny_file):
    hub.add(UNHASHED.repo_id, UNHASHED.filename, tiny_file[0])
    hf_download.fetch(UNHASHED)
    hf_download.fetch(UNHASHED, force=True)
    assert file_gets(hub) == 2


# --- the command line --------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flair_qgis", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_cli_download_prints_the_cached_path(hub, tiny_file, _private_hf_cache):
    entry = zoo.ZOO["FLAIR-HUB_LC-A_RGB_swintiny-upernet"]  # a real unhashed entry (another process)
    hub.add(entry.repo_id, entry.filename, tiny_file[0])

    done = run_cli("download", entry.name)

    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_relative_to(_private_hf_cache / "hub") and path.read_bytes() == tiny_file[0]
    assert "100 %" in done.stderr
    assert file_gets(hub) == 1


def test_cli_download_of_a_file_other_than_the_pinned_one_is_refused(hub, tiny_file, _private_hf_cache):
    entry = zoo.ZOO[zoo.DEFAULT_MODEL]
    hub.add(entry.repo_id, entry.filename, tiny_file[0])

    done = run_cli("download", entry.name)

    assert done.returncode == 2
    assert f"is {len(tiny_file[0])} bytes, expected {entry.size} (sha256 {entry.sha256})" in done.stderr
    assert not any(p.name == entry.filename for p in (_private_hf_cache / "hub").rglob("*"))


def test_cli_download_of_an_unknown_model_exits_2(hub):
    done = run_cli("download", "FLAIR-INC_rgb_99cl_resnet34-unet")

    assert done.returncode == 2
    assert "error: unknown model 'FLAIR-INC_rgb_99cl_resnet34-unet'" in done.stderr
    assert done.stdout == "" and hub.requests == []


@pytest.mark.parametrize("name", [zoo.DEFAULT_MODEL, "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet"])
def test_a_registry_entry_holds_its_spec_and_builds_its_own_model(name):
    """One typed entry: its spec (bands, classes, tiling) is part of it, and it builds its model (here on the
    meta device: no weights are made)."""
    entry = zoo.get_entry(name)
    assert entry.spec.name == entry.name and entry.spec.bands == entry.bands
    assert (entry.spec.tile_size, entry.spec.grid) == (entry.tile_size, entry.grid)
    state = entry.build(device="meta").state_dict()
    assert state["segmentation_head.0.weight"].shape[0] == entry.spec.n_classes == 19
    first = next(t for t in state.values() if t.ndim == 4)
    assert first.shape[1] == len(entry.bands)


def test_the_download_cache_is_huggingface_hubs_read_when_called(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    assert hf_download.cache_dir() == Path(constants.HF_HUB_CACHE)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hf_download.cache_dir() == tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hf_download.cache_dir() == tmp_path / "cache"
    assert hf_download.cached_copies() == {}  # no cache there yet
