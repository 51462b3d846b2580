"""Peak memory of a whole segmentation as the raster grows: does it stay flat?

``segment`` runs, as a user runs it (a checkpoint file, the default backend, OpenVINO already converted
by a first run on one tile), on side×side rasters (a VRT repeating a 1024² mosaic of real fnau-parking
patches: no disk used for the input), each in a fresh subprocess whose peak RSS (``VmHWM``) is
reported with its time and whether PyTorch was imported. The model is a small U-Net
(``tu-mobilenetv3_small_050`` encoder, random weights, FLAIR-INC's RGB classes, 512/128, batch 4):
the engine's own memory is what scales with the raster, not the model's, and a ResNet34 would take
hours at 32768² on 2 cores.

    .venv/bin/python bench/memory_scaling.py [--sides 2048,8192,16384] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peak_rss import peak_rss_mib  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
ENCODER = "tu-mobilenetv3_small_050"


def child(checkpoint: Path, src: Path, out: Path) -> None:
    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest

    start = time.perf_counter()
    result = segment(SegmentRequest.of(src, out, checkpoint=checkpoint, batch_size=4))
    print(json.dumps({"seconds": time.perf_counter() - start, "tiles": result.tiles, "rss": peak_rss_mib(),
                      "torch": "torch" in sys.modules}))


def checkpoint_file(work: Path) -> Path:
    import torch

    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import build_model
    from flair_qgis.zoo import get_entry

    spec = get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec
    spec = replace(spec, encoder=ENCODER, name="small-unet")
    torch.manual_seed(0)
    return save_checkpoint(work / "small-unet.ckpt", build_model(spec.arch, ENCODER, 3, spec.n_classes).eval(), spec)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sides", default="2048,8192,16384", help="raster sides (32768: ~30 min on 2 cores)")
    p.add_argument("--no-append", action="store_true")
    p.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(*a.child)
    import os

    from run import repeat_vrt
    from suite import machine, mosaic

    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest

    os.environ.setdefault("FLAIR_CACHE_DIR", tempfile.mkdtemp(prefix="flair-bench-cache-"))
    work = Path(tempfile.mkdtemp(prefix="flair-bench-"))
    checkpoint = checkpoint_file(work)
    base, what = mosaic(work / "mosaic_1024.tif", 1024)
    segment(SegmentRequest.of(base, work / "warm.tif", checkpoint=checkpoint, batch_size=4, window=(0, 0, 512, 512)))
    rows = []
    for side in (int(s) for s in a.sides.split(",")):
        src = repeat_vrt(work / f"in_{side}.vrt", base, side)
        done = subprocess.run([sys.executable, __file__, "--child", str(checkpoint), str(src), str(work / "out.tif")],
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        r = json.loads(done.stdout.strip().splitlines()[-1])
        (work / "out.tif").unlink(missing_ok=True)
        rows.append((side, r))
        print(side, r, flush=True)
    first = rows[0][1]["rss"]
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"\n## Peak memory as the raster grows (bench/memory_scaling.py), {stamp} — {machine()}\n\n",
             f"`segment` with a checkpoint file, the default backend (OpenVINO, converted by a first run), "
             f"512/128, batch 4, a small U-Net ({ENCODER}, random weights); input: a VRT repeating a {what}.\n\n",
             "| raster | tiles | time (s) | peak RSS (MiB) | × the smallest | PyTorch imported |\n",
             "|---|---|---|---|---|---|\n"]
    lines += [f"| {side}² | {r['tiles']} | {r['seconds']:.0f} | {r['rss']:.0f} | {r['rss'] / first:.2f}× | "
              f"{'yes' if r['torch'] else 'no'} |\n" for side, r in rows]
    print("".join(lines))
    if not a.no_append:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.writelines(lines)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
