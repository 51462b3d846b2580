"""PyTorch vs OpenVINO on the CPU: the bare forward pass of FLAIR-INC's ResNet34 U-Net (512², batch 4,
random weights) and flair:segment end to end on the bundled example (examples/parking_mosaic.tif,
512/128), each backend in turn in this process; the OpenVINO end-to-end figure is a run whose
model is already converted (the conversion is timed on its own). Prints a Markdown table.

    .venv/bin/python bench/openvino_speed.py [--repeats 3] [--cache /tmp/flair-ov-bench]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flair_qgis import openvino_backend  # noqa: E402
from flair_qgis.model_spec import build_model  # noqa: E402
from flair_qgis.engine import segment_with  # noqa: E402
from flair_qgis.segment_options import SegmentRequest  # noqa: E402
from flair_qgis.prediction import Predictor  # noqa: E402
from flair_qgis.progress import Progress  # noqa: E402
from flair_qgis.zoo import get_entry  # noqa: E402

MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"
EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"


def best(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cache", type=Path, default=Path(tempfile.mkdtemp(prefix="flair-ov-bench-")))
    a = p.parse_args()
    os.environ[openvino_backend.CACHE_ENV] = str(a.cache)
    ov, why = openvino_backend.load()
    if ov is None:
        sys.exit(why)
    spec = get_entry(MODEL).spec
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval()
    rows = []
    quiet = Progress(log=lambda m: None, warn=lambda m: print("warning:", m, file=sys.stderr))

    # --- bare forward, 512², batch 4 --------------------------------------------------------
    tiles = np.random.default_rng(0).integers(0, 256, (4, spec.in_channels, 512, 512), dtype=np.uint8)
    x = spec.normalisation.apply(tiles)
    predictor = Predictor(model, spec, torch.device("cpu"))
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        predictor.logits(xt)  # warm-up
        t_torch = best(lambda: predictor.logits(xt), a.repeats) / 4
    start = time.perf_counter()
    ovp = openvino_backend.of_torch(predictor, "openvino", 4, quiet)
    t_convert = time.perf_counter() - start
    ovp.logits(x)  # warm-up
    t_ov = best(lambda: ovp.logits(x), a.repeats) / 4
    with torch.inference_mode():
        same = (ovp.logits(x).argmax(1) == predictor.logits(xt).argmax(1).numpy()).mean()
    rows += [("bare forward, ResNet34 U-Net 512², batch 4, PyTorch fp32 channels-last", f"{t_torch:.3f} s/tile"),
             (f"bare forward, same, OpenVINO fp32 ({openvino_backend.REQUESTS} requests of "
              f"{openvino_backend.request_batch(4)})", f"{t_ov:.3f} s/tile ({t_torch / t_ov:.2f}× PyTorch)"),
             ("bare forward: argmax agreement OpenVINO vs PyTorch (random weights, random tiles)", f"{same:.4%}"),
             ("OpenVINO: first conversion + compile of the model (batch 2, 512²)", f"{t_convert:.1f} s")]

    # --- end to end on the bundled example ---------------------------------------------------
    out = Path(tempfile.mkdtemp(prefix="flair-ov-bench-out-"))
    maps, times = {}, {}
    for backend in ("torch", "openvino"):
        def run(backend=backend):
            result = segment_with(model, spec, SegmentRequest.of(EXAMPLE, out / f"{backend}.tif", backend=backend,
                                                              bands=[1, 2, 3]), quiet)
            with rasterio.open(result.output) as r:
                maps[backend] = r.read(1)
        times[backend] = best(run, a.repeats)
    with rasterio.open(EXAMPLE) as src:
        size = f"{src.width}×{src.height}"
    rows += [(f"segment end to end, bundled example {size}, 512/128, PyTorch", f"{times['torch']:.1f} s"),
             ("segment end to end, same, OpenVINO (model already converted)",
              f"{times['openvino']:.1f} s ({times['torch'] / times['openvino']:.2f}× PyTorch)"),
             ("segment: map agreement OpenVINO vs PyTorch (random weights)",
              f"{(maps['torch'] == maps['openvino']).mean():.4%}")]
    print(f"\n## OpenVINO vs PyTorch, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, OpenVINO {ov.__version__.split('-')[0]}\n")
    print("| figure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
