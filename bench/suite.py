"""``make bench``: the whole CPU story in one run, side by side against a flair-detect-like baseline.

For each model (FLAIR-INC ResNet34 U-Net, FLAIR-HUB Swin-T and ConvNeXt-V2-T UPerNets; random weights,
all at 512/128 — FLAIR-HUB's own tiling is 2048/512, shortened here to keep the bench short — batch 4)
on a mosaic of the real fnau-parking BD ORTHO patches, three runs, each in a fresh subprocess:

* ``baseline``: bench/flair_detect_like.py (flair-detect's loop: DataLoader, float64 normalisation,
  PyTorch fp32 in the default memory layout, one write per tile);
* ``torch`` and ``openvino``: ``segment`` end to end with that backend, given the checkpoint file as a
  user would (the model already resolved and its OpenVINO form converted and cached, a tile's memory
  measured, by this process's bare-forward measurement, as on any second run: the OpenVINO run then
  imports no PyTorch).

The weights are random, saved once per model as a file: FLAIR-INC ResNet34 in IGN's ``_weights.pth``
layout under IGN's file name, the FLAIR-HUB models as this plugin's own checkpoints at 512/128.

Each subprocess reports its start-up (process start → first tile computed: imports, model, caches),
its processing time, its wall time and its peak RSS (``VmHWM``: see bench/peak_rss.py).
In this process: each backend's
bare forward pass (same batch and tile, tiles already normalised in memory), from which the engine's
efficiency = bare forward time of the tiles it computed ÷ its processing time (and the same after
the first batch, without the run's start: the model read, a tile's memory measured, first calls).
The table (ratios
against the baseline) is printed and appended to bench/RESULTS.md with the machine line.

    .venv/bin/python bench/suite.py [--quick] [--models resnet34,swin,convnext] [--note "shared VM"]

All calls into the engine and the model registry are in :func:`_checkpoint`, :func:`_source`,
:func:`_predictor` and :func:`_segment` (one place to adapt when their interfaces change).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from peak_rss import peak_rss_mib  # noqa: E402 - VmHWM: ru_maxrss would carry this parent's RSS into each run

RESULTS = ROOT / "bench" / "RESULTS.md"
DATA = ROOT.parent / "shared" / "data" / "fnau-parking" / "train" / "images"
EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"
MODELS = {"resnet34": "FLAIR-INC_rgb_15cl_resnet34-unet", "swin": "FLAIR-HUB_LC-A_RGB_swintiny-upernet",
          "convnext": "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet"}
TILE, MARGIN, BATCH = 512, 128, 4
RUNS = ("baseline", "torch", "openvino")


# --- the adapters: every call into the engine / model registry -------------------------------------------

def _checkpoint(name: str, work: Path) -> Path:
    """``name``'s architecture with random weights (seed 0), saved as a file: FLAIR-INC in IGN's layout and
    file name, FLAIR-HUB as this plugin's checkpoint with its spec at 512/128."""
    from dataclasses import replace

    import torch

    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import build_model
    from flair_qgis.zoo import get_entry

    entry = get_entry(name)
    spec = replace(entry.spec, tile_size=TILE, margin=MARGIN)
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval()
    if entry.grid == "flair-hub":
        return save_checkpoint(work / f"{name}.ckpt", model, spec)
    path = work / entry.filename
    weights = {f"model.seg_model.{k}": v for k, v in model.state_dict().items()}
    weights["criterion.weight"] = torch.tensor([float(a) for a in spec.active])
    torch.save(weights, path)
    return path


def _source(checkpoint: Path):
    """The model of ``checkpoint`` as ``segment`` resolves it (remembered for the subprocesses)."""
    from dataclasses import replace

    from flair_qgis import model_source
    from flair_qgis.progress import Progress
    from flair_qgis.segment_options import ModelChoice

    source = model_source.resolve(ModelChoice(checkpoint=checkpoint), "cpu", Progress())
    source.spec = replace(source.spec, tile_size=TILE, margin=MARGIN)
    return source


def _predictor(source, backend: str, batch: int):
    """The predictor ``segment`` would use for ``backend`` (``torch`` or ``openvino``) on the CPU; its
    ``logits`` take normalised float32 N×C×t×t (a tensor for PyTorch, an array for OpenVINO)."""
    import torch

    from flair_qgis import openvino_backend
    from flair_qgis.centre_crop import centre_model
    from flair_qgis.prediction import Predictor
    from flair_qgis.progress import Progress

    def torch_predictor():  # the crop stitching's model: each tile's centre only
        return Predictor(centre_model(source.module(), MARGIN), source.spec, torch.device("cpu"))

    if backend == "torch":
        return torch_predictor()
    ov = openvino_backend.predictor_for(source, source.spec, "openvino", batch,
                                        Progress(warn=lambda m: print("warning:", m, file=sys.stderr)),
                                        torch_predictor, centre=MARGIN)
    if ov is None:
        raise SystemExit("OpenVINO is not usable here (see the warning above): pip install openvino")
    # what a first run also does once and keeps with the compiled model: measure a tile's memory
    from flair_qgis import cpu_memory

    cpu_memory.fit_batch(ov, source.spec.in_channels, TILE, MARGIN, batch, Progress(), measure=ov.measure,
                         probe_size=TILE)
    return ov


def _segment(checkpoint: Path, src: Path, out: Path, backend: str, batch: int,
             window: tuple[int, int, int, int] | None = None) -> tuple[float, int]:
    """``segment`` end to end with ``backend``, as a user runs it; returns (processing seconds, tiles computed)."""
    from flair_qgis.engine import segment
    from flair_qgis.progress import Progress
    from flair_qgis.segment_options import SegmentRequest

    # the mosaic's three bands, read as the model's (the IR model's NIR, R, G: random weights, speed only)
    request = SegmentRequest.of(src, out, checkpoint=checkpoint, backend=backend, batch_size=batch, tile_size=TILE,
                                margin=MARGIN, window=window, bands=[1, 2, 3])
    result = segment(request, Progress())
    return result.seconds, result.tiles_computed


def _baseline_model(checkpoint: Path):
    """The PyTorch model and spec of ``checkpoint`` read as flair-detect does (no cache)."""
    from dataclasses import replace

    from flair_qgis.checkpoints import load_weights
    from flair_qgis.model_resolution import resolve_model

    ckpt, spec = resolve_model(None, checkpoint)
    return load_weights(ckpt, spec).eval(), replace(spec, tile_size=TILE, margin=MARGIN)


def _mark_first_batch(run: str, mark) -> None:
    """Call ``mark()`` when the engine's first batch is computed: PyTorch computes it in ``submit``,
    OpenVINO when its result is taken (the engine's progress comes a batch later with PyTorch)."""
    if run == "torch":
        from flair_qgis.prediction import Predictor

        computes = Predictor.submit

        def submit(self, tiles):
            result = computes(self, tiles)
            mark()
            return result
    else:
        from flair_qgis.openvino_backend import OpenVinoPredictor

        starts = OpenVinoPredictor.submit

        def submit(self, tiles):
            result = starts(self, tiles)

            def taken():
                value = result()
                mark()
                return value
            return taken
    (Predictor if run == "torch" else OpenVinoPredictor).submit = submit


# --- the subprocess: one run, measured -------------------------------------------------------------------

def child(run: str, checkpoint: Path, src: Path, out: Path, t0: float) -> None:
    """Run ``run`` once and print its figures as JSON; times count from ``t0`` (the parent's clock
    just before it started this process)."""
    first: list[float] = []

    def mark(*_args) -> None:
        if not first:
            first.append(time.time())

    start, rss_ready = time.time(), peak_rss_mib()
    if run == "baseline":
        import flair_detect_like
        from flair_qgis.tiling import tile_grid

        model, spec = _baseline_model(checkpoint)
        model.register_forward_hook(lambda *_: mark())
        flair_detect_like.run(src, out, model, spec, batch_size=BATCH)
        import rasterio
        with rasterio.open(src) as r:
            tiles = len(tile_grid(r.width, r.height, spec.tile_size, spec.margin))
        seconds = time.time() - start
    else:
        _mark_first_batch(run, mark)
        seconds, tiles = _segment(checkpoint, src, out, run, BATCH)
    end = time.time()
    print(json.dumps({"ready": start - t0, "startup": (first or [float("nan")])[0] - t0, "processing": seconds,
                      "end": end - t0, "tiles": tiles, "torch": "torch" in sys.modules,
                      "rss_ready": rss_ready, "rss": peak_rss_mib()}))


def measured(run: str, checkpoint: Path, src: Path, out: Path) -> dict:
    t0 = time.time()
    done = subprocess.run([sys.executable, __file__, "--child", run, "--model", str(checkpoint), "--src", str(src),
                           "--out", str(out), "--t0", repr(t0)], capture_output=True, text=True)
    wall = time.time() - t0
    if done.returncode:
        raise SystemExit(f"{run} run of {checkpoint.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"wall": wall}


# --- this process -----------------------------------------------------------------------------------------

def mosaic(path: Path, side: int) -> tuple[Path, str]:
    """A side×side mosaic of the real 512 px patches (bench/run.py's), or the bundled example tiled."""
    import numpy as np
    import rasterio

    if len(list(DATA.glob("*.tif"))) >= (side // 512) ** 2:
        from run import build_ortho
        return build_ortho(path, side // 512), f"{side}² mosaic of real fnau-parking BD ORTHO patches"
    with rasterio.open(EXAMPLE) as src:
        image, profile = src.read(), src.profile
    reps = (1, -(-side // image.shape[1]), -(-side // image.shape[2]))
    with rasterio.open(path, "w", **(profile | {"width": side, "height": side, "nodata": None})) as dst:
        dst.write(np.tile(image, reps)[:, :side, :side])
    return path, f"{side}² tiling of examples/parking_mosaic.tif (../shared absent)"


def bare_forward(source, backend: str, src: Path, repeats: int) -> tuple[float, float]:
    """(seconds per tile of ``backend``'s bare forward pass on one batch of real tiles, first-call
    seconds: the OpenVINO conversion + compile when it is not cached yet)."""
    import numpy as np
    import rasterio
    import torch

    with rasterio.open(src) as r:
        cols = [min(TILE * i, r.width - TILE) for i in range(BATCH)]
        tiles = np.stack([r.read(window=rasterio.windows.Window(c, 0, TILE, TILE)) for c in cols])
    spec = source.spec
    x = spec.normalisation.apply(tiles[:, :spec.in_channels])
    start = time.perf_counter()
    predictor = _predictor(source, backend, BATCH)
    setup = time.perf_counter() - start
    if backend == "torch":
        x = torch.from_numpy(x)
    with torch.inference_mode():
        predictor.logits(x)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            predictor.logits(x)
            best = min(best, time.perf_counter() - start)
    return best / BATCH, setup


def machine() -> str:
    import torch
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "?")
    try:
        import openvino
        ov = f", OpenVINO {openvino.__version__.split('-')[0]}"
    except ImportError:
        ov = ", no OpenVINO"
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), torch {torch.__version__}{ov}"


def agreement(a: Path, b: Path) -> float:
    import rasterio
    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        return float((ra.read(1) == rb.read(1)).mean())


def bench_model(key: str, side: int, work: Path, repeats: int) -> list[str]:
    name = MODELS[key]
    src, what = mosaic(work / f"mosaic_{side}.tif", side)
    checkpoint = _checkpoint(name, work)
    source = _source(checkpoint)
    spec = source.spec
    fwd, setup = {}, {}
    for backend in ("torch", "openvino"):
        fwd[backend], setup[backend] = bare_forward(source, backend, src, repeats)
        print(f"{key}: bare forward {backend} {fwd[backend]:.3f} s/tile", flush=True)
    del source
    # A first run on a corner, as a user's first run would: it measures and keeps the memory a tile takes
    _segment(checkpoint, src, work / f"{key}_warm.tif", "openvino", BATCH, window=(0, 0, TILE, TILE))
    runs = {}
    for run in RUNS:
        runs[run] = measured(run, checkpoint, src, work / f"{key}_{run}.tif")
        print(f"{key}: {run} {runs[run]}", flush=True)
    base = runs["baseline"]
    lines = [f"\n**{name}** ({spec.arch} / {spec.encoder}), {what}, {TILE}/{MARGIN}, batch {BATCH}, "
             f"{base['tiles']} tiles; OpenVINO conversion + compile (first run only): {setup['openvino']:.1f} s\n\n",
             "| run | wall (s) | × baseline | processing (s) | s/tile | × baseline | bare forward (s/tile) "
             "| efficiency | after the first batch | start-up (s) | peak RSS (MiB) "
             "| PyTorch imported | same pixels as baseline |\n",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"]
    for run in RUNS:
        r = runs[run]
        bare = fwd.get(run)
        eff = f"{bare * r['tiles'] / r['processing']:.2f}" if bare else "—"
        # the same once the first batch is computed (the model read, its memory measured, first calls made)
        later = r["tiles"] - BATCH
        steady = f"{bare * later / (r['end'] - r['startup']):.2f}" if bare and later > 0 else "—"
        same = "—" if run == "baseline" else f"{agreement(work / f'{key}_{run}.tif', work / f'{key}_baseline.tif'):.4%}"
        lines.append(f"| {run} | {r['wall']:.1f} | {base['wall'] / r['wall']:.2f}× | {r['processing']:.1f} | "
                     f"{r['processing'] / r['tiles']:.3f} | {base['processing'] / r['processing']:.2f}× | "
                     f"{f'{bare:.3f}' if bare else '—'} | {eff} | {steady} | {r['startup']:.1f} | {r['rss']:.0f} | "
                     f"{'yes' if r['torch'] else 'no'} | {same} |\n")
    print("".join(lines), flush=True)
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller mosaics (1024² ResNet34, 512² FLAIR-HUB), 1 repeat")
    p.add_argument("--models", default="resnet34,swin,convnext", help="which of resnet34, swin, convnext")
    p.add_argument("--note", default="", help="a line recorded under the machine (e.g. the machine was shared)")
    p.add_argument("--no-append", action="store_true", help="print only; do not append to bench/RESULTS.md")
    p.add_argument("--child", choices=RUNS, help=argparse.SUPPRESS)
    p.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child, a.model, a.src, a.out, a.t0)
    # the OpenVINO cache of this bench: made by the bare-forward step, read by the subprocesses
    os.environ.setdefault("FLAIR_CACHE_DIR", tempfile.mkdtemp(prefix="flair-bench-cache-"))
    work = Path(tempfile.mkdtemp(prefix="flair-bench-"))
    started = time.perf_counter()
    lines: list[str] = []
    for key in a.models.split(","):
        side = (1024 if key == "resnet34" else 512) if a.quick else (1536 if key == "resnet34" else 1024)
        lines += bench_model(key, side, work, 1 if a.quick else 3)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"\n## make bench{' --quick' if a.quick else ''}, {stamp} — {machine()}\n\n",
            "Random weights; FLAIR-HUB models at 512/128 (their own tiling is 2048/512) to keep the bench short. "
            "Wall = process start → output written; "
            "start-up = process start → first tile computed (the first batch; OpenVINO model cached); "
            "processing = the engine's own time (baseline: after the model is built); "
            "× baseline = baseline time ÷ this time; efficiency = bare forward × tiles computed ÷ processing; "
            "after the first batch = the same from the first batch computed to the output written. "
            f"Whole bench: {time.perf_counter() - started:.0f} s.\n"]
    if a.note:
        head.append(f"\n{a.note}\n")
    if not a.no_append:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.writelines(head + lines)
        print(f"appended to {RESULTS}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
