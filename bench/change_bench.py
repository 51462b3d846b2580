"""``make bench-change``: speed and memory of flair:change (``flair_qgis.change``).

Inputs: two class rasters made of a real label patch of ``../shared/data/fnau-parking`` repeated
(VRTs, no disk used; see ``examples/make_change_example.py``: the 2018 map, and a made-up 2024 map
misregistered by one pixel with a parking lot removed and a building added, 0-based like
flair-detect's). Figures, each run in a fresh subprocess (peak RSS is per process):

- pixels/s of ``change.compare`` (no zones, MIN_AREA 0, tables only) against a plain numpy
  whole-array cross-tabulation of the same rasters (read both whole, ``bincount(before*20+after)``);
- pixels/s with the default MIN_AREA (10 m²), tables only (against the first: the cost of finding
  the small changed regions), and with the change map written too;
- the same two tables-only runs on a denser pair (sides up to ``--dense-max``): the 2024 map with
  blobs of another class over ~15 % of it as well (smoothed noise, seeded; a GeoTIFF written
  once), as between two predictions that disagree in many places — labelling costs more there;
- the CPU time of each run beside its wall time (user + system: less disturbed by other work on a
  shared machine; imports and reading included, like the wall time);
- peak RSS of ``change.compare`` at each side (it should stay flat), and of the numpy baseline
  where it fits in memory (it grows with the raster: ~10 bytes a pixel).

    .venv/bin/python bench/change_bench.py --sides 4096,32768     # make bench-change
    .venv/bin/python bench/change_bench.py --sides 1024,2048 --baseline-max 2048 --no-append   # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peak_rss import peak_rss_mib  # noqa: E402 - VmHWM: ru_maxrss would carry this parent's RSS into each run
RESULTS = ROOT / "bench" / "RESULTS.md"


def repeat_vrt(path: Path, source: Path, side: int) -> Path:
    """A side×side one-band VRT repeating ``source`` (like bench/run.py's, without importing torch)."""
    import rasterio

    with rasterio.open(source) as src:
        w, h, nodata, crs, t = src.width, src.height, src.nodata, src.crs.to_wkt(), src.transform
    sources = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename><SourceBand>1</SourceBand>'
        f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/><DstRect xOff="{x}" yOff="{y}" xSize="{w}" '
        f'ySize="{h}"/></SimpleSource>' for y in range(0, side, h) for x in range(0, side, w))
    no_data = f"<NoDataValue>{nodata:g}</NoDataValue>" if nodata is not None else ""
    path.write_text(f'<VRTDataset rasterXSize="{side}" rasterYSize="{side}"><SRS>{crs.replace("<", "&lt;")}</SRS>'
                    f"<GeoTransform>{t.c}, {t.a}, 0, {t.f}, 0, {t.e}</GeoTransform>"
                    f'<VRTRasterBand dataType="Byte" band="1">{no_data}{sources}</VRTRasterBand></VRTDataset>')
    return path


def inputs(work: Path, side: int) -> tuple[Path, Path]:
    """The two dates as side×side VRTs repeating the example's 512 px maps."""
    sys.path.insert(0, str(ROOT / "examples"))
    from make_change_example import main as make_example

    if not (work / "landcover_2018.tif").is_file():
        make_example(work)
    return (repeat_vrt(work / f"before_{side}.vrt", work / "landcover_2018.tif", side),
            repeat_vrt(work / f"after_{side}.vrt", work / "landcover_2024_flair_detect.tif", side))


def dense_after(work: Path, after: Path, side: int) -> Path:
    """``after`` with blobs of another class over ~15 % of it (deflate GeoTIFF, made once per side)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window
    from scipy import ndimage

    path = work / f"after_dense_{side}.tif"
    if path.is_file():
        return path
    rng = np.random.default_rng(side)
    with rasterio.open(after) as src:
        profile = src.profile | {"driver": "GTiff", "compress": "deflate", "tiled": True}
        with rasterio.open(path, "w", **profile) as dst:
            for row in range(0, side, 2048):
                window = Window(0, row, side, min(2048, side - row))
                values = src.read(1, window=window)
                noise = ndimage.gaussian_filter(rng.standard_normal(values.shape).astype(np.float32), 2.5)
                blobs = noise > np.quantile(noise[:64], 0.85)
                values[blobs] = (values[blobs] + 4) % 19  # 0-based: another class
                dst.write(values, 1, window=window)
    return path


def child(kind: str, side: int, work: Path) -> None:
    """In a subprocess: one run; prints JSON (seconds, peak RSS in MiB)."""
    before, after = inputs(work, side)
    if kind.startswith("dense_"):
        kind, after = kind[len("dense_"):], dense_after(work, after, side)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_start = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    if kind == "numpy":
        import numpy as np
        import rasterio

        with rasterio.open(before) as b, rasterio.open(after) as a:
            first, second = b.read(1), a.read(1).astype(np.uint16) + 1  # the second map is 0-based
        valid = first > 0
        np.bincount((first.astype(np.uint16) * 20 + second)[valid], minlength=400)
    else:
        from flair_qgis.change import ChangeOptions, compare

        minimal = kind == "change"
        compare(ChangeOptions(before, after, min_area=0 if minimal else 10.0,
                              change=work / f"change_{side}.tif" if kind == "change_min_area_map" else None))
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_start,
                      "rss_mib": peak_rss_mib()}))


def run_child(kind: str, side: int, work: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--side", str(side), "--work", str(work)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sides", default="4096,32768", help="raster sides (px), comma-separated")
    p.add_argument("--baseline-max", type=int, default=8192,
                   help="largest side the whole-array numpy baseline is run at (it needs ~10 bytes a pixel)")
    p.add_argument("--dense-max", type=int, default=16384,
                   help="largest side the denser pair is run at (its 2024 map is written as a GeoTIFF)")
    p.add_argument("--no-append", action="store_true", help="print only, do not append to bench/RESULTS.md")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--side", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.side, args.work)
        return
    lines = [f"\n## flair:change, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{platform.machine()} {platform.processor() or ''} ({__import__('os').cpu_count()} CPUs)\n",
             "| side | run | time (s) | CPU time (s) | Mpx/s | peak RSS (MiB) |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="flair-change-bench-") as tmp:
        work = Path(tmp)
        inputs(work, 512)
        for side in (int(s) for s in args.sides.split(",")):
            kinds = ["change", "change_min_area", "change_min_area_map"] + (
                ["numpy"] if side <= args.baseline_max else []) + (
                ["dense_change", "dense_change_min_area"] if side <= args.dense_max else [])
            for kind in kinds:
                r = run_child(kind, side, work)
                name = {"change": "change.compare, tables only",
                        "change_min_area": "change.compare, MIN_AREA 10 m², tables only",
                        "change_min_area_map": "change.compare, MIN_AREA 10 m², change map written",
                        "numpy": "numpy whole-array bincount",
                        "dense_change": "denser pair: change.compare, tables only",
                        "dense_change_min_area": "denser pair: change.compare, MIN_AREA 10 m², tables only"}[kind]
                if "error" in r:
                    lines.append(f"| {side}² | {name} | failed: {r['error']} | | | |")
                else:
                    lines.append(f"| {side}² | {name} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
                                 f"{side * side / r['seconds'] / 1e6:.1f} | {r['rss_mib']:.0f} |")
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if not args.no_append:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
