"""The GPU bench (bench/gpu.sh runs it): PyTorch fp32 and fp16 autocast with the automatic batch (from the
free GPU memory), FLAIR-INC's ResNet34 U-Net (512 px tiles) and the FLAIR-HUB Swin-T and ConvNeXt-V2-T
UPerNets (their own 2048 px tiles), random weights, on tiles cut from examples/parking_mosaic.tif:
tiles/s of the engine's predictor (uint8 tiles in, class codes out, host↔device copies included) and
the fp16-vs-fp32 agreement of the class maps. Appends a Markdown table with the card's name.

    python3 bench/gpu_bench.py --out $OUT/RESULTS-gpu.md          # on the GPU machine (bench/gpu.sh)
    .venv/bin/python bench/gpu_bench.py --quick --out /tmp/x.md     # on a CPU: small tiles, known to work

All calls into the engine and the model registry are in :func:`_model` and :func:`_predictor`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"
MODELS = ("FLAIR-INC_rgb_15cl_resnet34-unet", "FLAIR-HUB_LC-A_RGB_swintiny-upernet",
          "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet")


# --- the adapters: every call into the engine / model registry -------------------------------------------

def _model(name: str, device: torch.device):
    """(model with random weights on ``device``, its spec)."""
    from flair_qgis.model_spec import build_model
    from flair_qgis.zoo import get_entry

    spec = get_entry(name).spec
    torch.manual_seed(0)
    return build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval().to(device), spec


def _predictor(model, spec, device: torch.device, precision: str, batch: int | None):
    """(the engine's predictor for ``precision``, its batch: ``batch`` or the engine's automatic one)."""
    from flair_qgis.centre_crop import centre_model
    from flair_qgis.prediction import Predictor, auto_batch_size

    predictor = Predictor(centre_model(model, spec.margin), spec, device, precision=precision)  # crop stitching's
    return predictor, batch or auto_batch_size(predictor, spec.tile_size)


# --- the bench ----------------------------------------------------------------------------------------------

def tiles_from_example(n: int, tile: int, channels: int) -> np.ndarray:
    """``n`` uint8 tiles of ``tile`` px cut (with wrap-around) from the bundled example."""
    import rasterio

    with rasterio.open(EXAMPLE) as src:
        image = src.read()[:channels]
    reps = (1, -(-2 * tile // image.shape[1]) + 1, -(-2 * tile // image.shape[2]) + 1)
    big = np.tile(image, reps)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        r, c = rng.integers(0, big.shape[1] - tile), rng.integers(0, big.shape[2] - tile)
        out.append(big[:, r:r + tile, c:c + tile])
    return np.ascontiguousarray(np.stack(out))


def rate(predictor, tiles: np.ndarray, batch: int, seconds: float, device: torch.device) -> tuple[float, np.ndarray]:
    """(tiles/s over at least ``seconds`` of whole batches after one warm-up batch, the codes of ``tiles``)."""
    codes = predictor(tiles[:batch])  # warm-up (cuDNN autotuning, Swin's masks for this size)
    done, start = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - start < seconds:
        codes = predictor(tiles[:batch])  # numpy out: synchronised
        done += batch
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start), codes


def bench(names, device: torch.device, tile: int | None, batch: int | None, seconds: float) -> list[str]:
    rows = ["| model | tile | precision | batch | tiles/s | map Mpx/s | fp16 = fp32 (pixels) "
            "| peak GPU memory (GiB) |\n",
            "|---|---|---|---|---|---|---|---|\n"]
    for name in names:
        model, spec = _model(name, device)
        if tile:
            from dataclasses import replace
            spec = replace(spec, tile_size=tile, margin=tile // 4)
        codes = {}
        for precision in ("fp32", "fp16"):
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            predictor, b = _predictor(model, spec, device, precision, batch)
            tiles = tiles_from_example(b, spec.tile_size, spec.in_channels)
            speed, codes[precision] = rate(predictor, tiles, b, seconds, device)
            peak = f"{torch.cuda.max_memory_allocated() / 2 ** 30:.1f}" if device.type == "cuda" else "—"
            n = min(len(c) for c in codes.values())  # the same first tiles (same seed), batches may differ
            same = f"{(codes['fp16'][:n] == codes['fp32'][:n]).mean():.4%}" if precision == "fp16" else "—"
            kept = (spec.tile_size - 2 * spec.margin) ** 2  # the map pixels a tile gives (its centre)
            rows.append(f"| {name} | {spec.tile_size} | {precision} | {b} | {speed:.2f} | "
                        f"{speed * kept / 1e6:.2f} | {same} | {peak} |\n")
            print(rows[-1], end="", flush=True)
        del model, predictor
    return rows


def card(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name}, {p.total_memory / 2 ** 30:.0f} GiB, CUDA {torch.version.cuda}"
    return f"no GPU (CPU: {platform.processor() or platform.machine()})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="Markdown file the table is appended to")
    p.add_argument("--quick", action="store_true", help="224 px tiles, batch 2, 0.1 s per figure (checks it works)")
    p.add_argument("--seconds", type=float, default=10.0, help="time measured per figure (after one warm-up batch)")
    p.add_argument("--models", default=",".join(MODELS))
    a = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    tile, batch, seconds = (224, 2, 0.1) if a.quick else (None, None, a.seconds)
    start = time.perf_counter()
    rows = bench(a.models.split(","), device, tile, batch, seconds)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"\n## GPU bench (bench/gpu_bench.py{' --quick' if a.quick else ''}), {stamp} — {card(device)}, "
            f"torch {torch.__version__}, {platform.node()}\n\n"
            "Random weights; the engine's predictor (uint8 tiles in, class codes out, copies included); automatic "
            "batch from the free GPU memory; fp16 = autocast; tiles/s over ≥ "
            f"{seconds:g} s after a warm-up batch; map Mpx/s: the tiles' kept centres (tile − 2·margin)², the area "
            f"mapped a second; whole bench {time.perf_counter() - start:.0f} s.\n\n")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a", encoding="utf-8") as f:
        f.write(head + "".join(rows))
    print(f"appended to {a.out}")


if __name__ == "__main__":
    main()
