"""Issue 5's bad-input matrix, one test per row: each asserts that the message says what is wrong
and what to do, and that nothing was written or changed — the output folder's listing and bytes
(an existing map and its style stay as they were, no temporary file), the input, the model cache.

Most cases run through the core's ``segment`` with a tiny zoo model served by the loopback hub,
so that refusals are seen to come before any download. Related tests elsewhere: test_engine.py
(parametrised refusals through ``segment_with``), test_checkpoints.py (every damaged checkpoint
kind, at the ``read_checkpoint`` level), test_zoo.py (sha256 checks, offline, at the ``fetch``
level), test_processing.py (the same refusals through ``flair:segment``).
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import TINY_ENCODER, flair_provider, ignf_state_dict, make_raster, random_image, tiny_model
from registry_fixtures import entry_like
from flair_qgis import zoo
from flair_qgis.engine import segment, segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from test_engine import ENTRY, PixelModel, assert_same_classes, read, small_spec
from test_robustness import listing, start_segment

TINY = "FLAIR-INC_rgb_15cl_tiny-unet"
REVISION = "feedface0123456789abcdef0123456789abcdef"
SPEC = small_spec(ENTRY.spec)  # 64 px tiles, 16 px margin


@pytest.fixture(scope="module")
def tiny_file() -> tuple[bytes, str]:
    buffer = io.BytesIO()
    torch.save(ignf_state_dict(tiny_model()), buffer)
    return buffer.getvalue(), hashlib.sha256(buffer.getvalue()).hexdigest()


@pytest.fixture
def hub(fake_hub, tiny_file, monkeypatch):
    """The loopback hub serving a tiny pinned zoo model, put in the zoo as ``TINY``."""
    entry = entry_like(zoo.ZOO["FLAIR-INC_rgb_15cl_resnet34-unet"], name=TINY, repo_id=f"IGNF/{TINY}",
                    filename=f"{TINY}_weights.pth", encoder=TINY_ENCODER, revision=REVISION,
                    sha256=tiny_file[1], size=len(tiny_file[0]))
    monkeypatch.setitem(zoo.ZOO, TINY, entry)
    fake_hub.add(entry.repo_id, entry.filename, tiny_file[0])
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    return fake_hub


class Work:
    """An input raster, and an output folder holding the map and style of an earlier run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "in").mkdir()
        self.input = make_raster(root / "in" / "ortho.tif", random_image(120, 160, seed=1))
        self.out_dir = root / "out"
        self.out_dir.mkdir()
        self.output = self.out_dir / "map.tif"
        self.output.write_bytes(b"the map of an earlier run")
        (self.out_dir / "map.qml").write_bytes(b"its style")
        self.before = listing(self.out_dir)

    def options(self, **changes) -> SegmentRequest:
        return SegmentRequest.of(**{"input": self.input, "output": self.output, "model": TINY, **changes})

    def unchanged(self) -> bool:
        return listing(self.out_dir) == self.before and sorted(os.listdir(self.out_dir)) == ["map.qml", "map.tif"]


@pytest.fixture
def work(tmp_path) -> Work:
    return Work(tmp_path)


def refused(call, *options, words: tuple[str, ...]) -> str:
    """The message of the FlairError ``call(*options)`` raises; it must contain every one of ``words``."""
    with pytest.raises(FlairError) as err:
        call(*options)
    message = str(err.value)
    for w in words:
        assert w in message, f"{w!r} not in: {message}"
    return message


def nothing_fetched(hub, home: Path) -> bool:
    """The hub was not asked and the cache holds no model."""
    return hub.requests == [] and not list((home / "hub").glob("models--*/blobs/*"))


def cached_blobs(home: Path) -> list[Path]:
    return sorted((home / "hub").glob(f"models--IGNF--{TINY}/blobs/*"))


# --- the input raster --------------------------------------------------------------------------

@pytest.mark.qgis
def test_missing_file(work, hub, _private_hf_cache, qgis_processing):
    missing = work.root / "in" / "orto.tif"
    refused(segment, work.options(input=missing), words=("input raster", "orto.tif does not exist", "check the path"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)

    # Through Processing, QGIS itself refuses a layer it cannot load, before the algorithm runs.
    from qgis.core import QgsProcessingException

    import processing

    with flair_provider(), pytest.raises(QgsProcessingException, match="INPUT: .*orto.tif not found"):
        processing.run("flair:segment", {"INPUT": str(missing), "OUTPUT": str(work.output)})
    assert work.unchanged()


def test_unreadable_corrupt_raster(work, hub, _private_hf_cache):
    not_a_raster = work.root / "in" / "notes.tif"
    not_a_raster.write_text("this is not an image\n")
    refused(segment, work.options(input=not_a_raster),
            words=("notes.tif cannot be read as a raster", "check that it opens in QGIS", "export it again"))
    assert nothing_fetched(hub, _private_hf_cache)

    # An interrupted copy: the header is there, the pixels are not. It opens, then fails to read.
    truncated = work.root / "in" / "truncated.tif"
    with rasterio.open(truncated, "w", driver="GTiff", width=300, height=300, count=3, dtype="uint8",
                       crs="EPSG:2154", transform=rasterio.transform.from_origin(0, 0, 0.2, 0.2),
                       tiled=True, compress="deflate") as dst:
        dst.write(random_image(300, 300, seed=2))
    truncated.write_bytes(truncated.read_bytes()[:60_000])
    refused(segment_with, PixelModel().eval(), SPEC, work.options(input=truncated),
            words=("truncated.tif opens but its pixels cannot be read", "damaged or incomplete",
                   "copy or export it again"))
    assert work.unchanged()


def test_no_crs(work, hub, _private_hf_cache):
    src = make_raster(work.root / "in" / "nocrs.tif", random_image(40, 40), crs=None)
    refused(segment, work.options(input=src), words=("nocrs.tif has no CRS", "assign one", "gdal_edit.py -a_srs"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_zero_size_raster(work, hub, _private_hf_cache):
    """GDAL cannot hold a 0×0 raster: a VRT that says so, or an empty file, is refused on opening."""
    vrt = work.root / "in" / "zero.vrt"
    vrt.write_text('<VRTDataset rasterXSize="0" rasterYSize="0"><SRS>EPSG:2154</SRS>'
                   '<GeoTransform>0, 0.2, 0, 0, 0, -0.2</GeoTransform>'
                   '<VRTRasterBand dataType="Byte" band="1"/></VRTDataset>')
    refused(segment, work.options(input=vrt), words=("zero.vrt is empty", "choose a raster with data"))
    empty = work.root / "in" / "empty.tif"
    empty.write_bytes(b"")
    refused(segment, work.options(input=empty), words=("empty.tif cannot be read as a raster", "export it again"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_one_pixel_raster(work, hub):
    pixels = random_image(1, 1, seed=3)
    src = make_raster(work.root / "in" / "pixel.tif", pixels)
    result = segment(work.options(input=src, output=work.out_dir / "pixel.tif"))
    with rasterio.open(result.output) as o, rasterio.open(src) as s:
        assert (o.width, o.height, o.transform) == (1, 1, s.transform)
        assert o.read(1)[0, 0] in {c.code for c in result.spec.active_classes}
    assert sorted(os.listdir(work.out_dir)) == ["map.qml", "map.tif", "pixel.qml", "pixel.tif"]


def test_raster_smaller_than_one_tile(work):
    """One 512 px tile (the reference tiling) padded with zeros around a 90×130 raster: works, on
    the input's grid, each pixel the model's own answer."""
    pixels = random_image(90, 130, seed=4)
    src = make_raster(work.root / "in" / "small.tif", pixels)
    spec = ENTRY.spec
    model = PixelModel().eval()
    result = segment_with(model, spec, work.options(input=src, output=work.out_dir / "small.tif"))
    assert (spec.tile_size, result.tiles, result.tiles_computed) == (512, 1, 1)
    with rasterio.open(result.output) as o, rasterio.open(src) as s:
        assert (o.width, o.height, o.transform, o.crs) == (130, 90, s.transform, s.crs)
    assert_same_classes(read(result.output)[0], model, spec, pixels)


def test_band_index_out_of_range(work, hub, _private_hf_cache):
    for bands, bad in (([1, 2, 4], 4), ([0, 1, 2], 0)):
        refused(segment, work.options(bands=bands),
                words=(f"band {bad} does not exist", "ortho.tif, which has 3 band(s)", "choose bands between 1 and 3"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)  # checked before the download


def test_wrong_band_count_for_the_model(work, hub, _private_hf_cache):
    two = make_raster(work.root / "in" / "two.tif", random_image(40, 40, bands=2))
    refused(segment_with, PixelModel().eval(), SPEC, work.options(input=two),
            words=("the model takes 3 bands (R, G, B)", "two.tif has only 2", "use a raster that has these bands"))

    rgba = work.root / "in" / "rgba.tif"
    with rasterio.open(rgba, "w", driver="GTiff", width=40, height=40, count=4, dtype="uint8", crs="EPSG:2154",
                       transform=rasterio.transform.from_origin(0, 0, 0.2, 0.2), photometric="RGB",
                       alpha="YES") as dst:
        dst.write(random_image(40, 40, bands=4))
    rgbi = replace(SPEC, bands=("R", "G", "B", "NIR"))
    refused(segment_with, PixelModel(in_channels=4).eval(), rgbi, work.options(input=rgba),
            words=("takes 4 bands (R, G, B, NIR)", "has only 3 besides its alpha band"))

    four = make_raster(work.root / "in" / "four.tif", random_image(40, 40, bands=4))
    refused(segment_with, PixelModel().eval(), SPEC, work.options(input=four, bands=[1, 2]),
            words=("takes 3 bands", "2 were given ([1, 2])", "list exactly 3 band numbers in the model's order"))
    assert work.unchanged()


def test_all_nodata(work):
    src = make_raster(work.root / "in" / "blank.tif", np.zeros((3, 100, 100), np.uint8), nodata=0)
    refused(segment_with, PixelModel().eval(), SPEC, work.options(input=src),
            words=("blank.tif has no data to segment", "nodata value 0", "Check the bands chosen",
                   "gdal_edit.py -unsetnodata", "No output was written"))
    assert work.unchanged()


# --- settings ----------------------------------------------------------------------------------

def test_twice_margin_not_below_tile(work, hub, _private_hf_cache):
    refused(segment, work.options(tile_size=64, margin=32),
            words=("twice the margin (64) must be smaller than the tile size (64)",
                   "lower the margin or raise the tile size"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)  # refused before the download
    refused(segment_with, PixelModel().eval(), replace(SPEC, tile_size=128, margin=64), work.options(),
            words=("twice the margin (128)",))  # a model's own bad tiling too
    assert work.unchanged()


def test_tile_not_multiple_of_encoder_stride(work, hub, _private_hf_cache):
    refused(segment, work.options(tile_size=80, margin=8),
            words=("tile size 80 is not a multiple of 32", "use 64 or 96"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_batch_size_zero(work, hub, _private_hf_cache):
    refused(segment, work.options(batch_size=0), words=("batch size must be at least 1", "or empty for automatic"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_unknown_device(work, hub, _private_hf_cache):
    refused(segment, work.options(device="tpu"), words=("unknown device 'tpu'", "use one of auto, cpu, cuda"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_cuda_asked_but_absent(work, hub, _private_hf_cache, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # whatever this machine has
    refused(segment, work.options(device="cuda"),
            words=("device 'cuda' was asked for but PyTorch sees no CUDA GPU", "use 'auto' or 'cpu'"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


# --- checkpoints -------------------------------------------------------------------------------

def _checkpoint_run(work, path: Path, **changes):
    return segment(work.options(**{"model": None, "checkpoint": path, "arch": "unet", "encoder": TINY_ENCODER,
                                   **changes}))


def test_corrupt_checkpoint(work, hub, _private_hf_cache):
    path = work.root / "in" / "weights.pth"
    path.write_bytes(os.urandom(4096))
    content = path.read_bytes()
    refused(_checkpoint_run, work, path,
            words=("weights.pth is corrupt, truncated or not a PyTorch file", "Download or copy the file again"))
    assert path.read_bytes() == content and work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_truncated_checkpoint(work, tiny_file):
    path = work.root / "in" / "weights.pth"
    path.write_bytes(tiny_file[0][: len(tiny_file[0]) * 2 // 3])  # a download or copy cut short
    refused(_checkpoint_run, work, path,
            words=("weights.pth is corrupt, truncated or not a PyTorch file", "interrupted copy leaves it truncated"))
    assert work.unchanged()


def test_checkpoint_of_another_architecture(work):
    path = work.root / "in" / "fpn_weights.pth"
    torch.save(ignf_state_dict(tiny_model(arch="fpn")), path)
    refused(_checkpoint_run, work, path,
            words=(f"fpn_weights.pth does not fit a unet/{TINY_ENCODER} model", f"it looks like fpn/{TINY_ENCODER}",
                   f"flair-detect configuration (model_name fpn, encoder_name {TINY_ENCODER})"))
    assert work.unchanged()

    result = _checkpoint_run(work, path, arch="fpn", tile_size=64, margin=16)  # the advice works
    assert result.spec.arch == "fpn" and read(result.output).min() > 0


class _RunsAShellCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_checkpoint_with_pickled_code(work):
    marker = work.root / "payload-ran"
    path = work.root / "in" / "evil_weights.pth"
    sd = ignf_state_dict(tiny_model())
    sd["criterion.weight"] = _RunsAShellCommand(f"touch {shlex.quote(str(marker))}")
    torch.save(sd, path)
    refused(_checkpoint_run, work, path,
            words=("evil_weights.pth was refused", "pickled Python code", "was not run", "Only load files you trust",
                   "re-save the state_dict alone"))
    assert not marker.exists() and work.unchanged()


# --- the model zoo -----------------------------------------------------------------------------

@pytest.fixture
def no_retry_waits(monkeypatch):
    """huggingface_hub waits 1 s before each resume of a cut download: not in tests."""
    import time

    from huggingface_hub import file_download

    class NoSleep:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            return None

    monkeypatch.setattr(file_download, "time", NoSleep())


def test_download_interrupted_mid_file(work, hub, tiny_file, _private_hf_cache, no_retry_waits):
    data, sha = tiny_file
    hub.cut_after, hub.cuts = len(data) // 3, 1  # the connection drops a third of the way, once

    result = segment(work.options(output=work.out_dir / "new.tif", tile_size=64, margin=16))

    gets = [p for m, p in hub.requests if m == "GET" and "/resolve/" in p]
    assert len(gets) == 2  # the cut one, then the rest of the file
    assert [b.name for b in cached_blobs(_private_hf_cache)] == [sha]  # verified: named by its sha256
    assert hashlib.sha256(cached_blobs(_private_hf_cache)[0].read_bytes()).hexdigest() == sha
    assert result.output.exists()

    # Cut every time: huggingface_hub gives up after its resumes; a clear error, no partial file kept.
    for blob in cached_blobs(_private_hf_cache):
        blob.unlink()
    hub.cuts = 100
    refused(segment, work.options(output=work.out_dir / "other.tif"),
            words=(f"model {TINY}: the download was interrupted and could not be resumed",
                   "Check the network connection and run again", f"python -m flair_qgis download {TINY}"))
    assert cached_blobs(_private_hf_cache) == []
    assert not (work.out_dir / "other.tif").exists()


def test_cached_file_altered_on_disk(work, hub, tiny_file, _private_hf_cache):
    first = segment(work.options(output=work.out_dir / "first.tif", tile_size=64, margin=16))
    blob = cached_blobs(_private_hf_cache)[0]
    with open(blob, "r+b") as f:  # one byte flipped, as a failing disk would
        f.seek(len(tiny_file[0]) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = listing(work.out_dir)

    refused(segment, work.options(output=first.output),
            words=(f"model {TINY}", f"expected {tiny_file[1]}", "the corrupt file was removed from the cache",
                   "download it again"))

    assert listing(work.out_dir) == before  # the earlier map untouched
    assert cached_blobs(_private_hf_cache) == []  # the altered file is not used again
    segment(work.options(output=first.output, tile_size=64, margin=16))  # the next run downloads it afresh
    assert [b.name for b in cached_blobs(_private_hf_cache)] == [tiny_file[1]]


def test_offline_without_cache(work, hub, _private_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refused(segment, work.options(),
            words=(f"model {TINY} is not in the cache", "offline mode is on (HF_HUB_OFFLINE)",
                   f"python -m flair_qgis download {TINY}", "or give a local checkpoint file"))
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


# --- the output --------------------------------------------------------------------------------

def test_output_folder_missing_is_created(work):
    for name, res in (("plain", 0.2), ("resampled", 0.5)):  # resampled runs work next to the output
        src = make_raster(work.root / "in" / f"{name}.tif", random_image(60, 80, seed=5), res=res)
        output = work.root / "new" / name / "deeper" / "map.tif"
        result = segment_with(PixelModel().eval(), SPEC, work.options(input=src, output=output))
        assert result.output == output
        assert sorted(os.listdir(output.parent)) == ["map.qml", "map.tif"]  # and nothing else
        with rasterio.open(output) as o:
            assert (o.width, o.height) == (80, 60)


def test_output_folder_not_writable(work, hub, _private_hf_cache):
    """Root may write anywhere: a folder that cannot be made (a file stands in its way) is the case
    every user can meet; a folder without write permission is tried when not root."""
    blocker = work.root / "in" / "notes.txt"
    blocker.write_text("a file, not a folder")
    for res in (0.2, 0.5):
        src = make_raster(work.root / "in" / f"r{res}.tif", random_image(40, 40), res=res)
        refused(segment, work.options(input=src, output=blocker / "maps" / "map.tif"),
                words=("cannot create the output folder", "notes.txt is a file, not a folder",
                       "choose an output path in a folder you can write to"))
        refused(segment_with, PixelModel().eval(), SPEC, work.options(input=src, output=blocker / "map.tif"),
                words=("cannot create the output folder", "choose an output path in a folder you can write to"))
    assert blocker.read_text() == "a file, not a folder"
    assert nothing_fetched(hub, _private_hf_cache)  # refused before the model is downloaded
    if os.geteuid() != 0:
        locked = work.root / "locked"
        locked.mkdir(mode=0o500)
        refused(segment, work.options(output=locked / "map.tif"),
                words=("the output folder", "is not writable", "choose an output path"))
        assert os.listdir(locked) == []
    assert work.unchanged()


def test_output_equal_to_input(work, hub, _private_hf_cache):
    content = work.input.read_bytes()
    for same in (work.input, work.root / "in" / ".." / "in" / "ortho.tif"):
        refused(segment, work.options(output=same),
                words=("is the input raster", "choose another output file"))
    link = work.out_dir / "link.tif"
    link.symlink_to(work.input)
    refused(segment, work.options(output=link), words=("is the input raster",))
    link.unlink()
    assert work.input.read_bytes() == content
    assert work.unchanged() and nothing_fetched(hub, _private_hf_cache)


def test_disk_full_while_writing(work):
    """A process that may write 16 KiB per file (RLIMIT_FSIZE, EFBIG like a full disk) segments a
    raster whose map is larger: GDAL's write failures, which rasterio only logs, fail the run."""
    src = make_raster(work.root / "in" / "large.tif", random_image(400, 400, seed=6))

    proc = start_segment(src, work.output, fsize=16 * 1024)
    stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 3, (proc.returncode, stdout, stderr)
    for words in ("map.tif failed", "the disk may be full",
                  "free some space or choose an output folder on another disk",
                  "an existing output is unchanged"):
        assert words in stdout, stdout
    assert work.unchanged()
