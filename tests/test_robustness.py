"""Nothing is lost: a killed run leaves no partial output and the next run cleans up after it; an
existing output is replaced only by a complete one; runs and downloads at the same time do not
trip over each other; training checkpoints are written atomically.

A cancelled run is covered by test_engine.py (test_cancel_stops_and_leaves_the_previous_output_untouched)
and a cancelled download by test_zoo.py (test_cancelled_download_leaves_no_file_and_the_next_one_completes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import ROOT, ignf_state_dict, make_raster, random_image, tiny_model
from flair_qgis import zoo
from flair_qgis.checkpoints import read_checkpoint, save_checkpoint
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.progress import Progress
from flair_qgis.files import host, remove_stale_temporaries
from test_engine import ENTRY, PixelModel, read, small_spec

SPEC = small_spec(ENTRY.spec)  # 64 px tiles, 16 px margin

# A segmentation in a process of its own, with test_engine's PixelModel (same seed, same weights)
# made slow by ``sleep`` seconds a batch. It waits for the file ``go`` (if given) before starting,
# so that several processes start together once their imports are done; ``fsize`` limits the size
# of the files it may write (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with EFBIG, a full disk).
SEGMENT_SCRIPT = r"""
import json, resource, signal, sys, time
from dataclasses import replace
from pathlib import Path

args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
import torch
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.zoo import get_entry

torch.set_num_threads(1)


class SlowPixelModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 19, 1)

    def forward(self, x):
        time.sleep(args["sleep"])
        return self.conv(x)


spec = replace(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, tile_size=64, margin=16)
model = SlowPixelModel().eval()
if args.get("go"):
    while not Path(args["go"]).exists():
        time.sleep(0.02)
if args.get("fsize"):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (args["fsize"], resource.RLIM_INFINITY))
try:
    segment_with(model, spec, SegmentRequest.of(args["input"], args["output"], batch_size=1))
except FlairError as e:
    print(e)
    sys.exit(3)
"""


def start_segment(input: Path, output: Path, sleep: float = 0.0, go: Path | None = None,
                  fsize: int | None = None) -> subprocess.Popen:
    args = dict(root=str(ROOT), input=str(input), output=str(output), sleep=sleep,
                go=str(go) if go else None, fsize=fsize)
    return subprocess.Popen([sys.executable, "-c", SEGMENT_SCRIPT, json.dumps(args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def temporaries(folder: Path, pid: int | None = None) -> list[Path]:
    """The engine's temporary outputs in ``folder`` (of process ``pid`` only, when given)."""
    return sorted(p for p in folder.glob(".*.tmp.tif") if pid is None or f".{pid}." in p.name)


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended before {what}: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


# --- a killed run ------------------------------------------------------------------------------

def test_sigkill_during_write_leaves_the_previous_output_and_the_next_run_cleans_up(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(300, 300, seed=1))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "map.tif"
    output.write_bytes(b"previous map")
    (out_dir / "map.qml").write_bytes(b"previous style")
    before = listing(out_dir)

    proc = start_segment(src, output, sleep=0.2)  # ~100 tiles at 0.2 s: far from done when killed
    stale = wait_for(lambda: temporaries(out_dir, proc.pid), 60, "the temporary output", proc)
    time.sleep(0.5)  # well into the writing
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert stale[0].exists()  # killed mid-write: its temporary file is all it left
    assert {k: v for k, v in listing(out_dir).items() if not k.startswith(".")} == before

    result = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, output))

    assert listing(out_dir).keys() == {"map.tif", "map.qml"}  # the stale temporary is gone
    with rasterio.open(result.output) as o:
        assert (o.width, o.height) == (300, 300) and o.read(1).min() > 0


def test_stale_temporaries_of_killed_runs_are_removed_and_others_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = os.getpid()
    here = host()
    files = {
        f".map.tif.{here}.{dead.pid}.abc123_x.tmp.tif": False,       # killed run writing map.tif
        f".map.tif.{here}.{dead.pid}.abc123_x.tmp.tif.aux.xml": False,
        f".map.tif.{here}.{alive}.def456yz.tmp.tif": True,           # a run still writing map.tif
        f".map.tif.other-node.{dead.pid}.def456yz.tmp.tif": True,    # another machine's run on shared storage
        f".map.2.tif.{here}.{dead.pid}.ghi789aa.tmp.tif": True,      # another output's (map.2.tif)
        f".map.tif.{here}.{dead.pid}.notes.txt": True,               # not one of ours
    }
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".map.tif.{here}.{dead.pid}.jkl012bb.resample").mkdir()  # a killed resampled run's folder
    (tmp_path / f".map.tif.{here}.{dead.pid}.jkl012bb.resample" / "input.vrt").write_text("<VRTDataset/>")

    removed = remove_stale_temporaries(tmp_path / "map.tif")

    assert sorted(p.name for p in removed) == [f".map.tif.{here}.{dead.pid}.abc123_x.tmp.tif",
                                               f".map.tif.{here}.{dead.pid}.jkl012bb.resample"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, kept in files.items() if kept)


# --- replacing an output -----------------------------------------------------------------------

def test_an_existing_output_is_replaced_only_by_a_complete_new_one(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(200, 200, seed=2))
    output = tmp_path / "map.tif"
    old = segment_with(PixelModel(seed=1).eval(), SPEC, SegmentRequest.of(src, output)).output.read_bytes()
    old_inode = output.stat().st_ino
    seen: list[tuple[bytes, int]] = []

    def during_the_run(fraction: float) -> None:
        seen.append((output.read_bytes(), len(temporaries(tmp_path))))

    segment_with(PixelModel(seed=2).eval(), SPEC, SegmentRequest.of(src, output, batch_size=1),
                 Progress(fraction=during_the_run))

    assert len(seen) > 10
    assert all(data == old for data, _ in seen)  # readers see the old map until the new one is whole
    assert all(n == 1 for _, n in seen)  # while the new one grows under its temporary name
    assert output.stat().st_ino != old_inode  # moved into place, not rewritten in place
    assert temporaries(tmp_path) == []
    expected = segment_with(PixelModel(seed=2).eval(), SPEC, SegmentRequest.of(src, tmp_path / "check.tif")).output
    np.testing.assert_array_equal(read(output), read(expected))


def test_a_failed_run_leaves_an_existing_output_as_it_was(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(150, 150, seed=3))
    output = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(src, tmp_path / "map.tif")).output
    before = listing(tmp_path)

    class FailsLater(PixelModel):
        calls = 0

        def forward(self, x):
            FailsLater.calls += 1
            if FailsLater.calls > 3:
                raise RuntimeError("the GPU fell off the bus")
            return super().forward(x)

    with pytest.raises(RuntimeError, match="fell off"):
        segment_with(FailsLater(seed=5).eval(), SPEC, SegmentRequest.of(src, output, batch_size=1))

    assert listing(tmp_path) == before


# --- at the same time --------------------------------------------------------------------------

def test_two_runs_writing_different_outputs_at_once_both_succeed(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    inputs = [make_raster(tmp_path / f"in{i}.tif", random_image(200, 200, seed=10 + i)) for i in range(2)]
    outputs = [out_dir / "map.tif", out_dir / "map.2.tif"]  # one name starts like the other's
    go = tmp_path / "go"
    procs = [start_segment(i, o, sleep=0.03, go=go) for i, o in zip(inputs, outputs)]
    time.sleep(0.5)
    go.touch()

    both_writing = False
    while any(p.poll() is None for p in procs):
        both_writing = both_writing or all(temporaries(out_dir, p.pid) for p in procs)
        time.sleep(0.01)
    results = [p.communicate() for p in procs]

    assert [p.returncode for p in procs] == [0, 0], results
    assert both_writing, "the two runs did not overlap: the test proves nothing"
    assert sorted(os.listdir(out_dir)) == ["map.2.qml", "map.2.tif", "map.qml", "map.tif"]
    for i, o in zip(inputs, outputs):
        expected = segment_with(PixelModel().eval(), SPEC, SegmentRequest.of(i, tmp_path / f"check_{o.name}")).output
        np.testing.assert_array_equal(read(o), read(expected))


FETCH_SCRIPT = r"""
import json, sys, time
from pathlib import Path

args = json.loads(sys.argv[1])
sys.path.insert(0, args["root"])
from flair_qgis import hf_download, zoo

while not Path(args["go"]).exists():
    time.sleep(0.02)
print(hf_download.fetch(zoo.get_entry(args["model"])))
"""


def test_two_downloads_of_the_same_model_at_once_give_one_verified_file(fake_hub, tmp_path, _private_hf_cache):
    buffer = io.BytesIO()
    torch.save(ignf_state_dict(tiny_model()), buffer)
    data = buffer.getvalue()
    entry = zoo.ZOO["FLAIR-HUB_LC-A_RGB_swintiny-upernet"]  # unhashed (FLAIR-INC files are pinned by sha256)
    sha = fake_hub.add(entry.repo_id, entry.filename, data)
    fake_hub.delay = 1.0  # both processes ask before the first body arrives
    go = tmp_path / "go"
    env = dict(os.environ, HF_ENDPOINT=fake_hub.url, HF_HOME=str(_private_hf_cache))
    args = json.dumps(dict(root=str(ROOT), go=str(go), model=entry.name))
    procs = [subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, args], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.3)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], results
    paths = {Path(out.strip().splitlines()[-1]) for out, _ in results}
    assert len(paths) == 1
    path = paths.pop()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    repo = _private_hf_cache / "hub" / f"models--{entry.repo_id.replace('/', '--')}"
    assert [p.name for p in (repo / "blobs").iterdir()] == [sha]  # one file, no partial one beside it
    heads = [p for m, p in fake_hub.requests if m == "HEAD"]
    assert len(heads) == 2  # both asked the hub…
    assert sum(1 for m, p in fake_hub.requests if m == "GET" and "/resolve/" in p) == 1  # …one downloaded


# --- training checkpoints ----------------------------------------------------------------------

def _tiny_spec():
    from dataclasses import replace

    from conftest import TINY_ENCODER

    return replace(SPEC, encoder=TINY_ENCODER)


def test_a_checkpoint_save_failing_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "best.pt", tiny_model(seed=1), _tiny_spec(), epoch=1)
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(FlairError) as err:
        save_checkpoint(path, tiny_model(seed=2), _tiny_spec(), epoch=2)

    assert "disk may be full" in str(err.value) and "free some space" in str(err.value)
    assert "best.pt, if any, is unchanged" in str(err.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["best.pt"]
    monkeypatch.undo()
    assert read_checkpoint(path).extra == {"epoch": 1}


CRASHING_SAVE_SCRIPT = r"""
import json, os, signal, sys
args = json.loads(sys.argv[1])
sys.path[:0] = [args["root"]]
import torch
from flair_qgis.checkpoints import read_checkpoint, save_checkpoint

real_save = torch.save


def save_then_die(obj, f, *a, **kw):
    real_save(obj, f, *a, **kw)
    f.flush()
    f.truncate(f.tell() // 2)  # half of it on disk when the process dies
    os.kill(os.getpid(), signal.SIGKILL)


old = read_checkpoint(args["path"])
torch.save = save_then_die
save_checkpoint(args["path"], torch.nn.Conv2d(3, 19, 1), old.spec, epoch=2)
"""


def test_a_process_killed_while_saving_a_checkpoint_leaves_the_previous_file_intact(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", tiny_model(seed=1), _tiny_spec(), epoch=1)
    before = path.read_bytes()

    done = subprocess.run([sys.executable, "-c", CRASHING_SAVE_SCRIPT,
                           json.dumps(dict(root=str(ROOT), path=str(path)))], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode == -signal.SIGKILL, done.stderr
    assert path.read_bytes() == before
    leftovers = [p for p in tmp_path.iterdir() if p.name != "last.pt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".last.pt.")  # the dead save's partial file
    assert read_checkpoint(path).extra == {"epoch": 1}

    save_checkpoint(path, tiny_model(seed=2), _tiny_spec(), epoch=3)  # the next save cleans up after it

    assert os.listdir(tmp_path) == ["last.pt"] and read_checkpoint(path).extra == {"epoch": 3}


def test_finished_files_get_the_umasks_permissions_not_mkstemps(tmp_path):
    import os
    import stat

    from conftest import make_raster, random_image
    from flair_qgis.engine import segment_with
    from flair_qgis.segment_options import SegmentRequest
    from flair_qgis.zoo import get_entry
    from test_engine import PixelModel, small_spec

    src = make_raster(tmp_path / "in.tif", random_image(40, 40))
    old = os.umask(0o022)
    try:
        spec = small_spec(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec)
        result = segment_with(PixelModel().eval(), spec, SegmentRequest.of(src, tmp_path / "o.tif"))
    finally:
        os.umask(old)
    for path in (result.output, result.style):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
