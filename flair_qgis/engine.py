"""Segment a raster of any size with a FLAIR model, window by window.

raster → tile grid → windows read → normalised batches → model → stitched windows → output
GeoTIFF (+ QML style). Memory holds one batch of tiles, whatever the raster's size.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from rasterio.windows import Window

from . import raster_io
from .checkpoints import (Checkpoint, ModelSpec, default_classes, load_weights, read_checkpoint,
                          spec_for_entry)
from .errors import FlairError
from .normalisation import Normalisation
from .palette import style_path, write_qml
from .progress import Progress
from .tiling import Tile, check_tile_settings, tile_grid
from .zoo import RGBIE, entry_for_file, fetch, get_entry

OUTPUT_TYPES = ("argmax", "class_prob")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class SegmentOptions:
    """What to segment, with which model, and how.

    Give ``model`` (a zoo name), ``checkpoint`` (a local file), or both (local weights of a zoo
    model). ``None`` settings come from the model: tile size and margin (512/128), bands (the
    first non-alpha bands), normalisation. ``arch``/``encoder``/``n_classes`` describe a bare
    checkpoint that carries no metadata (defaults: unet, resnet34, its head size).
    """

    input: Path
    output: Path
    model: str | None = None
    checkpoint: Path | None = None
    bands: list[int] | None = None
    tile_size: int | None = None
    margin: int | None = None
    batch_size: int = 4
    device: str = "auto"
    output_type: str = "argmax"
    normalisation: Normalisation | None = None
    arch: str | None = None
    encoder: str | None = None
    n_classes: int | None = None
    write_style: bool = True


@dataclass
class SegmentResult:
    output: Path
    style: Path | None
    spec: ModelSpec
    device: str
    tiles: int
    tiles_computed: int
    seconds: float
    messages: list[str] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present; asking for CUDA without it is an error."""
    name = {"gpu": "cuda"}.get(name.lower(), name.lower())
    if name not in DEVICES:
        raise FlairError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise FlairError("device 'cuda' was asked for but PyTorch sees no CUDA GPU here: use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


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
    if options.tile_size or options.margin is not None:
        spec = replace(spec, tile_size=options.tile_size or spec.tile_size,
                       margin=spec.margin if options.margin is None else options.margin)
    return ckpt, spec


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


def _batches(tiles: list[Tile], size: int) -> Iterator[list[Tile]]:
    for i in range(0, len(tiles), size):
        yield tiles[i:i + size]


def _window(tile: Tile) -> Window:
    return Window(tile.out_col, tile.out_row, tile.out_width, tile.out_height)


def _check_request(options: SegmentOptions) -> None:
    """Refuse bad settings and a bad input before any model is downloaded or loaded."""
    if options.output_type not in OUTPUT_TYPES:
        raise FlairError(f"unknown output type {options.output_type!r}: use {' or '.join(OUTPUT_TYPES)}")
    if options.batch_size < 1:
        raise FlairError(f"batch size must be at least 1, got {options.batch_size}")
    output = Path(options.output)
    if output.suffix.lower() not in {".tif", ".tiff"}:
        raise FlairError(f"output {output} must be a GeoTIFF (.tif)")
    with raster_io.open_raster(options.input) as src:
        if Path(options.input).resolve() == output.resolve():
            raise FlairError(f"the output {output} is the input raster: choose another output file")
        if src.crs is None:
            raise FlairError(f"input raster {options.input} has no CRS: assign one (in QGIS, Layer "
                             "Properties → Source; or gdal_edit.py -a_srs EPSG:2154 FILE)")


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
    start = time.perf_counter()
    _check_request(options)
    device = next(model.parameters()).device
    output = Path(options.output)
    with raster_io.open_raster(options.input) as src:
        check_tile_settings(spec.tile_size, spec.margin)
        bands = options.bands or raster_io.default_bands(src, spec.in_channels)
        raster_io.check_bands(src, bands, spec.in_channels, spec.bands)
        spec.normalisation.check_bands(len(bands))
        if not options.bands and src.count != len(bands):
            progress.log(f"Using bands {bands} of {src.count} as {', '.join(spec.bands)}")
        res = abs(src.transform.a)
        if src.crs.is_projected and abs(res - spec.resolution) > 0.25 * spec.resolution:
            progress.warn(f"the input's pixel size is {res:g}, the model was trained at "
                          f"{spec.resolution:g} m: results may be poor (resample the input first)")
        grid = tile_grid(src.width, src.height, spec.tile_size, spec.margin)
        progress.log(f"{src.width}×{src.height} px, {len(grid)} tiles of {spec.tile_size} px "
                     f"(margin {spec.margin}), batch {options.batch_size}, on {device}")
        computed = _run(src, bands, grid, model, spec, options, device, output, progress)
    style = None
    if options.output_type == "argmax" and options.write_style:
        style = write_qml(style_path(output), spec.active_classes)
    seconds = time.perf_counter() - start
    progress.log(f"Wrote {output} ({computed} of {len(grid)} tiles computed) in {seconds:.1f} s")
    return SegmentResult(output, style, spec, str(device), len(grid), computed, seconds)


def _run(src, bands: list[int], grid: list[Tile], model: torch.nn.Module, spec: ModelSpec,
         options: SegmentOptions, device: torch.device, output: Path, progress: Progress) -> int:
    argmax = options.output_type == "argmax"
    inactive = torch.tensor([not a for a in spec.active], device=device)
    codes = np.array([c.code for c in spec.classes], dtype=np.uint8)
    check_nodata = raster_io.has_nodata(src)
    out_spec = raster_io.OutputSpec(
        width=src.width, height=src.height, count=1 if argmax else spec.n_classes, crs=src.crs,
        transform=src.transform, classes=spec.active_classes if argmax else (),
        band_names=("class",) if argmax else tuple(c.name for c in spec.classes),
        nodata=0 if argmax else None,
        tags={"FLAIR_MODEL": spec.name, "FLAIR_OUTPUT_TYPE": options.output_type,
              "FLAIR_CLASSES": json.dumps([c.as_list() for c in (spec.active_classes if argmax else spec.classes)]),
              "FLAIR_TILING": f"{spec.tile_size}/{spec.margin}"})
    computed = 0
    with raster_io.AtomicRasterWriter(output, out_spec) as out:
        for done, batch in enumerate(_batches(grid, options.batch_size)):
            progress.check()
            todo = []
            for tile in batch:
                window = _window(tile)
                valid = raster_io.read_valid(src, bands, window) if check_nodata else None
                if valid is not None and not valid.any():
                    out.write(np.zeros((out_spec.count, tile.out_height, tile.out_width), np.uint8), window)
                    if not argmax:
                        out.write_mask(valid, window)
                    continue
                todo.append((tile, window, valid, raster_io.read_tile(src, bands, tile.col, tile.row, tile.size)))
            if todo:
                x = torch.from_numpy(spec.normalisation.apply(np.stack([t[3] for t in todo]))).to(device)
                with torch.inference_mode():
                    logits = model(x).float().masked_fill(inactive[None, :, None, None], float("-inf"))
                    if argmax:
                        result = codes[logits.argmax(dim=1).cpu().numpy()][:, None]
                    else:
                        probs = torch.softmax(logits, dim=1) * 255.0
                        result = probs.round_().to(torch.uint8).cpu().numpy()
                for (tile, window, valid, _), pred in zip(todo, result):
                    rows, cols = tile.crop
                    block = pred[:, rows, cols]
                    if valid is not None:
                        block = np.where(valid[None], block, 0).astype(np.uint8)
                        if not argmax:
                            out.write_mask(valid, window)
                    out.write(np.ascontiguousarray(block), window)
                computed += len(todo)
            progress.fraction(min(1.0, (done + 1) * options.batch_size / len(grid)))
        progress.check()
        out.commit()
    return computed
