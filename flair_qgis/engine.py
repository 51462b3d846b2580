"""Segment a raster of any size with a FLAIR model, window by window.

raster → tile grid → windows read → normalised batches → model → stitched windows → output
GeoTIFF (+ QML style). Memory holds one batch of tiles, whatever the raster's size.

A request (:class:`.segment_options.SegmentRequest`) says what is read, which model, how it runs
and what is written; it is checked once (:mod:`.segment_checks`) before any model is loaded.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

from . import band_sources, cpu_memory, files, model_source, openvino_backend, pipeline, raster_io, resampling
from .devices import device_name
from .model_source import ModelSource
from .model_spec import ModelSpec
from .errors import FlairError
from .model_resolution import with_tiling
from .normalisation import Stretch, percentile_stretch
from .palette import classes_from_lists, style_path, write_qml
from .progress import Progress
from .segment_checks import check_request
from .segment_options import ReadOptions, SegmentRequest
from .tiling import Tile, check_tile_settings, grid_function, map_origin, within_centres

if TYPE_CHECKING:  # PyTorch is imported when a run uses it: a cached OpenVINO run does not
    import torch

    from .prediction import Predictor

CPU_BATCH = 4  # the automatic batch on the CPU (within cpu_memory.CPU_BATCH_PIXELS)

@dataclass
class SegmentResult:
    output: Path
    style: Path | None
    spec: ModelSpec
    device: str
    tiles: int
    tiles_computed: int
    seconds: float


def segment(request: SegmentRequest, progress: Progress | None = None) -> SegmentResult:
    """Segment ``request.read.input`` into ``request.write.output`` with the model the request names."""
    progress = progress or Progress()
    device = device_name(check_request(request, progress))
    model = model_source.resolve(request.model, device, progress)
    return _segment(model, model.spec, request, progress)


def segment_with(model: "torch.nn.Module | ModelSource", spec: ModelSpec, request: SegmentRequest,
                 progress: Progress | None = None, checked: bool = False) -> SegmentResult:
    """Segment with a model already in memory (any module mapping N×C×H×W to N×classes×H×W), or
    resolved (a :class:`.model_source.ModelSource`: a sharded run's workers keep theirs).
    ``checked``: the request passed :func:`.segment_checks.check_request` already (a block of a
    sharded run, whose zone was checked once)."""
    progress = progress or Progress()
    if not checked:
        check_request(request, progress)
    source = model if isinstance(model, ModelSource) else ModelSource.of_module(model, spec)
    return _segment(source, spec, request, progress)


def _segment(model: ModelSource, spec: ModelSpec, request: SegmentRequest, progress: Progress) -> SegmentResult:
    """A checked request, once the model's bands are found in the input and its band sources."""
    read = request.read
    with band_sources.on_input_grid(read.input, read.bands, read.sources, spec.bands, spec.name, progress) as view:
        read = replace(read, input=view.path, bands=view.bands, sources=None)
        return _segment_bands(model, spec, replace(request, read=read), progress)


def _segment_bands(model: ModelSource, spec: ModelSpec, request: SegmentRequest,
                   progress: Progress) -> SegmentResult:
    """:func:`_segment` once the input holds the model's bands."""
    start = time.perf_counter()
    read, run, choice = request.read, request.run, request.model
    spec = with_tiling(spec, choice.preset, choice.tile_size, choice.margin, choice.tile_grid)
    device = model.device
    output = Path(request.write.output)
    with raster_io.open_raster(read.input) as src:
        if choice.tile_size is None or choice.margin is None:  # both given: checked with the settings
            check_tile_settings(spec.tile_size, spec.margin)
        bands = read.bands or raster_io.bands_for_roles(src, spec.bands)
        raster_io.check_band_count(src, bands, spec.in_channels, spec.bands)
        spec.normalisation.check_bands(len(bands))
        if not read.bands and src.count != len(bands):
            progress.log(f"Using bands {bands} of {src.count} as {', '.join(spec.bands)}")
        if read.stretch is None:
            read = replace(read, stretch=decide_stretch(src, bands, read.value_range, progress))
        if read.resample and resampling.needs_resampling(src, spec.resolution):
            return _segment_resampled(model, spec, replace(request, read=replace(read, bands=bands)), src,
                                      progress, start)
        window = tuple(int(v) for v in read.window) if read.window else None
        # Blending needs every tile that overlaps the window, whole; cropping only those writing in it.
        grid = grid_function(spec.grid, map_origin(src.transform))(
            src.width, src.height, spec.tile_size, spec.margin, window, whole_tiles=run.stitch == "blend")
        batch = cpu_memory.cpu_batch_size(run.batch_size, spec.tile_size) \
            if model.on_cpu and run.batch_size is not None else run.batch_size
        if batch != run.batch_size:
            progress.log(f"Batch lowered from {run.batch_size} to {batch} tile(s) of {spec.tile_size} px on the "
                         "CPU (memory; larger batches are not faster there)")
            run = replace(run, batch_size=batch)
        size = (f"{window[2]}×{window[3]} px (a window at column {window[0]}, row {window[1]} of the "
                f"{src.width}×{src.height} px raster)" if window else f"{src.width}×{src.height} px")
        progress.log(f"{size}, {len(grid)} tiles of {spec.tile_size} px "
                     f"(margin {spec.margin}, {spec.grid} grid), batch {run.batch_size or 'auto'}, on {device}")
        computed = _run(src, bands, grid, model, spec, replace(request, read=read, run=run), output, progress)
    return _finish(spec, request, output, str(device), len(grid), computed, start, progress)


def _finish(spec: ModelSpec, request: SegmentRequest, output: Path, device: str, tiles: int, computed: int,
            start: float, progress: Progress) -> SegmentResult:
    style = None
    if request.write.output_type == "argmax" and request.write.write_style:
        try:
            style = write_qml(style_path(output), spec.active_classes)
        except OSError as e:
            raise FlairError(f"{output} was written but its style {style_path(output)} could not be "
                             f"({e.strerror or e}): free some space, then style the map with "
                             "'Apply FLAIR style' (flair:applystyle)") from None
    seconds = time.perf_counter() - start
    progress.log(f"Wrote {output} ({computed} of {tiles} tiles computed) in {seconds:.1f} s")
    return SegmentResult(output, style, spec, device, tiles, computed, seconds)


def decide_stretch(src, bands: list[int], value_range: tuple[float, float] | None,
                   progress: Progress) -> Stretch | None:
    """How non-8-bit imagery is mapped onto 0–255 (None for 8-bit input): ``value_range`` (low,
    high) for every band when given."""
    if value_range is not None:
        low, high = value_range
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


def _segment_resampled(model: ModelSource, spec: ModelSpec, request: SegmentRequest, src,
                       progress: Progress, start: float) -> SegmentResult:
    """Segment a view of the input at the model's resolution, then put the result back on the
    input's grid (nearest neighbour), nodata where the input has none."""
    read, write = request.read, request.write
    output = Path(write.output)
    res = src.res
    progress.log(f"The input's pixels are {res[0]:g}×{res[1]:g} m, the model's {spec.resolution:g} m: "
                 f"resampling the input to {spec.resolution:g} m for inference"
                 + (" and the result back onto the input's grid" if write.output_grid == "input" else ""))
    window = Window(*(int(v) for v in read.window)) if read.window else None
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
        at_model = output if write.output_grid == "model" else work / "model_grid.tif"
        inner = replace(request, read=replace(read, input=view, resample=False, window=None),
                        write=replace(write, output=at_model,
                                      write_style=write.write_style and write.output_grid == "model"))
        result = _segment(model, spec, inner, progress)
        if write.output_grid == "model":
            return result
        back = resampling.to_input_grid(at_model, src, work / "back.vrt", window)
        _copy_masked(back, at_model, src, read.bands or [], window, output, read.mask_geometries)
        return _finish(result.spec, request, output, result.device, result.tiles, result.tiles_computed,
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


def _run(src, bands: list[int], grid: list[Tile], model: ModelSource, spec: ModelSpec,
         request: SegmentRequest, output: Path, progress: Progress) -> int:
    """Write the output with the chosen stitching; returns the number of tiles computed."""
    read, run, output_type = request.read, request.run, request.write.output_type
    argmax = output_type == "argmax"
    # Cropping keeps each tile's centre only (every tile's output lies there): the model computes no more.
    centre = spec.margin if run.stitch != "blend" and within_centres(grid, spec.margin) else 0
    predictor, run = _predictor(model, spec, run, argmax, centre, progress)
    validity = raster_io.Validity(src, bands, read.mask_geometries)
    region = Window(*(read.window or (0, 0, src.width, src.height)))
    classes = spec.active_classes if argmax else spec.classes
    out_spec = raster_io.OutputSpec(
        width=int(region.width), height=int(region.height), count=1 if argmax else spec.n_classes,
        crs=src.crs, transform=src.window_transform(region), classes=classes if argmax else (),
        band_names=("class",) if argmax else tuple(c.name for c in spec.classes),
        nodata=0 if argmax else None,
        tags={"FLAIR_MODEL": spec.name, "FLAIR_OUTPUT_TYPE": output_type,
              "FLAIR_CLASSES": json.dumps([c.as_list() for c in classes]),
              "FLAIR_TILING": f"{spec.tile_size}/{spec.margin}", "FLAIR_TILE_GRID": spec.grid,
              "FLAIR_STITCH": run.stitch})
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

        if run.stitch == "blend":
            computed = _blend(src, bands, grid, predictor, spec, region, read.stretch, run.batch_size, validity,
                              put, progress)
        else:
            readers = run.readers or (1 if model.on_cpu else 4)
            computed = pipeline.run_cropped(src.name, bands, grid, predictor, out_spec.count, validity, put,
                                            progress, batch_size=run.batch_size, readers=readers,
                                            stretch=read.stretch, centre=centre)
        progress.check()
        if computed == 0 and grid and read.window is None:
            _refuse_no_data(src, bands, read)
        out.commit()
    return computed


def _predictor(model: ModelSource, spec: ModelSpec, run, argmax: bool, centre: int, progress: Progress):
    """The predictor of a run (OpenVINO's or PyTorch's) and the run's settings with its batch decided:
    automatic (4 tiles of 512 px on the CPU, measured on CUDA), then on the CPU checked against the
    free memory (lowered, or refused naming a tile size that fits). With ``centre`` (a margin), the
    model predicts each tile's centre only (:mod:`.centre_crop`)."""

    def torch_predictor() -> "Predictor":
        import torch

        from .centre_crop import centre_model
        from .prediction import Predictor

        return Predictor(centre_model(model.module(), centre), spec, torch.device(model.device), argmax=argmax,
                         precision=run.precision, tta=run.tta)

    batch, predictor = run.batch_size, None
    if model.on_cpu:
        if batch is None:
            batch = cpu_memory.cpu_batch_size(CPU_BATCH, spec.tile_size)
            progress.log(f"Batch size {batch} (automatic, on cpu)")
        predictor = openvino_backend.predictor_for(model, spec, run.backend, batch, progress, torch_predictor,
                                                   run.precision, argmax, run.tta, centre)
    ov = predictor is not None
    if not ov:
        predictor = torch_predictor()
    if batch is None:
        from .prediction import auto_batch_size

        batch = auto_batch_size(predictor, spec.tile_size)
        progress.log(f"Batch size {batch} (automatic, on {model.device})")
    if model.on_cpu:  # OpenVINO's static shapes: probed at the tile size, its figure kept with the model
        probe = predictor.probabilities if run.stitch == "blend" else predictor
        fits = cpu_memory.fit_batch(probe, spec.in_channels, spec.tile_size, spec.margin, batch, progress,
                                    measure=predictor.measure if ov else None,
                                    probe_size=spec.tile_size if ov else None)
        if ov and fits < batch:
            predictor = predictor.rebatched(fits)
        batch = fits
    return predictor, replace(run, batch_size=batch)


def _refuse_no_data(src, bands: list[int], read: ReadOptions) -> None:
    """Every pixel of the input is nodata (or outside the mask): there is nothing to segment."""
    nodata = f"nodata value {src.nodata:g}" if src.nodata is not None else "alpha band or mask"
    where = " or outside the mask polygons" if read.mask_geometries else ""
    raise FlairError(f"input raster {read.input} has no data to segment: every pixel of bands {bands} is "
                     f"nodata ({nodata}){where}. Check the bands chosen and the raster's nodata setting (if "
                     f"{'that value' if src.nodata is not None else 'the alpha band'} is real imagery, remove it, "
                     "e.g. gdal_edit.py -unsetnodata FILE). No output was written")


def _blend(src, bands, grid, predictor: Predictor, spec: ModelSpec, region: Window,
           stretch: Stretch | None, batch_size: int, validity: raster_io.Validity, put, progress: Progress) -> int:
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
        return stretch.apply(pixels) if stretch is not None else pixels

    return blend.run(src, grid, read_tile, predictor.probabilities, active, finish, region,
                     batch_size, validity, progress)
