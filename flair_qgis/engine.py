"""Segment a raster of any size with a FLAIR model, window by window.

raster → tile grid → windows read → normalised batches → model → stitched windows → output
GeoTIFF (+ QML style). Memory holds one batch of tiles, whatever the raster's size.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from . import band_sources, raster_io, resampling
from .checkpoints import (Checkpoint, ModelSpec, default_classes, load_weights, read_checkpoint,
                          spec_for_entry)
from .errors import FlairError
from .normalisation import Normalisation, Stretch, percentile_stretch
from .palette import classes_from_lists, style_path, write_qml
from .progress import Progress
from .prediction import PRECISIONS, Predictor, auto_batch_size, pick_device
from .tiling import Tile, check_tile_settings, tile_grid
from .zoo import RGBIE, entry_for_file, fetch, get_entry

OUTPUT_TYPES = ("argmax", "class_prob")
PRESETS = ("reference", "fast")
STITCHES = ("crop", "blend")
QUEUE_DEPTH = 2  # batches waiting between reader, model and writer: bounds the memory


@dataclass
class SegmentOptions:
    """What to segment, with which model, and how.

    Give ``model`` (a zoo name), ``checkpoint`` (a local file), or both (local weights of a zoo
    model). ``None`` settings come from the model: tile size and margin (512/128), bands (the
    first non-alpha bands), normalisation. ``arch``/``encoder``/``n_classes`` describe a bare
    checkpoint that carries no metadata (defaults: unet, resnet34, its head size).

    ``preset`` picks tile size and margin: ``reference`` (the model's, flair-detect's 512/128) or
    ``fast`` (tiles twice as large, same margin: far fewer pixels computed twice); explicit
    ``tile_size``/``margin`` win. ``precision`` is ``auto`` (fp16 autocast on CUDA, fp32 on the
    CPU), ``fp32``, ``fp16`` or ``bf16``; ``tta`` averages the four flips (4× the compute);
    ``readers`` is the number of reading threads (default 1 on the CPU, 4 with CUDA).
    ``window`` (col, row, width, height in input pixels) restricts the output to that part of the
    input, computed on the whole raster's tile grid: the pixels equal a full run's.
    ``stitch`` is ``crop`` (keep each tile's centre, as flair-detect) or ``blend`` (average the
    overlapping tiles' probabilities with a smooth window; slower, seamless).

    An input whose pixel size differs from the model's by more than 10 % is resampled to the
    model's (``resample``) and the result written back on the input's grid (``output_grid``
    ``input``) or left at the model's (``model``). Imagery that is not 8-bit is mapped onto 0–255:
    by ``value_range`` (low, high) for every band, or else — unless its values already lie within
    0–255 — by each band's 2–98 % percentiles (``stretch`` holds the mapping once decided). ``mask_geometries`` (GeoJSON-like polygons in
    the input's CRS) limit the output to their inside; tiles wholly outside are not computed.

    ``sources`` adds the layers the model's other bands come from (IGN BD ORTHO IRC for NIR, an
    elevation band or a DSM + DTM pair), seen on the input's grid (see :mod:`band_sources`);
    ``bands`` then lists the input's bands for R, G, B (and NIR when no IRC layer is given).
    """

    input: Path
    output: Path
    model: str | None = None
    checkpoint: Path | None = None
    bands: list[int] | None = None
    tile_size: int | None = None
    margin: int | None = None
    batch_size: int | None = 4  # None: automatic (from the free GPU memory; 4 on the CPU)
    device: str = "auto"
    output_type: str = "argmax"
    normalisation: Normalisation | None = None
    arch: str | None = None
    encoder: str | None = None
    n_classes: int | None = None
    write_style: bool = True
    preset: str | None = None
    precision: str = "auto"
    tta: bool = False
    readers: int | None = None
    window: tuple[int, int, int, int] | None = None
    stitch: str = "crop"
    resample: bool = True
    output_grid: str = "input"
    value_range: tuple[float, float] | None = None
    stretch: Stretch | None = None
    mask_geometries: list[dict] | None = None
    sources: band_sources.BandSources | None = None  # IRC / elevation / DSM+DTM layers besides INPUT


@dataclass
class SegmentResult:
    output: Path
    style: Path | None
    spec: ModelSpec
    device: str
    tiles: int
    tiles_computed: int
    seconds: float


def resolve_model(options: SegmentOptions, progress: Progress) -> tuple[Checkpoint, ModelSpec]:
    """The checkpoint to load and the spec it is loaded as (see :class:`SegmentOptions`)."""
    if options.checkpoint is None and not options.model:
        raise FlairError("no model given: choose a zoo model or a checkpoint file")
    if options.checkpoint is None:
        entry = get_entry(options.model or "")
        progress.log(f"Model {entry.name} ({entry.repo_id}@{entry.revision[:12]})")
        ckpt = read_checkpoint(fetch(entry, progress))
        spec = spec_for_entry(entry)
    else:
        ckpt = read_checkpoint(options.checkpoint)
        entry = get_entry(options.model) if options.model else entry_for_file(options.checkpoint)
        if ckpt.spec is not None:
            spec = ckpt.spec
            if options.model:
                progress.log(f"{options.checkpoint.name} describes its own model; ignoring model {options.model}")
        elif entry is not None:
            spec = spec_for_entry(entry)
            progress.log(f"Checkpoint {options.checkpoint.name} read as zoo model {entry.name}")
        else:
            spec = bare_spec(ckpt, options)
    if (ckpt.spec is not None or entry is not None) and (options.arch or options.encoder):
        progress.log("arch/encoder settings apply to bare checkpoints only; the model's own are used")
    if options.n_classes is not None and options.n_classes != spec.n_classes:
        raise FlairError(f"n_classes is {options.n_classes} but model {spec.name or spec.arch} has "
                         f"{spec.n_classes} output classes: set n_classes to {spec.n_classes} or remove it")
    if options.normalisation is not None:
        spec = replace(spec, normalisation=options.normalisation)
    return ckpt, spec


def with_tiling(spec: ModelSpec, options: SegmentOptions) -> ModelSpec:
    """``spec`` with the tile size and margin the options ask for (preset, then explicit values)."""
    if options.preset is not None and options.preset not in PRESETS:
        raise FlairError(f"unknown preset {options.preset!r}: use {' or '.join(PRESETS)}")
    size = spec.tile_size * 2 if options.preset == "fast" else spec.tile_size
    return replace(spec, tile_size=options.tile_size or size,
                   margin=spec.margin if options.margin is None else options.margin)


def bare_spec(ckpt: Checkpoint, options: SegmentOptions) -> ModelSpec:
    """A spec for weights without metadata, from the options and the weights' shapes."""
    n_in = ckpt.in_channels or 3
    n_cls = options.n_classes or ckpt.n_classes or 19
    roles = RGBIE[:n_in] if n_in <= len(RGBIE) else tuple(f"band {i + 1}" for i in range(n_in))
    if options.normalisation is None and n_in > len(RGBIE):
        raise FlairError(f"checkpoint {ckpt.path.name} takes {n_in} bands, more than FLAIR's five: "
                         "give the normalisation (norm_means/norm_stds) for each band")
    norm = options.normalisation or Normalisation.for_bands(roles)
    classes = default_classes(n_cls)
    return ModelSpec(arch=options.arch or "unet", encoder=options.encoder or "resnet34", bands=roles,
                     classes=classes, active=(True,) * len(classes), normalisation=norm,
                     name=ckpt.path.stem)


def _check_window(window: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    col, row, w, h = (int(v) for v in window)
    if w <= 0 or h <= 0 or col < 0 or row < 0 or col + w > width or row + h > height:
        raise FlairError(f"window {window} (col, row, width, height) is not inside the "
                         f"{width}×{height} px raster")
    return col, row, w, h


def _check_request(options: SegmentOptions) -> None:
    """Refuse bad settings and a bad input before any model is downloaded or loaded."""
    if options.output_type not in OUTPUT_TYPES:
        raise FlairError(f"unknown output type {options.output_type!r}: use {' or '.join(OUTPUT_TYPES)}")
    if options.precision not in PRECISIONS:
        raise FlairError(f"unknown precision {options.precision!r}: use {', '.join(PRECISIONS)}")
    if options.stitch not in STITCHES:
        raise FlairError(f"unknown stitching {options.stitch!r}: use {' or '.join(STITCHES)}")
    if options.batch_size is not None and options.batch_size < 1:
        raise FlairError(f"batch size must be at least 1 (or empty for automatic), got {options.batch_size}")
    if options.output_grid not in ("input", "model"):
        raise FlairError(f"unknown output grid {options.output_grid!r}: use input or model")
    if options.value_range is not None and not options.value_range[1] > options.value_range[0]:
        raise FlairError(f"value range {options.value_range}: the high value must exceed the low one")
    if options.tile_size is not None and options.margin is not None:
        check_tile_settings(options.tile_size, options.margin)
    output = Path(options.output)
    if output.suffix.lower() not in {".tif", ".tiff"}:
        raise FlairError(f"output {output} must be a GeoTIFF (.tif)")
    raster_io.check_output_folder(output)
    with raster_io.open_raster(options.input) as src:
        if Path(options.input).resolve() == output.resolve():
            raise FlairError(f"the output {output} is the input raster: choose another output file")
        resampling.check_crs(src)
        raster_io.check_band_numbers(src, options.bands or [])
        if src.width < 1 or src.height < 1:
            raise FlairError(f"input raster {options.input} is empty ({src.width}×{src.height} px): "
                             "choose a raster with data")
    if options.sources is not None and options.sources.given and not any(
            Path(p).is_dir() for p in options.sources.layers().values()):  # folders: checked as mosaics
        band_sources.check(Path(options.input), options.sources)


def segment(options: SegmentOptions, progress: Progress | None = None) -> SegmentResult:
    """Segment ``options.input`` into ``options.output`` with the model the options name."""
    progress = progress or Progress()
    device = pick_device(options.device)
    _check_request(options)
    ckpt, spec = resolve_model(options, progress)
    model = load_weights(ckpt, spec, device)
    return segment_with(model, spec, options, progress)


def segment_with(model: torch.nn.Module, spec: ModelSpec, options: SegmentOptions,
                 progress: Progress | None = None) -> SegmentResult:
    """Segment with a model already in memory (any module mapping N×C×H×W to N×classes×H×W)."""
    progress = progress or Progress()
    with band_sources.on_input_grid(options, spec.bands, spec.name, progress) as options:
        return _segment_bands(model, spec, options, progress)


def _segment_bands(model: torch.nn.Module, spec: ModelSpec, options: SegmentOptions,
                   progress: Progress) -> SegmentResult:
    """:func:`segment_with` once the input holds the model's bands."""
    start = time.perf_counter()
    _check_request(options)
    spec = with_tiling(spec, options)
    device = next(model.parameters()).device
    output = Path(options.output)
    with raster_io.open_raster(options.input) as src:
        check_tile_settings(spec.tile_size, spec.margin)
        bands = options.bands or raster_io.default_bands(src, spec.in_channels)
        raster_io.check_bands(src, bands, spec.in_channels, spec.bands)
        spec.normalisation.check_bands(len(bands))
        if not options.bands and src.count != len(bands):
            progress.log(f"Using bands {bands} of {src.count} as {', '.join(spec.bands)}")
        if options.stretch is None:
            options = replace(options, stretch=decide_stretch(src, bands, options, progress))
        if options.resample and resampling.needs_resampling(src, spec.resolution):
            return _segment_resampled(model, spec, replace(options, bands=bands), src, progress, start)
        window = _check_window(options.window, src.width, src.height) if options.window else None
        # Blending needs every tile that overlaps the window, whole; cropping only those writing in it.
        grid = tile_grid(src.width, src.height, spec.tile_size, spec.margin, window,
                         whole_tiles=options.stitch == "blend")
        progress.log(f"{src.width}×{src.height} px, {len(grid)} tiles of {spec.tile_size} px "
                     f"(margin {spec.margin}), batch {options.batch_size or 'auto'}, on {device}")
        computed = _run(src, bands, grid, model, spec, options, device, output, progress)
    return _finish(spec, options, output, str(device), len(grid), computed, start, progress)


def _finish(spec: ModelSpec, options: SegmentOptions, output: Path, device: str, tiles: int, computed: int,
            start: float, progress: Progress) -> SegmentResult:
    style = None
    if options.output_type == "argmax" and options.write_style:
        try:
            style = write_qml(style_path(output), spec.active_classes)
        except OSError as e:
            raise FlairError(f"{output} was written but its style {style_path(output)} could not be "
                             f"({e.strerror or e}): free some space, then style the map with "
                             "'Apply FLAIR style' (flair:applystyle)") from None
    seconds = time.perf_counter() - start
    progress.log(f"Wrote {output} ({computed} of {tiles} tiles computed) in {seconds:.1f} s")
    return SegmentResult(output, style, spec, device, tiles, computed, seconds)


def decide_stretch(src, bands: list[int], options: SegmentOptions, progress: Progress) -> Stretch | None:
    """How non-8-bit imagery is mapped onto 0–255 (None for 8-bit input)."""
    if options.value_range is not None:
        low, high = options.value_range
        progress.log(f"Mapping values {low:g}–{high:g} onto 0–255 for every band")
        return Stretch((float(low),) * len(bands), (float(high),) * len(bands), "user range")
    if all(src.dtypes[b - 1] == "uint8" for b in bands):
        return None
    sample, valid = raster_io.overview_sample(src, bands)
    values = sample[:, valid] if valid.any() else sample.reshape(len(bands), -1)
    if values.size and values.min() >= 0 and 1 < values.max() <= 255:  # 8-bit values in a wider type
        progress.log(f"The input is {src.dtypes[bands[0] - 1]} with values within 0–255: used as they are")
        return None
    stretch = percentile_stretch(sample, valid)
    ranges = ", ".join(f"{lo:g}–{hi:g}" for lo, hi in zip(stretch.low, stretch.high))
    progress.warn(f"the input is {src.dtypes[bands[0] - 1]}, the model expects 8-bit values: mapping "
                  f"each band's 2–98 % percentiles ({ranges}) onto 0–255; give a value range to choose")
    return stretch


def _segment_resampled(model: torch.nn.Module, spec: ModelSpec, options: SegmentOptions, src,
                       progress: Progress, start: float) -> SegmentResult:
    """Segment a view of the input at the model's resolution, then put the result back on the
    input's grid (nearest neighbour), nodata where the input has none."""
    output = Path(options.output)
    res = src.res
    progress.log(f"The input's pixels are {res[0]:g}×{res[1]:g} m, the model's {spec.resolution:g} m: "
                 f"resampling the input to {spec.resolution:g} m for inference"
                 + (" and the result back onto the input's grid" if options.output_grid == "input" else ""))
    window = Window(*_check_window(options.window, src.width, src.height)) if options.window else None
    folder = raster_io.prepare_output_folder(output)
    raster_io.remove_stale_temporaries(output)
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{output.stem}.{os.getpid()}.", suffix=".resample", dir=folder))
    except OSError as e:
        raise FlairError(f"cannot write in the output folder {folder} ({e.strerror or e}): choose an "
                         "output path in a folder you can write to, with free space") from None
    try:
        try:
            view = resampling.to_model_grid(src, spec.resolution, work / "input.vrt", window)
        except OSError as e:
            raise FlairError(f"cannot write in the output folder {folder} ({e.strerror or e}): free some "
                             "space or choose an output folder on another disk") from None
        at_model = output if options.output_grid == "model" else work / "model_grid.tif"
        inner = replace(options, input=view, output=at_model, resample=False, window=None,
                        write_style=options.write_style and options.output_grid == "model")
        result = segment_with(model, spec, inner, progress)
        if options.output_grid == "model":
            return result
        back = resampling.to_input_grid(at_model, src, work / "back.vrt", window)
        _copy_masked(back, at_model, src, options.bands or [], window, output, options.mask_geometries)
        return _finish(result.spec, options, output, result.device, result.tiles, result.tiles_computed,
                       start, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_masked(view: Path, like: Path, src, bands: list[int], window: Window | None, output: Path,
                 geometries: list[dict] | None) -> None:
    """Copy ``view`` (a result seen on the input's grid) to ``output`` atomically, with ``like``'s
    bands, classes and tags, and nodata wherever the input has no data."""
    window = window or Window(0, 0, src.width, src.height)
    validity = raster_io.Validity(src, bands, geometries)
    with raster_io.open_raster(like) as r:
        tags = r.tags()
        argmax = r.count == 1
        spec = raster_io.OutputSpec(
            width=int(window.width), height=int(window.height), count=r.count, crs=src.crs,
            transform=src.window_transform(window), band_names=tuple(d or "" for d in r.descriptions),
            classes=classes_from_lists(json.loads(tags["FLAIR_CLASSES"])) if argmax else (),
            nodata=r.nodata, tags=tags)
    with raster_io.open_raster(view) as v, raster_io.AtomicRasterWriter(output, spec) as out:
        for strip in resampling.strips(spec.width, spec.height):
            data = v.read(window=strip)
            if validity.active:
                at = Window(strip.col_off + window.col_off, strip.row_off + window.row_off, strip.width, strip.height)
                valid = validity(src, at)
                data = np.where(valid[None], data, 0).astype(np.uint8)
                if not argmax:
                    out.write_mask(valid, strip)
            out.write(data, strip)
        out.commit()


@dataclass
class _Work:
    """One tile on its way through the pipeline: its pixels (None when it is all nodata), where
    its input has data (None when the raster declares no nodata), and later its prediction."""

    tile: Tile
    pixels: np.ndarray | None
    valid: np.ndarray | None
    result: np.ndarray | None = None


def _row_chunks(grid: list[Tile], width: int) -> list[list[Tile]]:
    """Consecutive tiles of one tile row, ``width`` at most: each chunk is read in one go."""
    chunks: list[list[Tile]] = []
    for tile in grid:
        if chunks and chunks[-1][0].row == tile.row and len(chunks[-1]) < width:
            chunks[-1].append(tile)
        else:
            chunks.append([tile])
    return chunks


def _read_chunk(src, bands: list[int], chunk: list[Tile], validity: raster_io.Validity,
                stretch: Stretch | None = None) -> list[_Work]:
    """Read a chunk's pixels once and cut its (overlapping) tiles from them."""
    first, last = chunk[0], chunk[-1]
    valid = None
    if validity.active:
        owned = Window(first.out_col, first.out_row, last.out_col + last.out_width - first.out_col,
                       first.out_height)
        valid = validity(src, owned)
        if not valid.any():
            return [_Work(t, None, valid[:, t.out_col - first.out_col:][:, :t.out_width]) for t in chunk]
    size = first.size
    block = raster_io.read_block(src, bands, first.col, first.row, last.col + size - first.col, size)
    if stretch is not None:
        block = stretch.apply(block)
    work = []
    for t in chunk:
        v = None if valid is None else valid[:, t.out_col - first.out_col:t.out_col - first.out_col + t.out_width]
        if v is not None and not v.any():
            work.append(_Work(t, None, v))
        else:
            work.append(_Work(t, block[:, :, t.col - first.col:t.col - first.col + size], v))
    return work


class _Stage(threading.Thread):
    """A pipeline thread that keeps the first error it meets for the main thread to raise."""

    def __init__(self, target, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _run(src, bands: list[int], grid: list[Tile], model: torch.nn.Module, spec: ModelSpec,
         options: SegmentOptions, device: torch.device, output: Path, progress: Progress) -> int:
    """Write the output with the chosen stitching; returns the number of tiles computed."""
    argmax = options.output_type == "argmax"
    predictor = Predictor(model, spec, device, argmax=argmax, precision=options.precision, tta=options.tta)
    if options.batch_size is None:
        options = replace(options, batch_size=auto_batch_size(predictor, spec.tile_size))
        progress.log(f"Batch size {options.batch_size} (automatic, on {device})")
    validity = raster_io.Validity(src, bands, options.mask_geometries)
    region = Window(*(options.window or (0, 0, src.width, src.height)))
    classes = spec.active_classes if argmax else spec.classes
    out_spec = raster_io.OutputSpec(
        width=int(region.width), height=int(region.height), count=1 if argmax else spec.n_classes,
        crs=src.crs, transform=src.window_transform(region), classes=classes if argmax else (),
        band_names=("class",) if argmax else tuple(c.name for c in spec.classes),
        nodata=0 if argmax else None,
        tags={"FLAIR_MODEL": spec.name, "FLAIR_OUTPUT_TYPE": options.output_type,
              "FLAIR_CLASSES": json.dumps([c.as_list() for c in classes]),
              "FLAIR_TILING": f"{spec.tile_size}/{spec.margin}", "FLAIR_STITCH": options.stitch})
    with raster_io.AtomicRasterWriter(output, out_spec) as out:

        def put(block: np.ndarray, window: Window, valid: np.ndarray | None) -> None:
            """Write a block given in raster coordinates, nodata where ``valid`` is False."""
            if valid is not None:
                block = np.where(valid[None], block, 0).astype(np.uint8)
            at = Window(window.col_off - region.col_off, window.row_off - region.row_off,
                        window.width, window.height)
            if valid is not None and not argmax:
                out.write_mask(valid, at)
            out.write(np.ascontiguousarray(block), at)

        if options.stitch == "blend":
            computed = _blend(src, bands, grid, predictor, spec, region, options, validity, put, progress)
        else:
            computed = _pipeline(src, bands, grid, predictor, options, device, out_spec.count,
                                 validity, put, progress)
        progress.check()
        if computed == 0 and grid and options.window is None:
            _refuse_no_data(src, bands, options)
        out.commit()
    return computed


def _refuse_no_data(src, bands: list[int], options: SegmentOptions) -> None:
    """Every pixel of the input is nodata (or outside the mask): there is nothing to segment."""
    nodata = f"nodata value {src.nodata:g}" if src.nodata is not None else "alpha band or mask"
    where = " or outside the mask polygons" if options.mask_geometries else ""
    raise FlairError(f"input raster {options.input} has no data to segment: every pixel of bands {bands} is "
                     f"nodata ({nodata}){where}. Check the bands chosen and the raster's nodata setting (if "
                     f"{'that value' if src.nodata is not None else 'the alpha band'} is real imagery, remove it, "
                     "e.g. gdal_edit.py -unsetnodata FILE). No output was written")


def _blend(src, bands, grid, predictor: Predictor, spec: ModelSpec, region: Window,
           options: SegmentOptions, validity: raster_io.Validity, put, progress: Progress) -> int:
    from . import blend

    active = np.array(spec.active)
    codes = np.array([c.code for c in spec.classes], dtype=np.uint8)

    def finish(probs: np.ndarray, window: Window) -> None:
        valid = validity(src, window)
        if predictor.argmax:
            block = codes[probs.argmax(-1)][None]
        else:
            block = np.rint(probs * 255.0).astype(np.uint8).transpose(2, 0, 1)
        put(block, window, valid)

    def read_tile(t: Tile) -> np.ndarray:
        pixels = raster_io.read_tile(src, bands, t.col, t.row, t.size)
        return options.stretch.apply(pixels) if options.stretch is not None else pixels

    return blend.run(src, grid, read_tile, predictor.probabilities, active, finish, region,
                     options.batch_size, validity, progress)


def _pipeline(src, bands: list[int], grid: list[Tile], predictor: Predictor, options: SegmentOptions,
              device: torch.device, count: int, validity: raster_io.Validity, put, progress: Progress) -> int:
    """Centre-crop stitching: reader thread(s) → bounded queue → model (this thread) → bounded
    queue → writer thread. Each tile writes the part of the output it owns."""
    chunks = _row_chunks(grid, max(options.batch_size, 2))
    n_readers = max(1, options.readers or (4 if device.type == "cuda" else 1))
    stop = threading.Event()
    tiles_in: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH * options.batch_size)
    batches_out: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)

    def read(k: int) -> None:
        with raster_io.open_raster(src.name) as own:  # each thread its own GDAL handle
            for i in range(k, len(chunks), n_readers):
                for work in _read_chunk(own, bands, chunks[i], validity, options.stretch):
                    if not _put(tiles_in, work, stop):
                        return
        _put(tiles_in, None, stop)

    def write() -> None:
        while True:
            try:
                batch = batches_out.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if batch is None:
                return
            for w in batch:
                t = w.tile
                window = Window(t.out_col, t.out_row, t.out_width, t.out_height)
                if w.result is None:
                    put(np.zeros((count, t.out_height, t.out_width), np.uint8), window, w.valid)
                else:
                    rows, cols = t.crop
                    put(w.result[:, rows, cols], window, w.valid)

    computed = 0
    readers = [_Stage(lambda k=k: read(k), f"flair-reader-{k}") for k in range(n_readers)]
    writer = _Stage(write, "flair-writer")
    for t in (*readers, writer):
        t.start()
    try:
        batch: list[_Work] = []
        finished, handled = 0, 0
        while finished < n_readers:
            try:
                item = tiles_in.get(timeout=0.5)
            except queue.Empty:
                _raise_first(readers, writer)
                progress.check()
                continue
            if item is None:
                finished += 1
            else:
                batch.append(item)
            if len(batch) == options.batch_size or (finished == n_readers and batch):
                progress.check()
                _raise_first(readers, writer)
                todo = [w for w in batch if w.pixels is not None]
                if todo:
                    results = predictor(np.stack([w.pixels for w in todo]))
                    for w, r in zip(todo, results):
                        w.result, w.pixels = r, None
                    computed += len(todo)
                if not _put(batches_out, batch, stop):
                    break
                handled += len(batch)
                progress.fraction(handled / len(grid))
                batch = []
        _put(batches_out, None, stop)
        writer.join()
        _raise_first(readers, writer)
    finally:
        stop.set()
        for t in (*readers, writer):
            t.join()
    return computed


def _raise_first(readers: list[_Stage], writer: _Stage) -> None:
    for stage in (*readers, writer):
        if stage.error is not None:
            raise stage.error
