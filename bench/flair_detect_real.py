"""IGN's own flair-detect against ``python -m flair_qgis detect``, wall to wall, on one config file.

Needs a checkout of https://github.com/IGNF/FLAIR-1 and a Python that can import its
``src.zone_detect.main`` (its requirements: geopandas, pytorch-lightning, transformers,
scikit-image, segmentation-models-pytorch, torch; see "Against IGN's flair-detect" in
docs/development.md). Both tools read the same flair-detect YAML file (FLAIR-1's current layout:
``channels``, ``model_framework``, ``num_worker``) on a 1536² mosaic of the real fnau-parking
patches with a FLAIR-INC RGB ResNet34 U-Net of random weights in IGN's file layout, each in a
fresh process, timed by /usr/bin/time (wall, peak RSS of the largest process).

flair-detect does not mask the classes a 15-class model switched off, and writes each tile's
centre one pixel up and left, stretched into 257 px (IGNF-MODELS.md): the model's switched-off
classes are given a -1e4 bias, so that masking changes nothing, and flair-detect is run a second
time with that write window made exact (its intended output, untimed) to compare the maps with.

    .venv/bin/python bench/flair_detect_real.py --flair1 ~/FLAIR-1 --flair1-python ~/flair1-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from run import DATA, build_ortho  # noqa: E402

MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"

# flair-detect builds its model with smp's default ImageNet encoder weights, downloaded from HuggingFace
# (then replaced by the checkpoint's): not reachable here, so built without them (as a cached run, less
# the ~0.2 s of reading them)
NO_DOWNLOAD = """
import functools, segmentation_models_pytorch as smp
smp.create_model = functools.partial(smp.create_model, encoder_weights=None)
"""
# flair-detect's main() with its write window made exact: the centre's own 256 px, where it belongs
EXACT_WINDOW = NO_DOWNLOAD + """
import sys, rasterio.windows, shapely.geometry
import src.zone_detect.main as m
def exact(out, shapes, pixel_precision=None):
    bounds = shapely.geometry.shape(shapes[0]).bounds
    return rasterio.windows.from_bounds(*bounds, transform=out.transform).round_offsets().round_lengths()
m.geometry_window = exact
sys.argv = ["flair-detect", "--conf", sys.argv[1]]
m.main()
"""
ORIGINAL = NO_DOWNLOAD + """
import sys
import src.zone_detect.main as m
sys.argv = ["flair-detect", "--conf", sys.argv[1]]
m.main()
"""


def checkpoint(work: Path) -> Path:
    """The zoo model's architecture, random weights (seed 0; the head's drawn from N(0, 1), so that the
    map varies with the image instead of being one class), its switched-off classes' biases at -1e4,
    saved in IGN's ``_weights.pth`` layout."""
    import torch

    from flair_qgis.model_spec import build_model
    from flair_qgis.zoo import get_entry

    entry = get_entry(MODEL)
    spec = entry.spec
    torch.manual_seed(0)
    model = build_model(spec.arch, spec.encoder, spec.in_channels, spec.n_classes).eval()
    with torch.no_grad():
        head = model.segmentation_head[0]
        head.weight.normal_(0.0, 1.0)
        head.bias.zero_()
        head.bias[torch.tensor([not a for a in spec.active])] = -1e4
    weights = {f"model.seg_model.{k}": v for k, v in model.state_dict().items()}
    weights["criterion.weight"] = torch.tensor([float(a) for a in spec.active])
    path = work / entry.filename
    torch.save(weights, path)
    return path


def config(src: Path, weights: Path, out: Path, spec, num_worker: int) -> dict:
    return {"output_path": str(out), "output_name": "map", "input_img_path": str(src), "channels": [1, 2, 3],
            "img_pixels_detection": 512, "margin": 128, "output_type": "argmax", "n_classes": spec.n_classes,
            "model_weights": str(weights),
            "model_framework": {"model_provider": "SegmentationModelsPytorch",
                                "SegmentationModelsPytorch": {"encoder_decoder": "resnet34_unet"}},
            "batch_size": 4, "use_gpu": False, "num_worker": num_worker, "write_dataframe": False,
            "norma_task": [{"norm_type": "custom", "norm_means": list(spec.normalisation.means),
                            "norm_stds": list(spec.normalisation.stds)}]}


def timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of ``cmd`` run under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name, *cmd], cwd=cwd, capture_output=True,
                              text=True, env=env)
        if done.returncode:
            raise SystemExit(f"{cmd[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        wall, kib = Path(t.name).read_text().split()[-2:]
    return float(wall), float(kib) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flair1", type=Path, required=True, help="a checkout of IGNF/FLAIR-1")
    p.add_argument("--flair1-python", default=sys.executable, help="a Python with flair-detect's requirements")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "flair_detect_real")
    p.add_argument("--num-worker", type=int, default=2, help="flair-detect's num_worker (its example config: 2)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each tool (the best is kept)")
    p.add_argument("--no-append", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = p.parse_args()

    from flair_qgis.zoo import get_entry

    spec = get_entry(MODEL).spec
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if len(list(DATA.glob("*.tif"))) < 9:
        raise SystemExit(f"needs the real patches in {DATA}")
    src = build_ortho(work / "mosaic_1536.tif", 3)
    weights = checkpoint(work)

    def conf(name: str, num_worker: int = args.num_worker) -> Path:
        out = work / name
        if out.exists():
            for f in out.iterdir():
                f.unlink()
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config(src, weights, out, spec, num_worker)), encoding="utf-8")
        return path

    python = os.path.abspath(args.flair1_python)  # not resolved: a venv's python is a link
    ign = [python, "-c", ORIGINAL]
    ours = [sys.executable, "-m", "flair_qgis", "detect", "--conf"]
    import segmentation_models_pytorch as smp
    import torch

    env_note = (f" flair-detect ran with this venv's torch {torch.__version__} and segmentation-models-pytorch "
                f"{smp.__version__} (its setup.py pins smp 0.3.3), its model built without smp's ImageNet encoder "
                "weights (a download; the checkpoint replaces them).")
    # untimed: flair-detect's intended output; our first run (it converts the model for OpenVINO once)
    timed([python, "-c", EXACT_WINDOW, str(conf("intended"))], cwd=args.flair1)
    our_env = os.environ | {"FLAIR_CACHE_DIR": str(work / "cache")}  # its converted model: not in the user's cache
    timed([*ours, str(conf("ours_first"))], cwd=BENCH.parent, env=our_env)
    runs: dict[str, list[tuple[float, float]]] = {"flair-detect": [], "flair_qgis detect": []}
    for _ in range(args.repeats):  # alternated, so that a change in the machine's load hits both
        runs["flair-detect"].append(timed([*ign, str(conf("ign"))], cwd=args.flair1))
        runs["flair_qgis detect"].append(timed([*ours, str(conf("ours"))], cwd=BENCH.parent, env=our_env))
        print(runs, flush=True)

    with rasterio.open(work / "intended" / "map.tif") as a, rasterio.open(work / "ours" / "map.tif") as b:
        intended, mine = a.read(1).astype(np.int16) + 1, b.read(1)  # flair-detect writes index = code - 1
    with rasterio.open(work / "ign" / "map.tif") as a:
        written = a.read(1).astype(np.int16) + 1
    same = float((intended == mine).mean())
    same_written = float((written == mine).mean())
    shares = np.bincount(mine.ravel(), minlength=20) / mine.size
    classes = ", ".join(f"{c}: {s:.1%}" for c, s in enumerate(shares) if s >= 0.001)
    ign_wall, ign_rss = min(runs["flair-detect"])
    our_wall, our_rss = min(runs["flair_qgis detect"])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?")
    lines = [f"\n## IGN's flair-detect vs `python -m flair_qgis detect`, {stamp} — {os.cpu_count()} cores ({cpu})\n\n",
             f"One flair-detect YAML file read by both (FLAIR-1's current layout), {src.name} (1536², real "
             f"fnau-parking BD ORTHO patches), 512/128, batch 4, flair-detect's num_worker {args.num_worker}; "
             f"{MODEL} layout, random weights; best of {args.repeats} alternated runs each, fresh processes "
             "(wall from process start; peak RSS of the largest process). Our run: default backend, its model "
             f"already converted.{env_note}\n\n",
             "| tool | wall (s) | peak RSS (MiB) | all runs' wall (s) |\n|---|---|---|---|\n",
             f"| IGN flair-detect | {ign_wall:.1f} | {ign_rss:.0f} | "
             f"{', '.join(f'{w:.1f}' for w, _ in runs['flair-detect'])} |\n",
             f"| flair_qgis detect | {our_wall:.1f} | {our_rss:.0f} | "
             f"{', '.join(f'{w:.1f}' for w, _ in runs['flair_qgis detect'])} |\n\n",
             f"Speed-up wall to wall: **{ign_wall / our_wall:.2f}×**. Pixels equal to flair-detect's intended "
             f"output (its write window exact): **{same:.4%}**; to what it writes (one pixel up and left, "
             f"stretched): {same_written:.2%}. The map's classes (code: share): {classes}.\n"]
    text = "".join(lines)
    print(text)
    if not args.no_append:
        with open(BENCH / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
