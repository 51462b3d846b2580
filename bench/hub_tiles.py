"""Which tiling for FLAIR-HUB models: agreement between tile sizes and time per output pixel.

Segments a mosaic of the real fnau-parking BD ORTHO patches with FLAIR-HUB_LC-A_RGB_swintiny-upernet's
architecture (random weights: the real ones cannot be downloaded here) at 512/128, 1024/256 and 2048/512
(FLAIR-HUB's zonal default), all keeping the central quarter of each tile, and reports for each the
seconds per megapixel written and the agreement with the 2048/512 map (what FLAIR-HUB itself writes).

    .venv/bin/python bench/hub_tiles.py --side 2048 --sizes 512,1024,2048
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from flair_qgis.model_spec import build_model  # noqa: E402
from flair_qgis.engine import segment_with  # noqa: E402
from flair_qgis.segment_options import SegmentRequest  # noqa: E402
from flair_qgis.zoo import get_entry  # noqa: E402
from run import build_ortho  # noqa: E402


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--side", type=int, default=2048, help="mosaic side in px (a multiple of 512)")
    p.add_argument("--sizes", default="512,1024,2048", help="tile sizes; the margin is a quarter of each")
    p.add_argument("--model", default="FLAIR-HUB_LC-A_RGB_swintiny-upernet")
    p.add_argument("--batch", type=int, default=1)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flair-hub-tiles-"))
    ortho = build_ortho(work / "ortho.tif", args.side // 512)
    spec = get_entry(args.model).spec
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval()
    maps, rows = {}, []
    for size in [int(s) for s in args.sizes.split(",")]:
        tiled = replace(spec, tile_size=size, margin=size // 4)
        with torch.inference_mode():
            model(torch.zeros(1, 3, size, size))  # builds Swin for this size outside the timing
        start = time.perf_counter()
        result = segment_with(model, tiled, SegmentRequest.of(ortho, work / f"{size}.tif", batch_size=args.batch))
        seconds = time.perf_counter() - start
        with rasterio.open(result.output) as src:
            maps[size] = src.read(1)
        rows.append((size, result.tiles, seconds))
    reference = maps[max(maps)]
    print(f"{args.model} (random weights), {args.side}² px of fnau-parking, batch {args.batch}, "
          f"{torch.get_num_threads()} thread(s), peak RSS {rss_mib():.0f} MiB")
    print("| tile/margin | tiles | s per megapixel | agreement with the largest tile |")
    print("|---|---|---|---|")
    for size, tiles, seconds in rows:
        agree = (maps[size] == reference).mean()
        print(f"| {size}/{size // 4} | {tiles} | {seconds / (args.side ** 2 / 1e6):.1f} | {agree:.2%} |")


if __name__ == "__main__":
    main()
