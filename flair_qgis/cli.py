"""``python -m flair_qgis``: segment, train and evaluate with FLAIR-1 configurations, list and fetch
zoo models, measure land-cover change and land take between two dates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .choices import BACKENDS, DEVICES, TILE_GRIDS
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
    request = detect_options(args.conf, warn=progress.warn)
    for part, name in (("run", "device"), ("run", "batch_size"), ("model", "active_codes"), ("read", "value_range"),
                       ("model", "tile_grid"), ("run", "backend")):
        if getattr(args, name) is not None:
            setattr(getattr(request, part), name, getattr(args, name))
    request.read.sources = _sources_from_args(request.read.sources, args)
    if args.cluster or args.workers or args.block_size or args.cog or request.read.input.is_dir():
        from .distributed import ZoneOptions, run_zone  # a zone cut into blocks, maybe on a cluster

        result = run_zone(ZoneOptions(request, cluster=args.cluster, workers=args.workers,
                                      block_size=args.block_size, cog=args.cog), progress)
    else:
        result = segment(request, progress)
    print(result.output)
    return 0


def _numbers(kind: type, count: int | None = None):
    """An argparse type: comma-separated numbers (exactly ``count`` of them when given)."""
    def parse(text: str):
        try:
            values = [kind(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
        if not values or (count is not None and len(values) != count):
            raise argparse.ArgumentTypeError(f"{text!r}: give {count or 'one or more'} comma-separated numbers")
        return tuple(values) if count else values
    return parse
def _sources_from_args(sources, args: argparse.Namespace):
    """The configuration's band sources with the command line's --irc/--dsm/... on top."""
    from dataclasses import replace

    from .band_sources import BandSources

    given = {k: getattr(args, k) for k in ("irc", "irc_band", "elevation", "elevation_band", "dsm", "dtm")
             if getattr(args, k) is not None}
    if not given:
        return sources
    return replace(sources or BandSources(), **given)


def _models(_args: argparse.Namespace) -> int:
    from .zoo import ZOO, describe

    for entry in ZOO.values():
        print(describe(entry))
    return 0


def _download(args: argparse.Namespace) -> int:
    from .hf_download import fetch
    from .zoo import get_entry

    for name in args.models:
        print(fetch(get_entry(name), _console_progress(), force=args.force))
    return 0


def _style(args: argparse.Namespace) -> int:
    from .palette import palette, style_path, write_qml

    for raster in args.rasters:
        print(write_qml(style_path(Path(raster)), palette(args.palette)))
    return 0


def _doctor(_args: argparse.Namespace) -> int:
    from .diagnostics import report

    print(report())
    return 0


def _print_scores(scores) -> None:
    def f(v):
        return "   n/a" if v is None else f"{v:6.4f}"

    print(f"{'code':>5}  {'class':<28} {'IoU':>6}  {'F1':>6}  {'prec.':>6}  {'recall':>6}  {'pixels':>10}")
    for c in scores.classes:
        print(f"{c.code:>5}  {c.name[:28]:<28} {f(c.iou)}  {f(c.f1)}  {f(c.precision)}  {f(c.recall)}  "
              f"{c.reference_pixels:>10}")
    print(f"mIoU {f(scores.miou)}   overall accuracy {f(scores.oa)}   ({scores.pixels} pixels)")


def _train(args: argparse.Namespace) -> int:
    import shutil
    from dataclasses import replace

    from .config import train_config
    from .training import PatchEvaluation, evaluate_patches, train

    progress = _console_progress()
    conf = train_config(args.conf, warn=progress.warn)
    checkpoint = conf.checkpoint
    if conf.copy:
        used = conf.out_folder / "used_csv_and_config"
        used.mkdir(parents=True, exist_ok=True)
        for path in conf.copy:
            shutil.copy(path, used)
    if conf.options is not None:
        overrides = {k: getattr(args, k) for k in ("device", "epochs") if getattr(args, k) is not None}
        result = train(replace(conf.options, **overrides), progress)
        _print_scores(result.best_scores)
        print(result.best)
        checkpoint = result.best
    if conf.test:
        out = conf.out_folder / f"{conf.name}_test"
        scores = evaluate_patches(PatchEvaluation(
            sources=conf.test, checkpoint=checkpoint, bands=conf.bands, device=args.device or "auto",
            json_path=out.with_suffix(".json"), csv_path=out.with_suffix(".csv"),
            png_path=out.parent / f"{out.name}_confusion.png"), progress)
        print(f"test patches ({', '.join(str(t) for t in conf.test)}):")
        _print_scores(scores)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    progress = _console_progress()
    out = args.out / args.name
    paths = dict(json_path=out.with_suffix(".json"), csv_path=out.with_suffix(".csv"),
                 png_path=out.parent / f"{out.name}_confusion.png")
    if args.prediction or args.reference:
        from .raster_evaluation import RasterEvaluation, evaluate_rasters
        from .palette import palette

        if not (args.prediction and args.reference):
            raise FlairError("give both --prediction and --reference class rasters")
        scores = evaluate_rasters(RasterEvaluation(
            prediction=args.prediction, reference=args.reference,
            classes=palette(args.palette) if args.palette else None, ignored=tuple(args.ignore), **paths), progress)
    else:
        from .training import PatchEvaluation, evaluate_patches

        checkpoint, model, sources, bands = args.checkpoint, args.model, list(args.patches), None
        if args.conf:
            from .config import train_config

            conf = train_config(args.conf, warn=progress.warn)
            checkpoint, sources, bands = checkpoint or conf.checkpoint, sources or conf.test, conf.bands
        if not sources or not (checkpoint or model):
            raise FlairError("give --prediction and --reference, or --patches with --checkpoint (or --model), "
                             "or --conf with test_csv and ckpt_model_path")
        scores = evaluate_patches(PatchEvaluation(sources=sources, checkpoint=checkpoint, model=model, bands=bands,
                                                  device=args.device or "auto", **paths), progress)
    _print_scores(scores)
    print(paths["json_path"])
    return 0


def _change(args: argparse.Namespace) -> int:
    from .change import ChangeOptions, compare
    from .raster_io import open_raster
    from .zones import read_zones

    progress = _console_progress()
    zones = None
    if args.zones:
        with open_raster(args.before) as src:
            if src.crs is None:
                raise FlairError(f"BEFORE {args.before} has no CRS: the zones cannot be placed on it")
            zones = read_zones(args.zones, args.zone_field, src.crs.to_wkt())
    out = args.out
    result = compare(ChangeOptions(
        before=args.before, after=args.after, codes=args.codes, zones=zones, min_area=args.min_area,
        artificialised=args.groups, change=out / "change.tif", change_codes=out / "change_codes.tif" if args.codes_map
        else None, plot=out / "change.png", transitions_csv=out / "transitions.csv", zones_csv=out / "zones.csv",
        class_map=args.class_map), progress)
    for zone in result.zones:
        print(f"{zone.zone}: artificialised {zone.artificialised_before_m2:.1f} m² → "
              f"{zone.artificialised_after_m2:.1f} m², gain {zone.gain_m2:.1f}, loss {zone.loss_m2:.1f}, "
              f"net {zone.net_m2:+.1f} m²")
    for path in result.written.values():
        print(path)
    return 0


def _landtake(args: argparse.Namespace) -> int:
    """Both orthophotos mapped with one model on the map-anchored tile grid (the same ground gets
    the same tiles at both dates, whatever each image's extent), then compared as ``change`` does."""
    from .engine import segment
    from .segment_options import ModelChoice, ReadOptions, RunOptions, SegmentRequest, WriteOptions
    from .zoo import DEFAULT_MODEL

    progress = _console_progress()
    model = args.model or (None if args.checkpoint else DEFAULT_MODEL)
    maps = []
    for date, image in (("before", args.before), ("after", args.after)):
        progress.log(f"Mapping the {date} orthophoto {image} (map-anchored tile grid)")
        request = SegmentRequest(read=ReadOptions(image, bands=args.bands),
                                 write=WriteOptions(args.out / f"landcover_{date}.tif"),
                                 model=ModelChoice(model, args.checkpoint, tile_grid="map-anchored"),
                                 run=RunOptions(device=args.device or "auto", backend=args.backend or "auto",
                                                batch_size=args.batch_size))
        args.out.mkdir(parents=True, exist_ok=True)
        maps.append(segment(request, progress).output)
        print(maps[-1])
    args.before, args.after = maps
    return _change(args)


def _change_options(c: argparse.ArgumentParser) -> None:
    """The options ``change`` and ``landtake`` share: zones, minimum area, groups, outputs."""
    from .change_spec import ARTIFICIALISED, DEFAULT_MIN_AREA
    from .class_codes import AUTO, CONVENTIONS

    c.add_argument("--out", type=Path, required=True, help="folder of change.tif, transitions.csv, zones.csv, "
                   "change.png")
    c.add_argument("--zones", type=Path, help="polygons (communes…) to account for separately (any OGR format)")
    c.add_argument("--zone-field", dest="zone_field", help="the zones' name field (default: feature number)")
    c.add_argument("--min-area", dest="min_area", type=float, default=DEFAULT_MIN_AREA,
                   help=f"changed regions smaller than this (m²) count as unchanged (default {DEFAULT_MIN_AREA:g})")
    c.add_argument("--groups", type=int, nargs="+", default=list(ARTIFICIALISED), metavar="CODE",
                   help=f"FLAIR codes counted as artificialised (default {' '.join(map(str, ARTIFICIALISED))})")
    c.add_argument("--codes", default=AUTO, choices=CONVENTIONS,
                   help="class values of the maps (default auto: decided per map)")
    c.add_argument("--codes-map", dest="codes_map", action="store_true",
                   help="also write change_codes.tif (from × 100 + to)")
    c.add_argument("--class-map", dest="class_map", metavar="CLASS=CODE,...",
                   help="for maps whose recorded classes are not FLAIR's (your own model's): the FLAIR code each "
                        "class stands for, by name or value, e.g. 'parking=3,other=19' (0: left out)")


def parser() -> argparse.ArgumentParser:
    from .zoo import DEFAULT_MODEL

    p = argparse.ArgumentParser(prog="python -m flair_qgis", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("detect", help="segment a raster, configured by a flair-detect YAML file")
    d.add_argument("--conf", required=True, type=Path, help="flair-detect YAML configuration")
    d.add_argument("--device", choices=DEVICES, help="override the configuration's device")
    d.add_argument("--batch-size", dest="batch_size", type=int, help="override the batch size")
    d.add_argument("--backend", choices=BACKENDS,
                   help="inference runtime (default auto: OpenVINO on the CPU when installed, PyTorch on CUDA)")
    d.add_argument("--active-classes", dest="active_codes", type=_numbers(int), metavar="CODES",
                   help="class codes the model may predict, e.g. 1,2,3,6 (default: decided from the checkpoint)")
    d.add_argument("--value-range", dest="value_range", type=_numbers(float, 2), metavar="MIN,MAX",
                   help="map input values MIN..MAX onto 0-255 (16-bit imagery; default: 2-98 %% percentiles)")
    d.add_argument("--tile-grid", dest="tile_grid", choices=TILE_GRIDS,
                   help="model: the model's tile grid (flair-detect's, following the raster's size); map-anchored: "
                   "tiles fixed in map coordinates, so that two dates of one place get the same tiles (land take)")
    d.add_argument("--cluster", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786) to run the zone's blocks on")
    d.add_argument("--workers", type=int, help="run the blocks on a local cluster of N worker processes")
    d.add_argument("--block-size", dest="block_size", type=int, metavar="PX",
                   help="block (shard) size in px, a multiple of the tile step (default 16 steps)")
    d.add_argument("--cog", action="store_true", help="also write the sharded mosaic as one COG with overviews")
    d.add_argument("--irc", type=Path, metavar="RASTER",
                   help="infrared layer giving the model's NIR band (IGN BD ORTHO IRC: a file, VRT or folder of tiles)")
    d.add_argument("--irc-band", dest="irc_band", type=int, metavar="N", help="band of --irc holding NIR (default 1)")
    d.add_argument("--elevation", type=Path, metavar="RASTER", help="a ready FLAIR elevation band (20 cm steps, 8-bit)")
    d.add_argument("--elevation-band", dest="elevation_band", type=int, metavar="N",
                   help="band of --elevation to use (default 1)")
    d.add_argument("--dsm", type=Path, metavar="RASTER",
                   help="surface model in metres (with --dtm): the elevation band is computed")
    d.add_argument("--dtm", type=Path, metavar="RASTER", help="terrain model in metres (with --dsm)")
    d.set_defaults(run=_detect)
    m = sub.add_parser("models", help="list the model zoo")
    m.set_defaults(run=_models)
    g = sub.add_parser("download", help="fetch zoo models into the HuggingFace cache")
    g.add_argument("models", nargs="+", help="zoo names, e.g. FLAIR-INC_rgb_15cl_resnet34-unet")
    g.add_argument("--force", action="store_true", help="download again even if cached")
    g.set_defaults(run=_download)
    doc = sub.add_parser("doctor", help="versions, devices and the model cache, for a bug report")
    doc.set_defaults(run=_doctor)
    t = sub.add_parser("train", help="train, fine-tune or resume a model, configured by a flair --conf YAML file")
    t.add_argument("--conf", required=True, type=Path, help="FLAIR-1 flair --conf YAML configuration")
    t.add_argument("--device", choices=DEVICES, help="override the configuration's device")
    t.add_argument("--epochs", type=int, help="override num_epochs")
    t.set_defaults(run=_train)
    e = sub.add_parser("evaluate", help="scores of a class raster against a reference, or of a model on patches")
    e.add_argument("--prediction", type=Path, help="class raster to evaluate")
    e.add_argument("--reference", type=Path, help="reference class raster")
    e.add_argument("--palette", help="classes evaluated (default: those recorded in the prediction)")
    e.add_argument("--ignore", type=int, nargs="*", default=[], help="reference codes left out")
    e.add_argument("--checkpoint", type=Path, help="model to evaluate on --patches")
    e.add_argument("--model", help="zoo model to evaluate on --patches")
    e.add_argument("--patches", type=Path, nargs="*", default=[], help="patch folders or FLAIR-1 CSV lists")
    e.add_argument("--conf", type=Path, help="flair --conf YAML: its test_csv and ckpt_model_path")
    e.add_argument("--device", choices=DEVICES)
    e.add_argument("--out", type=Path, default=Path("."), help="folder of the JSON, CSV and PNG outputs")
    e.add_argument("--name", default="evaluation", help="file name stem of the outputs")
    e.set_defaults(run=_evaluate)
    c = sub.add_parser("change", help="land-cover change between two class rasters: transitions, land take per zone")
    c.add_argument("before", type=Path, help="class raster of the first date")
    c.add_argument("after", type=Path, help="class raster of the second date")
    _change_options(c)
    c.set_defaults(run=_change)
    lt = sub.add_parser("landtake", help="map two orthophotos (two dates) with one model on the map-anchored tile "
                        "grid, then measure change and land take per zone as `change` does")
    lt.add_argument("before", type=Path, help="orthophoto of the first date")
    lt.add_argument("after", type=Path, help="orthophoto of the second date (same place, same kind of image)")
    lt.add_argument("--model", default=None, help=f"zoo model for both dates (default {DEFAULT_MODEL})")
    lt.add_argument("--checkpoint", type=Path, help="local weights for both dates, instead of --model")
    lt.add_argument("--device", choices=DEVICES)
    lt.add_argument("--batch-size", dest="batch_size", type=int, help="tiles per forward pass (default: automatic)")
    lt.add_argument("--backend", choices=BACKENDS,
                    help="inference runtime (default auto: OpenVINO on the CPU when installed, PyTorch on CUDA)")
    lt.add_argument("--bands", type=_numbers(int), metavar="N,N,...",
                    help="the orthophotos' bands for the model's, in its order, the same at both dates (default: "
                    "their first non-alpha bands), e.g. 4,1,2 for the NIR, R, G of an R, G, B, NIR image")
    _change_options(lt)
    lt.set_defaults(run=_landtake)
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
