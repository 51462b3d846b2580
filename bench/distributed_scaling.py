"""Scaling of sharded zone runs: one process vs a local Dask cluster of 1 and 2 worker processes.

A zone of real imagery: ``--tiles`` fnau-parking patches (512×512 px, IGN BD ORTHO® at 0.2 m)
laid side by side on one pixel grid as separate GeoTIFFs (a folder, like BD ORTHO's 1 km tiles);
a ResNet34 U-Net with random weights (FLAIR-INC_rgb_15cl's shape), tiled 512/128 as flair-detect.

    .venv/bin/python bench/distributed_scaling.py [--cols 4 --rows 3 --block 512]

Prints one line per run (seconds, tiles/s, Mpx/s, speed-up over the single process) and whether
each sharded output equals the single-process output pixel for pixel.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PATCHES = ROOT.parent / "shared" / "data" / "fnau-parking" / "train" / "images"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the local cluster's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_zone(folder: Path, cols: int, rows: int) -> tuple[int, int]:
    patches = sorted(PATCHES.glob("*.tif"))[: cols * rows]
    folder.mkdir(parents=True)
    for k, p in enumerate(patches):
        i, j = divmod(k, cols)
        with rasterio.open(p) as src:
            data = src.read([1, 2, 3])
        h, w = data.shape[1:]
        with rasterio.open(folder / p.name, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                           crs="EPSG:2154", transform=from_origin(650000.0 + j * w * 0.2, 6860000.0 - i * h * 0.2,
                                                                  0.2, 0.2),
                           tiled=True, compress="deflate") as dst:
            dst.write(data)
    return cols * 512, rows * 512


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeat", type=int, default=1, help="run the cluster configurations this many times")
    args = ap.parse_args()

    import torch

    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import build_model
    from flair_qgis.distributed import ZoneOptions, run_zone
    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest
    from flair_qgis.zoo import get_entry

    work = Path(tempfile.mkdtemp(prefix="flair-scaling-"))
    try:
        width, height = make_zone(work / "tiles", args.cols, args.rows)
        spec = get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec
        torch.manual_seed(0)
        ckpt = save_checkpoint(work / "resnet34_unet_random.pt",
                               build_model("unet", "resnet34", 3, spec.n_classes).eval(), spec)
        print(f"zone {width}×{height} px ({args.cols * args.rows} files), ResNet34 U-Net random weights, "
              f"512/128 tiles, blocks of {args.block} px, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads in this process")

        def opts(name: str) -> SegmentRequest:
            return SegmentRequest.of(work / "tiles", work / name / "out.tif", checkpoint=ckpt)

        # single process: the whole zone in one run of the engine (a VRT of the folder)
        from flair_qgis.distributed import build_vrt

        vrt = build_vrt(sorted((work / "tiles").glob("*.tif")), work / "zone.vrt")
        segment(SegmentRequest.of(sorted((work / "tiles").glob("*.tif"))[0], work / "warm.tif", checkpoint=ckpt))
        load = os.getloadavg()[0]
        cpu0 = cpu_seconds()
        t = time.perf_counter()
        single = segment(SegmentRequest.of(vrt, work / "single.tif", checkpoint=ckpt))
        base = time.perf_counter() - t
        base_cpu = cpu_seconds() - cpu0
        with rasterio.open(single.output) as s:
            expected = s.read()
        tiles = single.tiles
        print(f"single process (engine.segment)   {base:7.1f} s  {tiles / base:5.2f} tiles/s  "
              f"{width * height / base / 1e6:5.2f} Mpx/s  1.00×  (CPU {base_cpu / tiles:.2f} s/tile, "
              f"load before {load:.1f})", flush=True)

        runs = [("sharded, in this process", None)] + [(f"LocalCluster, {n} worker process(es)", int(n))
                                                       for n in args.workers.split(",")] * args.repeat
        for k, (label, workers) in enumerate(runs):
            load = os.getloadavg()[0]
            cpu0 = cpu_seconds()
            t = time.perf_counter()
            result = run_zone(ZoneOptions(opts(f"run{k}"), workers=workers, block_size=args.block))
            sec = time.perf_counter() - t
            cpu = cpu_seconds() - cpu0  # the worker processes are this process's children, reaped by now
            with rasterio.open(result.vrt) as r:
                same = np.array_equal(r.read(), expected)
            compute = sum(rec["seconds"] for rec in result.records.values())
            print(f"{label:<34} {sec:7.1f} s  {tiles / sec:5.2f} tiles/s  {width * height / sec / 1e6:5.2f} Mpx/s  "
                  f"{base / sec:4.2f}×  ({result.blocks} blocks, sum of block times {compute:.1f} s, "
                  f"median block {statistics.median(r['seconds'] for r in result.records.values()):.1f} s, "
                  f"torch threads {sorted({r['torch_threads'] for r in result.records.values()})}, "
                  f"CPU {cpu / tiles:.2f} s/tile, load before {load:.1f}, identical to single: {same})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
