"""A segmentation request checked once, before any model is downloaded or loaded: its settings
(:func:`check_settings`), its input raster (:func:`check_input`) and the layers besides it
(:func:`.band_sources.check_early`). :func:`.engine.segment` and :func:`.engine.segment_with`
run :func:`check_request`; a sharded run (:mod:`.distributed`) runs the same checks on the zone."""

from __future__ import annotations

from pathlib import Path

from . import band_sources, openvino_backend, raster_io, resampling
from .choices import OUTPUT_GRIDS, OUTPUT_TYPES, PRECISIONS, STITCHES, TILE_GRIDS, check_choice
from .errors import FlairError
from .progress import Progress
from .segment_options import ReadOptions, SegmentRequest
from .tiling import check_tile_settings


def check_request(request: SegmentRequest, progress: Progress | None = None) -> str:
    """Refuse bad settings, a bad input and bad band sources; returns the device asked for
    (``device_for`` the backend)."""
    device = check_settings(request)
    output = Path(request.write.output)
    if output.suffix.lower() not in {".tif", ".tiff"}:
        raise FlairError(f"output {output} must be a GeoTIFF (.tif)")
    raster_io.check_output_folder(output)
    check_input(request.read, output)
    band_sources.check_early(Path(request.read.input), request.read.sources, progress)
    return device


def check_settings(request: SegmentRequest) -> str:
    """The settings' choices and numbers, without opening anything; returns the device the
    backend runs on."""
    run, write, model = request.run, request.write, request.model
    device = openvino_backend.device_for(run.backend, run.device)
    check_choice("output type", write.output_type, OUTPUT_TYPES)
    check_choice("precision", run.precision, PRECISIONS)
    check_choice("stitching", run.stitch, STITCHES)
    if run.batch_size is not None and run.batch_size < 1:
        raise FlairError(f"batch size must be at least 1 (or empty for automatic), got {run.batch_size}")
    check_choice("output grid", write.output_grid, OUTPUT_GRIDS)
    if model.tile_grid is not None:
        check_choice("tile grid", model.tile_grid, TILE_GRIDS)
    value_range = request.read.value_range
    if value_range is not None and not value_range[1] > value_range[0]:
        raise FlairError(f"value range {value_range}: the high value must exceed the low one")
    if model.tile_size is not None and model.margin is not None:
        check_tile_settings(model.tile_size, model.margin)
    return device


def check_input(read: ReadOptions, output: Path) -> None:
    """The input raster: readable, not the output, georeferenced in metres, not empty, with the
    bands named and the window inside it."""
    with raster_io.open_raster(read.input) as src:
        if Path(read.input).resolve() == Path(output).resolve():
            raise FlairError(f"the output {output} is the input raster: choose another output file")
        resampling.check_crs(src)
        raster_io.check_band_numbers(src, read.bands or [])
        if src.width < 1 or src.height < 1:
            raise FlairError(f"input raster {read.input} is empty ({src.width}×{src.height} px): "
                             "choose a raster with data")
        if read.window is not None:
            check_window(read.window, src.width, src.height)


def check_window(window: tuple[int, int, int, int], width: int, height: int) -> None:
    """``window`` (col, row, width, height) lies inside a ``width``×``height`` px raster."""
    col, row, w, h = (int(v) for v in window)
    if w <= 0 or h <= 0 or col < 0 or row < 0 or col + w > width or row + h > height:
        raise FlairError(f"window {window} (col, row, width, height) is not inside the "
                         f"{width}×{height} px raster")
