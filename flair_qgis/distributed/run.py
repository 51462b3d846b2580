"""A sharded zone run: plan the blocks, skip the verified shards, run the others (see
:mod:`.executors`), record them in the manifest, and assemble the mosaic."""

from __future__ import annotations

import json
import shutil
import time
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .. import band_sources, raster_io, segment_checks
from ..errors import FlairError
from ..progress import Eta, Progress, duration
from .blocks import (DEFAULT_BLOCK_STEPS, Block, Manifest, job_identity, plan_blocks, remove_leftovers,
                     verified)
from .executors import executor
from .workers import BlockJob, run_block
from ..mosaics import assemble_vrt, write_cog, write_geotiff, zone_raster
from ..segment_options import SegmentRequest


@dataclass
class ZoneOptions:
    """A sharded run. ``segment`` says what and how (its ``read.input`` may be a folder of tiles or
    a VRT, its ``write.output`` a ``.tif``); the mosaic is written as ``output`` with ``.vrt`` over shards
    in ``shards`` (default: the output's name + ``.shards`` beside it), and from it the GeoTIFF
    asked for, ``output`` (with ``cog``, Cloud-Optimised, with overviews). ``cluster`` is a Dask scheduler's address;
    ``workers`` starts a local cluster of that many worker processes; neither: this process."""

    segment: SegmentRequest
    cluster: str | None = None
    workers: int | None = None
    block_size: int | None = None
    cog: bool = False
    shards: Path | None = None


@dataclass
class ZoneResult:
    output: Path  # the GeoTIFF asked for (the COG with ``cog``)
    vrt: Path
    cog: Path | None
    style: Path | None
    shards: Path
    manifest: Path
    blocks: int
    computed: list[str]
    skipped: list[str]
    seconds: float
    dashboard: str | None = None
    records: dict[str, dict] = field(default_factory=dict)


def zone_paths(options: ZoneOptions) -> tuple[Path, Path]:
    """(VRT, shards folder) of a sharded run."""
    out = Path(options.segment.write.output)
    return out.with_suffix(".vrt"), Path(options.shards or out.with_name(out.stem + ".shards"))


def _plan_spec(seg: SegmentRequest, progress: Progress) -> Any:
    """The model's spec with the run's tiling, without downloading a zoo model here."""
    from ..model_resolution import resolve_model, with_tiling
    from ..zoo import get_entry

    choice = seg.model
    if choice.checkpoint is None and choice.name:
        spec = get_entry(choice.name).spec
        if choice.normalisation is not None:
            spec = replace(spec, normalisation=choice.normalisation)
    else:
        _, spec = resolve_model(choice.name, choice.checkpoint, progress, arch=choice.arch, encoder=choice.encoder,
                                n_classes=choice.n_classes, normalisation=choice.normalisation,
                                active_codes=choice.active_codes)
    return with_tiling(spec, choice.preset, choice.tile_size, choice.margin, choice.tile_grid)


def _on_model_grid(zone: Path, seg: SegmentRequest, spec: Any, shards_dir: Path,
                   progress: Progress) -> tuple[Path, SegmentRequest]:
    """The raster the blocks are cut from, and the options every block shares.

    A zone at another resolution than the model's is segmented on a view of the whole zone at
    the model's resolution (the mosaic is then on that grid): resampling each block on its own
    would lay each block's own tile grid. Non-8-bit imagery is stretched with one mapping,
    decided here once for the whole zone rather than by every block."""
    from .. import engine

    read = seg.read
    with raster_io.open_raster(zone) as src:  # checked by check_input (CRS in metres, bands, window)
        bands = read.bands or raster_io.default_bands(src, spec.in_channels)
        if read.stretch is None:
            read = replace(read, stretch=engine.decide_stretch(src, bands, read.value_range, progress))
        if read.resample:
            from .. import resampling

            if resampling.needs_resampling(src, spec.resolution):
                view = resampling.to_model_grid(src, spec.resolution, shards_dir / "model_grid.vrt")
                progress.log(f"The zone's pixels are {src.res[0]:g} m, the model's {spec.resolution:g} m: the "
                             f"blocks are cut from a view of the zone at {spec.resolution:g} m, and the mosaic "
                             "is written at that resolution")
                return view, replace(seg, read=replace(read, resample=False))
    return zone, replace(seg, read=read)


class _ZoneProgress:
    """Per-block progress: the fraction of the zone's pixels done, and an ETA from the pixel rate."""

    def __init__(self, progress: Progress, blocks: list[Block], todo: list[Block], share: float) -> None:
        self.progress, self.share = progress, share
        self.total = sum(b.pixels for b in blocks)
        self.todo_px = sum(b.pixels for b in todo)
        self.done_px = self.total - self.todo_px
        self.computed_px, self.n_done, self.n_todo = 0, 0, len(todo)
        self.eta, self.start = Eta(), time.perf_counter()
        progress.fraction(share * self.done_px / self.total)

    def within(self, block: Block, f: float) -> None:
        self.progress.fraction(self.share * (self.done_px + f * block.pixels) / self.total)

    def finished(self, block: Block, record: dict[str, Any]) -> None:
        self.n_done += 1
        self.done_px += block.pixels
        self.computed_px += block.pixels
        now = time.perf_counter()
        self.eta.add("px", block.pixels, now - self.start)
        self.start = now
        self.progress.fraction(self.share * self.done_px / self.total)
        self.progress.log(f"block {self.n_done}/{self.n_todo} {block.name} ({block.width}×{block.height} px) "
                          f"in {record.get('seconds', 0):.1f} s on {record.get('worker', '?')}: "
                          f"{100 * self.done_px / self.total:.1f} % of the zone, "
                          f"ETA {duration(self.eta.left(px=self.todo_px - self.computed_px))}")


def run_zone(options: ZoneOptions, progress: Progress | None = None,
             task: Callable[..., dict[str, Any]] = run_block) -> ZoneResult:
    """Segment a zone block by block into shards, then assemble them (see the module's doc).

    ``task(job, progress)`` is what runs for each block (default :func:`run_block`); a wrapper
    of it must be importable on the workers."""
    progress = progress or Progress()
    start = time.perf_counter()
    seg = options.segment
    out = Path(seg.write.output)
    if out.suffix.lower() not in {".tif", ".tiff"}:
        raise FlairError(f"output {out} must be a GeoTIFF (.tif): the mosaic is written beside it as .vrt")
    segment_checks.check_settings(seg)
    band_sources.check_early(Path(seg.read.input), seg.read.sources, progress)  # before the shards folder is made
    vrt_path, shards_dir = zone_paths(options)
    made_here = not shards_dir.exists()
    shards_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _run_zone(options, progress, task, start, vrt_path, shards_dir)
    except BaseException:
        if made_here and not any(shards_dir.glob("*.tif")):  # failed before any shard: leave nothing
            shutil.rmtree(shards_dir, ignore_errors=True)
        raise


def _run_zone(options: ZoneOptions, progress: Progress, task: Callable[..., dict[str, Any]], start: float,
              vrt_path: Path, shards_dir: Path) -> ZoneResult:
    """:func:`run_zone` once its shards folder exists."""
    from ..palette import style_path, write_qml

    seg = options.segment
    out = Path(seg.write.output)
    exclude = (shards_dir, out, vrt_path)
    zone = zone_raster(seg.read.input, shards_dir, exclude=exclude)
    segment_checks.check_input(replace(seg.read, input=zone), out)
    spec = _plan_spec(seg, progress)
    zone, seg = _on_model_grid(zone, seg, spec, shards_dir, progress)
    with raster_io.open_raster(zone) as src:
        blocks = plan_blocks(src.width, src.height, spec.tile_size, spec.margin, options.block_size)
        step = spec.tile_size - 2 * spec.margin
        block_px = max(b.width for b in blocks)
        identity = json.loads(json.dumps(job_identity(seg, zone, Path(options.segment.read.input), src, spec,
                                                       options.block_size or step * DEFAULT_BLOCK_STEPS, exclude)))
        zone_size = (src.width, src.height)
    manifest = Manifest.open(shards_dir / "manifest.json", identity, progress)
    remove_leftovers(shards_dir)
    done = verified(blocks, shards_dir, manifest)
    manifest.shards = {k: v for k, v in manifest.shards.items() if k in done}
    todo = [b for b in blocks if b.name not in done]
    progress.log(f"Zone {zone} ({zone_size[0]}×{zone_size[1]} px): {len(blocks)} blocks of up to "
                 f"{block_px} px (tiles {spec.tile_size}/{spec.margin}); {len(done)} shards already "
                 f"complete and verified, {len(todo)} to compute, in {shards_dir}")
    jobs = {b.name: BlockJob(replace(seg, read=replace(seg.read, input=zone.resolve(), window=b.window),
                                     write=replace(seg.write, output=(shards_dir / f"{b.name}.tif").resolve(),
                                                   write_style=False)), b.name) for b in todo}
    by_name = {b.name: b for b in blocks}
    tracker = _ZoneProgress(progress, blocks, todo, share=0.9)
    dashboard = None
    records: dict[str, dict] = {}
    try:
        if todo:
            with executor(options, progress) as (submit_all, dashboard), \
                    closing(submit_all(list(jobs.values()), task, tracker, by_name)) as finished:
                for name, record in finished:
                    manifest.shards[name] = record
                    records[name] = record
                    manifest.save(force=False)
                    tracker.finished(by_name[name], record)
    finally:
        manifest.save()
    remove_leftovers(shards_dir)
    argmax = seg.write.output_type == "argmax"
    assemble_vrt(vrt_path, shards_dir, blocks, argmax)
    style = write_qml(style_path(vrt_path), spec.active_classes) if argmax and seg.write.write_style else None
    progress.check()
    if options.cog:
        progress.log(f"Writing the Cloud-Optimised GeoTIFF {out} with overviews")
        cog = write_cog(vrt_path, out, argmax)
    else:
        progress.log(f"Writing the GeoTIFF {out} from the mosaic {vrt_path.name}")
        cog = None
        write_geotiff(vrt_path, out)
    progress.fraction(1.0)
    seconds = time.perf_counter() - start
    progress.log(f"Wrote {out} ({len(todo)} of {len(blocks)} blocks computed) in {seconds:.1f} s")
    return ZoneResult(output=out, vrt=vrt_path, cog=cog, style=style, shards=shards_dir,
                      manifest=manifest.path, blocks=len(blocks), computed=[b.name for b in todo],
                      skipped=sorted(done), seconds=seconds, dashboard=dashboard, records=records)
