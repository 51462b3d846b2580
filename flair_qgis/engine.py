"""Segment a raster of any size with a FLAIR model, window by window.

raster → tile grid → windows read → normalised batches → model → stitched windows → output
GeoTIFF (+ QML style). Memory holds one batch of tiles, whatever the raster's size.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from . import band_sources, cpu_memory, files, openvino_backend, pipeline, raster_io, resampling
from .choices import OUTPUT_GRIDS, OUTPUT_TYPES, PRECISIONS, STITCHES, TILE_GRIDS, check_choice
from .checkpoints import load_weights
from .model_spec import ModelSpec
from .errors import FlairError
from .model_resolution import resolve_model, with_tiling
from .normalisation import Normalisation, Stretch, percentile_stretch
from .palette import classes_from_lists, style_path, write_qml
from .progress import Progress
from .prediction import Predictor, auto_batch_size, cpu_batch_size, pick_device
from .tiling import Tile, check_tile_settings, grid_function, map_origin



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
    overlapping tiles' probabilities with a smooth window; slower, seamless). ``tile_grid`` is
    ``model`` (None: the model's grid, flair-detect's for IGN's models, following the raster's own
    size) or ``map-anchored`` (tiles at fixed multiples of their step in the CRS: rasters of the same
    ground on the same pixel grid get the same tiles and pixels, e.g. two dates of a land take).
    ``backend`` is the inference runtime: ``auto`` (OpenVINO on the CPU when installed, PyTorch on
    CUDA), ``torch`` or ``openvino`` (CPU only; see :mod:`openvino_backend`).

    An input whose pixel size differs from the model's by more than 10 % is resampled to the
    model's (``resample``) and the result written back on the input's grid (``output_grid``
    ``input``) or left at the model's (``model``). Imagery that is not 8-bit is mapped onto 0–255:
    by ``value_range`` (low, high) for every band, or else — unless its values already lie within
    0–255 — by each band's 2–98 % percentiles (``stretch`` holds the mapping once decided).
    ``mask_geometries`` (GeoJSON-like polygons in
    the input's CRS) limit the output to their inside; tiles wholly outside are not computed.
    ``active_codes`` (class codes) overrides the classes the model may predict (see
    :mod:`model_resolution`).

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
    active_codes: list[int] | None = None
    sources: band_sources.BandSources | None = None  # IRC / elevation / DSM+DTM layers besides INPUT
    tile_grid: str | None = None  # None/"model": the model's; "map-anchored": fixed in map coordinates
    backend: str = "auto"


@dataclass
class SegmentResult:
    output: Path
    style: Path | None
    spec: ModelSpec
    device: str
    tiles: int
    tiles_computed: int
    seconds: float


def _check_window(window: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    col, row, w, h = (int(v) for v in window)
    if w <= 0 or h <= 0 or col < 0 or row < 0 or col + w > width or row + h > height:
        raise FlairError(f"window {window} (col, row, width, height) is not inside the "
                         f"{width}×{height} px raster")
    return col, row, w, h


def _check_request(options: SegmentOptions) -> None:
    """Refuse bad settings and a bad input before any model is downloaded or loaded."""
    check_choice("output type", options.output_type, OUTPUT_TYPES)
    check_choice("precision", options.precision, PRECISIONS)
    check_choice("stitching", options.stitch, STITCHES)
    openvino_backend.device_for(options.backend, options.device)
    if options.batch_size is not None and options.batch_size < 1:
        raise FlairError(f"batch size must be at least 1 (or empty for automatic), got {options.batch_size}")
    check_choice("output grid", options.output_grid, OUTPUT_GRIDS)
    if options.tile_grid is not None:
        check_choice("tile grid", options.tile_grid, TILE_GRIDS)
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
    device = pick_device(openvino_backend.device_for(options.backend, options.device))
    _check_request(options)
    ckpt, spec = resolve_model(options.model, options.checkpoint, progress, arch=options.arch,
                               encoder=options.encoder, n_classes=options.n_classes,
                               normalisation=options.normalisation, active_codes=options.active_codes)
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
    spec = with_tiling(spec, options.preset, options.tile_size, options.margin, options.tile_grid)
    device = next(model.parameters()).device
    output = Path(options.output)
    with raster_io.open_raster(options.input) as src:
        check_tile_settings(spec.tile_size, spec.margin)
        bands = options.bands or raster_io.bands_for_roles(src, spec.bands)
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
        grid = grid_function(spec.grid, map_origin(src.transform))(
            src.width, src.height, spec.tile_size, spec.margin, window, whole_tiles=options.stitch == "blend")
        batch = cpu_batch_size(options.batch_size, spec.tile_size, device)
        if batch != options.batch_size:
            progress.log(f"Batch lowered from {options.batch_size} to {batch} tile(s) of {spec.tile_size} px on the "
                         "CPU (memory; larger batches are not faster there)")
            options = replace(options, batch_size=batch)
        size = (f"{window[2]}×{window[3]} px (a window at column {window[0]}, row {window[1]} of the "
                f"{src.width}×{src.height} px raster)" if window else f"{src.width}×{src.height} px")
        progress.log(f"{size}, {len(grid)} tiles of {spec.tile_size} px "
                     f"(margin {spec.margin}, {spec.grid} grid), batch {options.batch_size or 'auto'}, on {device}")
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
                  f"each band's 2–98 % percentiles ({ranges}) onto 0–255; to choose the values "
                  "mapped instead, give VALUE_RANGE min,max (flair:segment, advanced; --value-range on the command "
                  "line), e.g. 0,4095 for 12-bit imagery")
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
    files.remove_stale_temporaries(output)
    try:
        work = files.temporary_folder(output, ".resample")
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


def _run(src, bands: list[int], grid: list[Tile], model: torch.nn.Module, spec: ModelSpec,
         options: SegmentOptions, device: torch.device, output: Path, progress: Progress) -> int:
    """Write the output with the chosen stitching; returns the number of tiles computed."""
    argmax = options.output_type == "argmax"
    predictor = Predictor(model, spec, device, argmax=argmax, precision=options.precision, tta=options.tta)
    if options.batch_size is None:
        options = replace(options, batch_size=auto_batch_size(predictor, spec.tile_size))
        progress.log(f"Batch size {options.batch_size} (automatic, on {device})")
    if device.type == "cpu":  # measured against the free memory: lowered, or refused naming a tile size that fits
        probe = predictor.probabilities if options.stitch == "blend" else predictor
        options = replace(options, batch_size=cpu_memory.fit_batch(
            probe, spec.in_channels, spec.tile_size, spec.margin, options.batch_size, progress))
    predictor = openvino_backend.predictor_for(predictor, options.backend, options.batch_size, spec.tile_size,
                                               progress, options.precision)
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
              "FLAIR_TILING": f"{spec.tile_size}/{spec.margin}", "FLAIR_TILE_GRID": spec.grid,
              "FLAIR_STITCH": options.stitch})
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
            readers = options.readers or (4 if device.type == "cuda" else 1)
            computed = pipeline.run_cropped(src.name, bands, grid, predictor, out_spec.count, validity, put,
                                            progress, batch_size=options.batch_size, readers=readers,
                                            stretch=options.stretch)
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
