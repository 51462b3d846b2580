"""``python -m flair_qgis``: segment with a FLAIR-1 configuration, list and fetch zoo models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import Cancelled, FlairError
from .progress import Progress


def _console_progress() -> Progress:
    state = {"last": -1}

    def fraction(f: float) -> None:
        pct = int(f * 100)
        if pct // 5 != state["last"] // 5:
            state["last"] = pct
            print(f"{pct:3d} %", file=sys.stderr, flush=True)

    return Progress(fraction=fraction, log=lambda m: print(m, file=sys.stderr),
                    warn=lambda m: print(f"warning: {m}", file=sys.stderr))


def _detect(args: argparse.Namespace) -> int:
    from .config import detect_options
    from .engine import segment

    progress = _console_progress()
    options = detect_options(args.conf, warn=progress.warn)
    for name in ("device", "batch_size"):
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))
    if args.cluster or args.workers or args.block_size or args.cog or options.input.is_dir():
        from .distributed import ZoneOptions, run_zone  # a zone cut into blocks, maybe on a cluster

        result = run_zone(ZoneOptions(options, cluster=args.cluster, workers=args.workers,
                                      block_size=args.block_size, cog=args.cog), progress)
    else:
        result = segment(options, progress)
    print(result.output)
    return 0


def _models(_args: argparse.Namespace) -> int:
    from .zoo import ZOO, describe

    for entry in ZOO.values():
        print(describe(entry))
    return 0


def _download(args: argparse.Namespace) -> int:
    from .zoo import fetch, get_entry

    for name in args.models:
        print(fetch(get_entry(name), _console_progress(), force=args.force))
    return 0


def _style(args: argparse.Namespace) -> int:
    from .palette import palette, style_path, write_qml

    for raster in args.rasters:
        print(write_qml(style_path(Path(raster)), palette(args.palette)))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flair_qgis", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="segment a raster, configured by a flair-detect YAML file")
    d.add_argument("--conf", required=True, type=Path, help="flair-detect YAML configuration")
    d.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override the configuration's device")
    d.add_argument("--batch-size", dest="batch_size", type=int, help="override the batch size")
    d.add_argument("--cluster", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786) to run the zone's blocks on")
    d.add_argument("--workers", type=int, help="run the blocks on a local cluster of N worker processes")
    d.add_argument("--block-size", dest="block_size", type=int, metavar="PX",
                   help="block (shard) size in px, a multiple of the tile step (default 16 steps)")
    d.add_argument("--cog", action="store_true", help="also write the sharded mosaic as one COG with overviews")
    d.set_defaults(run=_detect)
    m = sub.add_parser("models", help="list the model zoo")
    m.set_defaults(run=_models)
    g = sub.add_parser("download", help="fetch zoo models into the HuggingFace cache")
    g.add_argument("models", nargs="+", help="zoo names, e.g. FLAIR-INC_rgb_15cl_resnet34-unet")
    g.add_argument("--force", action="store_true", help="download again even if cached")
    g.set_defaults(run=_download)
    s = sub.add_parser("style", help="write the FLAIR QML style beside class rasters")
    s.add_argument("rasters", nargs="+")
    s.add_argument("--palette", default="flair-19")
    s.set_defaults(run=_style)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Cancelled as e:
        print(f"flair_qgis: {e}", file=sys.stderr)
        return 130
    except FlairError as e:
        print(f"flair_qgis: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flair_qgis: interrupted; no output was written", file=sys.stderr)
        return 130
