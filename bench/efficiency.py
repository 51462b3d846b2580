"""Engine efficiency on the CPU: the backend's bare forward ÷ the engine's end-to-end time on the same tiles.

Input: a ``--size``² raster built by tiling examples/parking_mosaic.tif (real BD ORTHO pixels);
model: FLAIR-INC's ResNet34 U-Net with random weights (``--tile``/``--margin``, batch ``--batch``;
FLAIR-HUB's tiling: ``--tile 2048 --margin 512 --batch 1``). For each backend (PyTorch, OpenVINO with
its model already converted):

* bare: the forward pass alone on the run's batches, already normalised and in memory (PyTorch: the
  predictor's ``logits``, batch after batch; OpenVINO: the compiled model's requests kept busy);
* pipeline: the time inside :func:`flair_qgis.pipeline.run_cropped` (reading, normalising, forward,
  argmax, stitching, writing), and the whole ``segment_with`` call (adds model set-up and the memory probe).

Efficiency = bare ÷ pipeline. Prints a Markdown table.

    .venv/bin/python bench/efficiency.py [--size 1536] [--repeats 2] [--backends torch,openvino]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flair_qgis import openvino_backend, pipeline, raster_io  # noqa: E402
from flair_qgis.centre_crop import centre_model  # noqa: E402
from flair_qgis.engine import segment_with  # noqa: E402
from flair_qgis.model_source import ModelSource  # noqa: E402
from flair_qgis.model_spec import build_model  # noqa: E402
from flair_qgis.segment_options import SegmentRequest  # noqa: E402
from flair_qgis.prediction import Predictor  # noqa: E402
from flair_qgis.progress import Progress  # noqa: E402
from flair_qgis.tiling import tile_grid  # noqa: E402
from flair_qgis.zoo import get_entry  # noqa: E402

MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"
EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"


def make_input(path: Path, size: int) -> None:
    """A size² copy of the example tiled over itself, with its georeferencing and nodata."""
    with rasterio.open(EXAMPLE) as src:
        data, profile = src.read(), src.profile
    reps = (1, -(-size // data.shape[1]), -(-size // data.shape[2]))
    data = np.tile(data, reps)[:, :size, :size]
    data[data == 0] = 1  # the tiled copy has data everywhere (the validity masks are still computed)
    profile.update(width=size, height=size)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def ov_forward(model, spec, batch: int, tile: int, margin: int, quiet: Progress):
    """OpenVINO's bare forward at its best: the run's compiled model (from the cache; the centre-only model
    the crop stitching runs), every request of a batch started at once and the batch's outputs waited
    for, as many requests as streams in flight."""
    ov, why = openvino_backend.load()
    if ov is None:
        sys.exit(why)
    per_request = openvino_backend.request_batch(batch)
    source = ModelSource.of_module(model, spec)
    compiled = openvino_backend.Compiled(ov, source, replace(spec, tile_size=tile), batch, "auto", quiet, margin)
    queue = ov.AsyncInferQueue(compiled.compiled(head=False), 2 * compiled.streams)

    def forward(x: np.ndarray) -> None:
        if len(x) % per_request:
            x = np.concatenate([x, np.zeros((per_request - len(x) % per_request,) + x.shape[1:], x.dtype)])
        for start in range(0, len(x), per_request):
            queue.start_async({0: x[start:start + per_request]})  # waits for an idle request, not for the batch

    forward.flush = queue.wait_all
    return forward


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=1536)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--margin", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--backends", default="torch,openvino")
    p.add_argument("--cache", type=Path, default=Path(tempfile.mkdtemp(prefix="flair-eff-cache-")))
    a = p.parse_args()
    os.environ[openvino_backend.CACHE_ENV] = str(a.cache)
    work = Path(tempfile.mkdtemp(prefix="flair-eff-"))
    image = work / "input.tif"
    make_input(image, a.size)
    spec = get_entry(MODEL).spec
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval()
    quiet = Progress(log=lambda m: None, warn=lambda m: print("warning:", m, file=sys.stderr))

    grid = tile_grid(a.size, a.size, a.tile, a.margin)
    with rasterio.open(image) as src:
        tiles = np.stack([raster_io.read_block(src, [1, 2, 3], t.col, t.row, a.tile, a.tile) for t in grid])
    x = spec.normalisation.apply(tiles)
    batches = [x[i:i + a.batch] for i in range(0, len(x), a.batch)]

    inner: list[float] = []
    original = pipeline.run_cropped

    def timed(*args, **kw):
        start = time.perf_counter()
        try:
            return original(*args, **kw)
        finally:
            inner.append(time.perf_counter() - start)

    pipeline.run_cropped = timed
    rows, maps = [], {}
    for backend in a.backends.split(","):
        predictor = Predictor(centre_model(model, a.margin), spec, torch.device("cpu"))  # what the engine runs
        if backend == "openvino":
            forward = ov_forward(model, spec, a.batch, a.tile, a.margin, quiet)
        else:
            def forward(b, predictor=predictor):
                with torch.inference_mode():
                    return predictor.logits(torch.from_numpy(b))
        forward(batches[0])  # warm-up
        getattr(forward, "flush", lambda: None)()
        bare, walls = [], []
        inner.clear()
        for _ in range(a.repeats):  # bare and end to end in turn: a shared machine's load drifts
            start = time.perf_counter()
            for b in batches:
                forward(b)
            getattr(forward, "flush", lambda: None)()
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = segment_with(model, spec, SegmentRequest.of(
                image, work / f"{backend}.tif", backend=backend, bands=[1, 2, 3], tile_size=a.tile,
                margin=a.margin, batch_size=a.batch), quiet)
            walls.append(time.perf_counter() - start)
        with rasterio.open(result.output) as r:
            maps[backend] = r.read(1)
        b, e, w = min(bare), min(inner), min(walls)
        rows.append((backend, len(grid), b / len(grid), e / len(grid), w, b / e, b / w))
    print(f"\n{a.size}² input, {a.tile}/{a.margin}, batch {a.batch}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, torch threads {torch.get_num_threads()}, best of {a.repeats}\n")
    print("| backend | tiles | bare forward s/tile | pipeline s/tile | segment wall s | efficiency (bare ÷ pipeline) "
          "| bare ÷ wall |\n|---|---|---|---|---|---|---|")
    for name, n, b, e, w, eff, effw in rows:
        print(f"| {name} | {n} | {b:.3f} | {e:.3f} | {w:.1f} | **{eff:.2f}** | {effw:.2f} |")
    if len(maps) == 2:
        one, two = maps.values()
        print(f"\nmap agreement between the backends: {(one == two).mean():.5%}")


if __name__ == "__main__":
    main()
