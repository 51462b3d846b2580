"""``make bench``: speed, agreement and memory of the engine, as ratios measured side by side.

Every figure compares two runs made in this process on the same raster, weights and batch, so
that the machine's noise cancels out; each run is appended to bench/RESULTS.md with the machine.
The baseline is ``flair_detect_like`` (flair-detect's loop at 512/128, writing exactly in place).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flair_qgis.checkpoints import read_checkpoint, load_weights  # noqa: E402
from flair_qgis.model_spec import build_model  # noqa: E402
from flair_qgis.engine import segment_with  # noqa: E402
from flair_qgis.segment_options import SegmentRequest  # noqa: E402
from flair_qgis.zoo import get_entry  # noqa: E402
from peak_rss import peak_rss_mib  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "fnau-parking" / "train" / "images"
RESULTS = ROOT / "bench" / "RESULTS.md"


def build_ortho(path: Path, per_side: int) -> Path:
    """A per_side×per_side mosaic of the real 512 px BD ORTHO patches, on one 0.2 m grid."""
    patches = sorted(DATA.glob("*.tif"))[: per_side * per_side]
    side = 512 * per_side
    with rasterio.open(patches[0]) as first:
        profile = first.profile | {"width": side, "height": side, "tiled": True, "blockxsize": 256,
                                   "blockysize": 256, "compress": "deflate", "predictor": 2}
    with rasterio.open(path, "w", **profile) as dst:
        for i, patch in enumerate(patches):
            with rasterio.open(patch) as src:
                at = rasterio.windows.Window(512 * (i % per_side), 512 * (i // per_side), 512, 512)
                dst.write(src.read(), window=at)
    return path


def repeat_vrt(path: Path, source: Path, side: int) -> Path:
    """A side×side VRT repeating ``source`` (no disk used): inputs for the memory scaling runs."""
    with rasterio.open(source) as src:
        w, h, count = src.width, src.height, src.count
    items = []
    for band in range(1, count + 1):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand><SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{w}\" ySize=\"{h}\"/>"
            f'<DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/></SimpleSource>'
            for y in range(0, side, h) for x in range(0, side, w))
        items.append(f'<VRTRasterBand dataType="Byte" band="{band}">{sources}</VRTRasterBand>')
    path.write_text(f'<VRTDataset rasterXSize="{side}" rasterYSize="{side}"><SRS>EPSG:2154</SRS>'
                    f"<GeoTransform>650000, 0.2, 0, 6860000, 0, -0.2</GeoTransform>{''.join(items)}</VRTDataset>")
    return path


def the_model(checkpoint: Path | None):
    entry = get_entry("FLAIR-INC_rgb_15cl_resnet34-unet")
    spec = entry.spec
    if checkpoint:
        ckpt = read_checkpoint(checkpoint)
        spec = ckpt.spec or spec
        return load_weights(ckpt, spec), spec, f"trained ({checkpoint.name})"
    torch.manual_seed(0)
    return build_model("unet", "resnet34", 3, 19).eval(), spec, "random weights"


def trained_checkpoint(epochs: int = 3) -> Path:
    """A ResNet34 U-Net trained from scratch on fnau-parking (parking lot / other), made once and
    kept in build/bench/: agreement figures need a model whose predictions mean something."""
    from flair_qgis.progress import Progress
    from flair_qgis.training import TrainOptions, make_classes, train

    target = ROOT / "build" / "bench" / f"parking_resnet34_{epochs}ep.pt"
    if not target.exists():
        print(f"training a ResNet34 U-Net on fnau-parking for {epochs} epochs (once; kept in {target.parent})",
              flush=True)
        result = train(TrainOptions(
            train=[DATA.parent], out_folder=target.parent, name=target.stem, epochs=epochs, batch_size=4,
            crop_size=256, val_fraction=0.1, seed=2022, save_last=False,
            classes=make_classes([(1, "parking lot", 1, "#ff0000"), (2, "other", 1, "#dddddd")])),
            Progress(warn=lambda m: print(f"warning: {m}")))
        result.best.rename(target)
    return target


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def timed(fn, repeat: int = 1) -> float:
    """The best of ``repeat`` wall-clock times of ``fn()``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def warm_up(model, spec) -> None:
    """One forward pass in each memory layout, so that no measured run pays first-call costs."""
    x = torch.zeros(4, spec.in_channels, spec.tile_size, spec.tile_size)
    with torch.inference_mode():
        contiguous(model)(x)
        model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))


def contiguous(model):
    return model.to(memory_format=torch.contiguous_format)


def memory_child(side: int, work: Path) -> None:
    """Run in a subprocess: segment a side×side raster with a 1×1-convolution model; print peak RSS."""
    class Pixel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 19, 1)

        def forward(self, x):
            return self.conv(x)

    spec = get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec
    src = repeat_vrt(work / f"in_{side}.vrt", build_ortho(work / "mem_src.tif", 2), side)
    start = time.perf_counter()
    segment_with(Pixel().eval(), spec, SegmentRequest.of(src, work / f"out_{side}.tif", batch_size=4))
    print(peak_rss_mib(), time.perf_counter() - start)


def model_rss_child(checkpoint: str, work: Path) -> None:
    """Run in a subprocess: the reference mode on the 1536² mosaic with the ResNet34; print peak RSS."""
    model, spec, _ = the_model(Path(checkpoint) if checkpoint != "-" else None)
    segment_with(model, spec, SegmentRequest.of(build_ortho(work / "rss_src.tif", 3), work / "rss_out.tif"))
    print(peak_rss_mib())


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {gpu}, torch {torch.__version__}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", type=Path,
                   help="a trained checkpoint for the figures (default: one trained on fnau-parking)")
    p.add_argument("--random-weights", action="store_true", help="skip training: random ResNet34 weights")
    p.add_argument("--sides", default="2048,8192,32768", help="raster sides for the memory scaling")
    p.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--rss-child", help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.work)
    if args.rss_child:
        return model_rss_child(args.rss_child, args.work)

    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="flair-bench-"))
    checkpoint = None if args.random_weights else (args.checkpoint or trained_checkpoint())
    model, spec, weights = the_model(checkpoint)
    ortho = build_ortho(work / "ortho_1536.tif", 3)
    rows: list[tuple[str, str]] = []

    def report(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"{name:<58} {value}", flush=True)

    import flair_detect_like

    warm_up(model, spec)
    n = 36
    t_base = timed(lambda: flair_detect_like.run(ortho, work / "base.tif", contiguous(model), spec))
    report("flair-detect-like loop, 1536² RGB, 512/128, batch 4", f"{t_base:.1f} s ({t_base / n:.2f} s/tile)")
    t_ref = timed(lambda: segment_with(model, spec, SegmentRequest.of(ortho, work / "ref.tif")))
    report("reference mode (512/128): speed-up over flair-detect-like", f"{t_base / t_ref:.2f}×")
    report("reference mode: agreement with flair-detect's intended output",
           f"{(read(work / 'ref.tif') == read(work / 'base.tif')).mean():.4%}")
    t_fast = timed(lambda: segment_with(model, spec, SegmentRequest.of(ortho, work / "fast.tif", preset="fast")))
    report("fast preset (1024/128): speed-up over flair-detect-like", f"{t_base / t_fast:.2f}×")
    report("fast preset: speed-up over reference mode", f"{t_ref / t_fast:.2f}×")
    report(f"fast preset: agreement with reference mode ({weights})",
           f"{(read(work / 'fast.tif') == read(work / 'ref.tif')).mean():.4%}")
    t_blend = timed(lambda: segment_with(model, spec, SegmentRequest.of(ortho, work / "blend.tif", stitch="blend")))
    report("blend stitching: cost over reference mode", f"{t_blend / t_ref:.2f}×")
    report(f"blend stitching: agreement with reference mode ({weights})",
           f"{(read(work / 'blend.tif') == read(work / 'ref.tif')).mean():.4%}")
    small = build_ortho(work / "ortho_1024.tif", 2)
    t_plain = timed(lambda: segment_with(model, spec, SegmentRequest.of(small, work / "plain.tif")))
    t_tta = timed(lambda: segment_with(model, spec, SegmentRequest.of(small, work / "tta.tif", tta=True)))
    report("flip TTA: cost over reference mode (1024² RGB)", f"{t_tta / t_plain:.2f}×")
    report(f"flip TTA: agreement with reference mode ({weights})",
           f"{(read(work / 'tta.tif') == read(work / 'plain.tif')).mean():.4%}")

    # Engine efficiency: end to end at margin 0 ÷ the bare forward pass on the same tiles in memory.
    t_e2e = timed(lambda: segment_with(model, spec, SegmentRequest.of(ortho, work / "m0.tif", margin=0)), repeat=2)
    with rasterio.open(ortho) as src:
        tiles = [src.read(window=rasterio.windows.Window(c, r, 512, 512)) for r in range(0, 1536, 512)
                 for c in range(0, 1536, 512)]
    x = torch.from_numpy(spec.normalisation.apply(np.stack(tiles))).contiguous(memory_format=torch.channels_last)
    cl = model.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        t_fwd = timed(lambda: [cl(x[i:i + 4]) for i in range(0, len(x), 4)], repeat=2)
    report("engine efficiency (bare forward ÷ end to end, margin 0, 9 tiles)", f"{t_fwd / t_e2e:.2f}")

    from model_speed import model_speeds  # FLAIR-INC ResNet34 vs FLAIR-HUB Swin-tiny / ConvNeXt-V2-tiny

    model_speeds(report)

    rss = float(subprocess.run([sys.executable, __file__, "--rss-child", str(checkpoint or "-"), "--work", str(work)],
                               capture_output=True, text=True, check=True).stdout.split()[-1])
    report("peak RSS, reference mode, 1536² RGB, ResNet34 U-Net, batch 4", f"{rss:.0f} MiB")
    base_rss = None
    for side in [int(s) for s in args.sides.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(side), "--work", str(work)],
                             capture_output=True, text=True, check=True).stdout.split()
        rss, seconds = float(out[0]), float(out[1])
        base_rss = base_rss or rss
        report(f"peak RSS, {side}² RGB, 512/128, batch 4, 1×1-conv model",
               f"{rss:.0f} MiB ({rss / base_rss:.2f}× the first, {seconds:.0f} s)")
    for f in work.iterdir():
        f.unlink()
    work.rmdir()

    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = [f"\n## {stamp} — {machine()}\n", f"Model: ResNet34 U-Net, {weights}.\n\n", "| figure | value |\n",
             "|---|---|\n", *[f"| {a} | {b} |\n" for a, b in rows]]
    with open(RESULTS, "a", encoding="utf-8") as f:
        f.writelines(block)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
