"""Sharded zone runs: one zone (a VRT, a raster, or a folder of orthophoto tiles) cut into blocks
on the whole zone's tile grid, each block segmented as its own task — in this process, on a local
cluster of worker processes, or on a Dask cluster of many machines — into its own GeoTIFF shard.

zone → blocks (aligned on the tile grid) → one task per block: ``segment_with(window=block)`` on
a model each worker loads once → shard + sha256 → manifest → VRT of the shards (+ optional COG).

A block is segmented with :class:`~flair_qgis.engine.SegmentOptions` ``window``: the tiles that own
its pixels are those of the whole zone's grid, read with their halo from the zone itself, so the
shards put together equal, pixel for pixel, a single run over the whole zone. Shards are written
under a temporary name and renamed when complete; the manifest (JSON, replaced atomically)
records each finished shard's sha256, so that a job started again with the same settings skips
the shards that are complete and verified and recomputes only the others. A worker that dies
mid-block has its block recomputed elsewhere by Dask's scheduler.

Every machine must see the zone, the model file and the output folder at the same paths (a shared
file system); zoo models are fetched into each machine's own HuggingFace cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from . import raster_io
from .errors import Cancelled, FlairError
from .progress import Progress

MANIFEST_FORMAT = "flair-qgis-shards"
MANIFEST_VERSION = 1
DEFAULT_BLOCK_STEPS = 16  # a block is this many tile steps wide and high: 4096 px at 512/128
RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".vrt", ".img"}
MANIFEST_EVERY_S = 2.0  # the manifest is rewritten at most this often while blocks complete


# --- zones -----------------------------------------------------------------------------------

def zone_raster(path: Path | str, work_dir: Path, exclude: tuple[Path, ...] = ()) -> Path:
    """The raster to segment for ``path``: itself for a file (a VRT, a GeoTIFF), or a VRT built in
    ``work_dir`` over every raster file found in a folder (recursively; ``exclude`` skipped)."""
    path = Path(path)
    if not path.exists():
        raise FlairError(f"input {path} does not exist")
    if not path.is_dir():
        return path
    files = zone_files(path, exclude)
    if not files:
        raise FlairError(f"the folder {path} holds no raster files ({', '.join(sorted(RASTER_SUFFIXES))})")
    return build_vrt(files, work_dir / "zone.vrt")


def zone_files(folder: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The raster files of a folder of tiles, recursively, without hidden ones, shard folders and
    ``exclude`` (files or folders)."""
    skip = [p.resolve() for p in exclude]
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in RASTER_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") or part.endswith(".shards") for part in p.relative_to(folder).parts)
                  and not any(p.resolve() == s or s in p.resolve().parents for s in skip))


def build_vrt(files: list[Path], vrt_path: Path) -> Path:
    """A mosaic VRT of ``files`` (same CRS, pixel size, bands and type, on one pixel grid), with
    absolute paths. Where the files leave gaps and declare no nodata nor alpha, an alpha band
    marks the gaps, so that they are nodata (not computed) rather than black orthophoto."""
    import rasterio
    from rasterio.dtypes import _gdal_typename

    infos = []
    for f in files:
        try:
            with rasterio.open(f) as src:
                infos.append(dict(path=f.resolve(), crs=src.crs, res=src.res, count=src.count,
                                  dtypes=src.dtypes, bounds=src.bounds, width=src.width, height=src.height,
                                  nodata=src.nodata, colorinterp=src.colorinterp,
                                  block=src.block_shapes[0], rotated=src.transform.b != 0 or src.transform.d != 0))
        except rasterio.errors.RasterioError as e:
            raise FlairError(f"{f} cannot be read as a raster ({e})") from None
    first = infos[0]
    if first["crs"] is None:
        raise FlairError(f"{first['path']} has no CRS: assign one to the tiles (gdal_edit.py -a_srs EPSG:2154)")
    for i in infos:
        why = ("its CRS differs" if i["crs"] != first["crs"] else
               "its pixel size differs" if any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(i["res"], first["res"])) else
               "its number of bands differs" if i["count"] != first["count"] else
               "its data type differs" if i["dtypes"] != first["dtypes"] else
               "it is rotated" if i["rotated"] else None)
        if why:
            raise FlairError(f"{i['path']} cannot join {first['path']} in one zone: {why}; "
                             "reproject or resample the tiles to one grid first (gdalwarp)")
    xres, yres = first["res"]
    left = min(i["bounds"].left for i in infos)
    top = max(i["bounds"].top for i in infos)
    right = max(i["bounds"].right for i in infos)
    bottom = min(i["bounds"].bottom for i in infos)
    width, height = round((right - left) / xres), round((top - bottom) / yres)
    for i in infos:
        x, y = (i["bounds"].left - left) / xres, (top - i["bounds"].top) / yres
        if abs(x - round(x)) > 1e-3 or abs(y - round(y)) > 1e-3:
            raise FlairError(f"{i['path']} is not on the pixel grid of {first['path']} (offset of "
                             f"{x - round(x):.3f}, {y - round(y):.3f} px): resample it onto one grid first")
        i["x"], i["y"] = round(x), round(y)
    nodata = first["nodata"]
    has_alpha = any(ci.name == "alpha" for ci in first["colorinterp"])
    covered = sum(i["width"] * i["height"] for i in infos)
    add_alpha = nodata is None and not has_alpha and covered < width * height

    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = first["crs"].to_wkt()
    ET.SubElement(root, "GeoTransform").text = f"{left!r}, {xres!r}, 0.0, {top!r}, 0.0, {-yres!r}"

    def source(band_el: ET.Element, info: dict, band: int, kind: str = "SimpleSource") -> ET.Element:
        s = ET.SubElement(band_el, kind)
        ET.SubElement(s, "SourceFilename", relativeToVRT="0").text = str(info["path"])
        ET.SubElement(s, "SourceBand").text = str(band)
        ET.SubElement(s, "SourceProperties", RasterXSize=str(info["width"]), RasterYSize=str(info["height"]),
                      DataType=_gdal_typename(info["dtypes"][band - 1]),
                      BlockXSize=str(info["block"][1]), BlockYSize=str(info["block"][0]))
        ET.SubElement(s, "SrcRect", xOff="0", yOff="0", xSize=str(info["width"]), ySize=str(info["height"]))
        ET.SubElement(s, "DstRect", xOff=str(info["x"]), yOff=str(info["y"]), xSize=str(info["width"]),
                      ySize=str(info["height"]))
        return s

    for b in range(1, first["count"] + 1):
        band = ET.SubElement(root, "VRTRasterBand", dataType=_gdal_typename(first["dtypes"][b - 1]), band=str(b))
        if nodata is not None:
            ET.SubElement(band, "NoDataValue").text = repr(float(nodata))
        ET.SubElement(band, "ColorInterp").text = first["colorinterp"][b - 1].name.capitalize()
        for info in infos:
            if nodata is not None:
                ET.SubElement(source(band, info, b, "ComplexSource"), "NODATA").text = repr(float(nodata))
            else:
                source(band, info, b)
    if add_alpha:  # gdalbuildvrt -addalpha: 255 wherever a file lies, 0 in the gaps
        band = ET.SubElement(root, "VRTRasterBand", dataType="Byte", band=str(first["count"] + 1))
        ET.SubElement(band, "ColorInterp").text = "Alpha"
        for info in infos:
            s = source(band, info, 1, "ComplexSource")
            ET.SubElement(s, "ScaleOffset").text = "255"
            ET.SubElement(s, "ScaleRatio").text = "0"
    _write_text(vrt_path, ET.tostring(root, encoding="unicode"))
    return vrt_path


# --- blocks ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A part of the zone (col, row, width, height in zone pixels) written as one shard."""

    col: int
    row: int
    width: int
    height: int

    @property
    def window(self) -> tuple[int, int, int, int]:
        return (self.col, self.row, self.width, self.height)

    @property
    def name(self) -> str:
        return f"r{self.row:07d}_c{self.col:07d}"

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _edges(bounds: list[int], every: int, from_end: bool) -> list[int]:
    """Every ``every``-th of the tile boundaries ``bounds`` (first and last always kept)."""
    picked = bounds[::-every][::-1] if from_end else bounds[::every]
    return sorted({bounds[0], bounds[-1], *picked})


def plan_blocks(width: int, height: int, tile_size: int, margin: int, block_size: int | None = None) -> list[Block]:
    """Blocks covering a width×height zone, their edges on the edges of the pixels the tiles own
    (so no tile is computed for two blocks), ``block_size`` px (rounded to a whole number of tile
    steps) wide and high. Columns are laid from the left and rows from the bottom, as the tile
    grid is: only the blocks next to the right and top edges (where the grid's last tiles are
    moved back) are smaller. Top row first."""
    from .tiling import tile_grid

    step = tile_size - 2 * margin
    steps = DEFAULT_BLOCK_STEPS if block_size is None else max(1, round(block_size / step))
    cols = sorted({t.out_col for t in tile_grid(width, 1, tile_size, margin)} | {width})
    rows = sorted({t.out_row for t in tile_grid(1, height, tile_size, margin)} | {height})
    xs, ys = _edges(cols, steps, from_end=False), _edges(rows, steps, from_end=True)
    return [Block(x0, y0, x1 - x0, y1 - y0) for y0, y1 in zip(ys, ys[1:]) for x0, x1 in zip(xs, xs[1:])]


# --- the task each worker runs -----------------------------------------------------------------

@dataclass
class BlockJob:
    """One block to segment: ``options`` has the zone as input, the shard as output and the
    block as window. ``torch_threads`` maps a worker's host to the torch threads each worker
    process there should use (Dask starts workers with one OpenMP thread)."""

    options: Any  # SegmentOptions
    name: str
    torch_threads: dict[str, int] = field(default_factory=dict)


_MODELS: dict[tuple, tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()
MODEL_LOADS = {"count": 0}  # how many models this process has loaded (a worker: once per model)


def _model_key(options: Any) -> tuple:
    ckpt = Path(options.checkpoint).resolve() if options.checkpoint else None
    stamp = (ckpt.stat().st_size, ckpt.stat().st_mtime_ns) if ckpt and ckpt.exists() else None
    norm = options.normalisation.as_dict() if options.normalisation else None
    return (options.model, str(ckpt) if ckpt else None, stamp, options.arch, options.encoder,
            options.n_classes, json.dumps(norm, sort_keys=True), options.device,
            tuple(options.active_codes or ()))


def cached_model(options: Any) -> tuple[Any, Any]:
    """The model and spec ``options`` name, loaded once per process (on its GPU when it has one)
    and kept for the next blocks."""
    from .checkpoints import load_weights
    from .model_resolution import resolve_model
    from .prediction import pick_device

    key = _model_key(options)
    with _MODELS_LOCK:
        if key not in _MODELS:
            device = pick_device(options.device)
            ckpt, spec = resolve_model(options.model, options.checkpoint, Progress(), arch=options.arch,
                                       encoder=options.encoder, n_classes=options.n_classes,
                                       normalisation=options.normalisation, active_codes=options.active_codes)
            model = load_weights(ckpt, spec, device)
            if len(_MODELS) >= 2:  # a worker serving a third model forgets the oldest
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[key] = (model, spec)
            MODEL_LOADS["count"] += 1
        return _MODELS[key]


def _worker_host() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):
        return None


def _set_torch_threads(job: BlockJob) -> None:
    import torch

    wanted = os.environ.get("FLAIR_TORCH_THREADS")
    n = int(wanted) if wanted else job.torch_threads.get(_worker_host() or "", 0)
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(chunk):
            h.update(data)
    return h.hexdigest()


def run_block(job: BlockJob, progress: Progress | None = None) -> dict[str, Any]:
    """Segment one block into its shard (on a worker, or in this process); what to record."""
    from .engine import segment_with

    start = time.perf_counter()
    _set_torch_threads(job)
    model, spec = cached_model(job.options)
    result = segment_with(model, spec, job.options, progress or Progress())
    out = Path(result.output)
    return {"name": job.name, "window": list(job.options.window), "sha256": sha256_file(out),
            "bytes": out.stat().st_size, "seconds": round(time.perf_counter() - start, 3),
            "tiles": result.tiles, "computed": result.tiles_computed, "device": result.device,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "torch_threads": _torch_threads()}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# --- the manifest ------------------------------------------------------------------------------

class Manifest:
    """``manifest.json`` in the shards folder: the job's settings and each finished shard's
    sha256, rewritten atomically (at most every :data:`MANIFEST_EVERY_S` s, and at the end)."""

    def __init__(self, path: Path, job: dict[str, Any], shards: dict[str, dict] | None = None) -> None:
        self.path, self.job, self.shards = path, job, shards or {}
        self._saved = 0.0

    @classmethod
    def open(cls, path: Path, job: dict[str, Any], progress: Progress) -> "Manifest":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, job)
        except (OSError, ValueError) as e:
            progress.warn(f"the manifest {path} cannot be read ({e}): every shard is recomputed")
            return cls(path, job)
        if data.get("format") != MANIFEST_FORMAT or data.get("job") != job:
            progress.log(f"{path.parent} holds shards of other settings or another zone: recomputing all")
            return cls(path, job)
        return cls(path, job, dict(data.get("shards", {})))

    def save(self, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._saved < MANIFEST_EVERY_S:
            return
        data = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "job": self.job,
                "shards": dict(sorted(self.shards.items()))}
        _write_text(self.path, json.dumps(data, indent=1))
        self._saved = now


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from the other users of a shared folder
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _verified(blocks: list[Block], shards_dir: Path, manifest: Manifest) -> set[str]:
    """Names of the blocks whose shard is on disk with the size and sha256 the manifest records."""

    def ok(b: Block) -> bool:
        entry = manifest.shards.get(b.name)
        path = shards_dir / f"{b.name}.tif"
        if not entry or not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return False
        return sha256_file(path) == entry.get("sha256")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {b.name for b, good in zip(blocks, pool.map(ok, blocks)) if good}


# --- running a zone ----------------------------------------------------------------------------

@dataclass
class ZoneOptions:
    """A sharded run. ``segment`` says what and how (its ``input`` may be a folder of tiles or a
    VRT, its ``output`` a ``.tif``); the mosaic is written as ``output`` with ``.vrt`` over shards
    in ``shards`` (default: the output's name + ``.shards`` beside it), and with ``cog`` also as
    one Cloud-Optimised GeoTIFF at ``output``. ``cluster`` is a Dask scheduler's address;
    ``workers`` starts a local cluster of that many worker processes; neither: this process."""

    segment: Any  # SegmentOptions
    cluster: str | None = None
    workers: int | None = None
    block_size: int | None = None
    cog: bool = False
    shards: Path | None = None


@dataclass
class ZoneResult:
    output: Path  # the COG when asked for, else the VRT
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
    out = Path(options.segment.output)
    return out.with_suffix(".vrt"), Path(options.shards or out.with_name(out.stem + ".shards"))


def _plan_spec(seg: Any, progress: Progress) -> Any:
    """The model's spec with the run's tiling, without downloading a zoo model here."""
    from .checkpoints import spec_for_entry
    from .model_resolution import resolve_model, with_tiling
    from .zoo import get_entry

    if seg.checkpoint is None and seg.model:
        spec = spec_for_entry(get_entry(seg.model))
        if seg.normalisation is not None:
            spec = replace(spec, normalisation=seg.normalisation)
    else:
        _, spec = resolve_model(seg.model, seg.checkpoint, progress, arch=seg.arch, encoder=seg.encoder,
                                n_classes=seg.n_classes, normalisation=seg.normalisation,
                                active_codes=seg.active_codes)
    return with_tiling(spec, seg.preset, seg.tile_size, seg.margin)


def _on_model_grid(zone: Path, seg: Any, spec: Any, shards_dir: Path, progress: Progress) -> tuple[Path, Any]:
    """The raster the blocks are cut from, and the options every block shares.

    A zone at another resolution than the model's is segmented on a view of the whole zone at
    the model's resolution (the mosaic is then on that grid): resampling each block on its own
    would lay each block's own tile grid. Non-8-bit imagery is stretched with one mapping,
    decided here once for the whole zone rather than by every block."""
    from . import engine

    with raster_io.open_raster(zone) as src:
        if src.crs is None:
            raise FlairError(f"input raster {zone} has no CRS: assign one (gdal_edit.py -a_srs EPSG:2154 FILE)")
        bands = seg.bands or raster_io.default_bands(src, spec.in_channels)
        if seg.stretch is None:
            seg = replace(seg, stretch=engine.decide_stretch(src, bands, seg, progress))
        if seg.resample:
            from . import resampling

            if resampling.needs_resampling(src, spec.resolution):
                view = resampling.to_model_grid(src, spec.resolution, shards_dir / "model_grid.vrt")
                progress.log(f"The zone's pixels are {src.res[0]:g} m, the model's {spec.resolution:g} m: the "
                             f"blocks are cut from a view of the zone at {spec.resolution:g} m, and the mosaic "
                             "is written at that resolution")
                return view, replace(seg, resample=False)
    return zone, seg


# options that do not change a shard's pixels (or that differ per block)
_NOT_IN_IDENTITY = {"input", "output", "window", "write_style", "batch_size", "readers"}


def _job_identity(seg: Any, zone: Path, input_path: Path, src: Any, spec: Any, block_size: int,
                  exclude: tuple[Path, ...]) -> dict[str, Any]:
    """What the shards depend on: a manifest written for anything else is not reused."""
    def stamp(p: Path) -> list:
        s = p.stat()
        return [str(p.resolve()), s.st_size, s.st_mtime_ns]

    inputs = ([stamp(p) for p in zone_files(Path(input_path), exclude)] if Path(input_path).is_dir()
              else [stamp(Path(input_path))])

    ckpt = Path(seg.checkpoint) if seg.checkpoint else None
    settings = {f.name: repr(getattr(seg, f.name)) for f in fields(seg) if f.name not in _NOT_IN_IDENTITY}
    return {"zone": str(zone.resolve()), "inputs": hashlib.sha256(json.dumps(inputs).encode()).hexdigest(),
            "size": [src.width, src.height], "transform": list(src.transform)[:6],
            "crs": src.crs.to_string() if src.crs else None,
            "checkpoint": stamp(ckpt) if ckpt and ckpt.exists() else None,
            "spec": spec.as_dict(), "settings": settings, "block_size": block_size}


def _fmt_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class _Tracker:
    """Per-block progress: fraction of the zone's pixels done and an ETA from the pixel rate."""

    def __init__(self, progress: Progress, blocks: list[Block], todo: list[Block], share: float) -> None:
        self.progress, self.share = progress, share
        self.total = sum(b.pixels for b in blocks)
        self.todo_px = sum(b.pixels for b in todo)
        self.done_px = self.total - self.todo_px
        self.computed_px, self.n_done, self.n_todo = 0, 0, len(todo)
        self.start = time.perf_counter()
        progress.fraction(share * self.done_px / self.total)

    def within(self, block: Block, f: float) -> None:
        self.progress.fraction(self.share * (self.done_px + f * block.pixels) / self.total)

    def finished(self, block: Block, record: dict[str, Any]) -> None:
        self.n_done += 1
        self.done_px += block.pixels
        self.computed_px += block.pixels
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.computed_px * (self.todo_px - self.computed_px)
        self.progress.fraction(self.share * self.done_px / self.total)
        self.progress.log(f"block {self.n_done}/{self.n_todo} {block.name} ({block.width}×{block.height} px) "
                          f"in {record.get('seconds', 0):.1f} s on {record.get('worker', '?')}: "
                          f"{100 * self.done_px / self.total:.1f} % of the zone, ETA {_fmt_eta(eta)}")


def run_zone(options: ZoneOptions, progress: Progress | None = None,
             task: Callable[..., dict[str, Any]] = run_block) -> ZoneResult:
    """Segment a zone block by block into shards, then assemble them (see the module's doc).

    ``task(job, progress)`` is what runs for each block (default :func:`run_block`); a wrapper
    of it must be importable on the workers."""
    from .palette import style_path, write_qml

    progress = progress or Progress()
    start = time.perf_counter()
    seg = options.segment
    out = Path(seg.output)
    if out.suffix.lower() not in {".tif", ".tiff"}:
        raise FlairError(f"output {out} must be a GeoTIFF (.tif): the mosaic is written beside it as .vrt")
    if seg.output_type not in ("argmax", "class_prob"):
        raise FlairError(f"unknown output type {seg.output_type!r}: use argmax or class_prob")
    vrt_path, shards_dir = zone_paths(options)
    shards_dir.mkdir(parents=True, exist_ok=True)
    exclude = (shards_dir, out, vrt_path)
    zone = zone_raster(seg.input, shards_dir, exclude=exclude)
    spec = _plan_spec(seg, progress)
    zone, seg = _on_model_grid(zone, seg, spec, shards_dir, progress)
    with raster_io.open_raster(zone) as src:
        blocks = plan_blocks(src.width, src.height, spec.tile_size, spec.margin, options.block_size)
        step = spec.tile_size - 2 * spec.margin
        block_px = max(b.width for b in blocks)
        identity = json.loads(json.dumps(_job_identity(seg, zone, Path(seg.input), src, spec,
                                                       options.block_size or step * DEFAULT_BLOCK_STEPS, exclude)))
        zone_size = (src.width, src.height)
    manifest = Manifest.open(shards_dir / "manifest.json", identity, progress)
    _remove_leftovers(shards_dir)
    done = _verified(blocks, shards_dir, manifest)
    manifest.shards = {k: v for k, v in manifest.shards.items() if k in done}
    todo = [b for b in blocks if b.name not in done]
    progress.log(f"Zone {zone} ({zone_size[0]}×{zone_size[1]} px): {len(blocks)} blocks of up to "
                 f"{block_px} px (tiles {spec.tile_size}/{spec.margin}); {len(done)} shards already "
                 f"complete and verified, {len(todo)} to compute, in {shards_dir}")
    jobs = {b.name: BlockJob(replace(seg, input=zone.resolve(), output=(shards_dir / f"{b.name}.tif").resolve(),
                                     window=b.window, write_style=False), b.name) for b in todo}
    by_name = {b.name: b for b in blocks}
    tracker = _Tracker(progress, blocks, todo, share=0.9 if options.cog else 1.0)
    dashboard = None
    records: dict[str, dict] = {}
    try:
        if todo:
            with _executor(options, progress) as (submit_all, dashboard), \
                    closing(submit_all(list(jobs.values()), task, tracker, by_name)) as finished:
                for name, record in finished:
                    manifest.shards[name] = record
                    records[name] = record
                    manifest.save(force=False)
                    tracker.finished(by_name[name], record)
    finally:
        manifest.save()
    _remove_leftovers(shards_dir)
    argmax = seg.output_type == "argmax"
    assemble_vrt(vrt_path, shards_dir, blocks, zone_size, argmax)
    style = write_qml(style_path(vrt_path), spec.active_classes) if argmax and seg.write_style else None
    cog = None
    if options.cog:
        progress.check()
        progress.log(f"Writing the Cloud-Optimised GeoTIFF {out} with overviews")
        cog = write_cog(vrt_path, out, argmax)
        progress.fraction(1.0)
    seconds = time.perf_counter() - start
    progress.log(f"Wrote {cog or vrt_path} ({len(todo)} of {len(blocks)} blocks computed) in {seconds:.1f} s")
    return ZoneResult(output=cog or vrt_path, vrt=vrt_path, cog=cog, style=style, shards=shards_dir,
                      manifest=manifest.path, blocks=len(blocks), computed=[b.name for b in todo],
                      skipped=sorted(done), seconds=seconds, dashboard=dashboard, records=records)


def _remove_leftovers(shards_dir: Path) -> None:
    """Temporary files of shards whose writer died (a killed worker)."""
    for p in shards_dir.glob(".*.tmp.tif*"):
        p.unlink(missing_ok=True)


# --- executors: this process, or a Dask cluster -------------------------------------------------

Submit = Callable[..., Iterator[tuple[str, dict]]]


@contextmanager
def _executor(options: ZoneOptions, progress: Progress) -> Iterator[tuple[Submit, str | None]]:
    if not options.cluster and not options.workers:
        yield _in_process(progress), None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise FlairError("a cluster run needs the Python packages dask and distributed: "
                         "python -m pip install -r requirements.txt") from None
    cluster = None
    try:
        if options.cluster:
            client = Client(options.cluster, timeout="30s")
        else:
            cluster = LocalCluster(n_workers=int(options.workers), threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0")
            client = Client(cluster)
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise FlairError(f"cannot reach the Dask scheduler at {options.cluster}: {e}") from None
    try:
        import importlib.util

        dashboard = _dashboard(client)
        plots = "" if importlib.util.find_spec("bokeh") else " (its plots need bokeh where the scheduler runs)"
        n_workers = len(client.scheduler_info()["workers"])
        progress.log(f"Dask scheduler {client.scheduler.address}: {n_workers} workers; dashboard "
                     f"{dashboard + plots if dashboard else 'not served'}")
        if not n_workers:
            progress.warn("the scheduler has no workers yet: the blocks wait until workers join it")
        yield _on_cluster(client, progress), dashboard
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dashboard(client: Any) -> str | None:
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - the address is informative only
        return None


def _in_process(progress: Progress) -> Submit:
    def submit_all(jobs: list[BlockJob], task, tracker: _Tracker, by_name: dict[str, Block]):
        for job in jobs:
            progress.check()
            block = by_name[job.name]
            sub = Progress(fraction=lambda f, b=block: tracker.within(b, f), cancelled=progress.cancelled,
                           log=lambda _m: None, warn=progress.warn)
            yield job.name, task(job, sub)
    return submit_all


def _threads_by_host(client: Any) -> dict[str, int]:
    """Torch threads for each worker process: the host's cores shared among its workers' threads."""
    info = client.scheduler_info()["workers"]
    per_host: dict[str, int] = {}
    for w in info.values():
        host = w.get("host") or w["id"]
        per_host[host] = per_host.get(host, 0) + int(w.get("nthreads", 1))
    cores = client.run(lambda: len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    host_cores = {}
    for addr, n in cores.items():
        host_cores[addr.split("://")[-1].rsplit(":", 1)[0]] = n
    return {h: max(1, host_cores.get(h, 1) // n) for h, n in per_host.items()}


def _on_cluster(client: Any, progress: Progress) -> Submit:
    from distributed import as_completed

    def submit_all(jobs: list[BlockJob], task, tracker: _Tracker, by_name: dict[str, Block]):
        threads = _threads_by_host(client)
        token = hashlib.sha256(json.dumps([asdict(by_name[j.name]) for j in jobs]).encode()
                               + str(time.time_ns()).encode()).hexdigest()[:10]
        futures = [client.submit(task, replace(j, torch_threads=threads), key=f"flair-block-{j.name}-{token}",
                                 retries=1, pure=False) for j in jobs]
        pending = as_completed(futures)
        try:
            while not pending.is_empty():
                ready = pending.next_batch(block=False)
                if not ready:
                    progress.check()
                    time.sleep(0.2)
                    continue
                for f in ready:
                    if f.status == "error":
                        _raise_task_error(f)
                    if f.status == "cancelled":
                        raise FlairError(f"block {f.key} was cancelled on the cluster")
                    record = f.result()
                    f.release()
                    yield record["name"], record
                progress.check()
        finally:  # a stopped job leaves nothing queued on the cluster
            client.cancel([f for f in futures if not f.done()])
    return submit_all


def _raise_task_error(future: Any) -> None:
    """Raise a failed block's error; a cluster that cannot import this plugin is told how to fix it."""
    try:
        future.result()
    except (RuntimeError, ImportError) as e:
        if "deserializ" in str(e) or "flair_qgis" in str(e):
            raise FlairError(
                "the Dask scheduler or workers cannot import flair_qgis: start `dask scheduler` and "
                "`dask worker` with PYTHONPATH set to this plugin's folder and the same Python packages "
                f"(requirements.txt) as here ({type(e).__name__}: {str(e).splitlines()[0]})") from None
        raise


# --- assembling ----------------------------------------------------------------------------------

def assemble_vrt(vrt_path: Path, shards_dir: Path, blocks: list[Block], size: tuple[int, int], argmax: bool) -> Path:
    """A VRT over the shards (paths relative to it), with the shards' georeferencing, colour
    table, band names and metadata."""
    import rasterio

    first = shards_dir / f"{blocks[0].name}.tif"
    with rasterio.open(first) as src:
        crs, transform, count = src.crs, src.transform, src.count
        tags, band_tags = src.tags(), [src.tags(i) for i in range(1, count + 1)]
        names = src.descriptions
        cmap = src.colormap(1) if argmax else None
        nodata = src.nodata
    root = ET.Element("VRTDataset", rasterXSize=str(size[0]), rasterYSize=str(size[1]))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = crs.to_wkt()
    x0 = transform.c - blocks[0].col * transform.a
    y0 = transform.f - blocks[0].row * transform.e
    ET.SubElement(root, "GeoTransform").text = f"{x0!r}, {transform.a!r}, 0.0, {y0!r}, 0.0, {transform.e!r}"
    _metadata(root, tags)
    rel = os.path.relpath(shards_dir.resolve(), vrt_path.resolve().parent)
    for b in range(1, count + 1):
        band = ET.SubElement(root, "VRTRasterBand", dataType="Byte", band=str(b))
        if names[b - 1]:
            band.set("Description", names[b - 1])  # GDAL reads the description from this attribute
            ET.SubElement(band, "Description").text = names[b - 1]
        _metadata(band, band_tags[b - 1])
        if nodata is not None:
            ET.SubElement(band, "NoDataValue").text = repr(float(nodata))
        if cmap:
            ET.SubElement(band, "ColorInterp").text = "Palette"
            table = ET.SubElement(band, "ColorTable")
            for i in range(max(cmap) + 1):
                r, g, bl, a = cmap.get(i, (0, 0, 0, 0))
                ET.SubElement(table, "Entry", c1=str(r), c2=str(g), c3=str(bl), c4=str(a))
        else:
            ET.SubElement(band, "ColorInterp").text = "Gray"
        for blk in blocks:
            s = ET.SubElement(band, "SimpleSource")
            ET.SubElement(s, "SourceFilename", relativeToVRT="1").text = f"{rel}/{blk.name}.tif"
            ET.SubElement(s, "SourceBand").text = str(b)
            ET.SubElement(s, "SourceProperties", RasterXSize=str(blk.width), RasterYSize=str(blk.height),
                          DataType="Byte", BlockXSize="256", BlockYSize="256")
            ET.SubElement(s, "SrcRect", xOff="0", yOff="0", xSize=str(blk.width), ySize=str(blk.height))
            ET.SubElement(s, "DstRect", xOff=str(blk.col), yOff=str(blk.row), xSize=str(blk.width),
                          ySize=str(blk.height))
    _write_text(vrt_path, ET.tostring(root, encoding="unicode"))
    return vrt_path


def _metadata(parent: ET.Element, tags: dict[str, str]) -> None:
    if tags:
        md = ET.SubElement(parent, "Metadata")
        for k, v in tags.items():
            ET.SubElement(md, "MDI", key=k).text = v


def write_cog(vrt_path: Path, cog_path: Path, argmax: bool = True) -> Path:
    """One Cloud-Optimised GeoTIFF with overviews (mode of the classes, or mean of probabilities),
    written under a temporary name and moved into place."""
    import tempfile

    import rasterio
    import rasterio.shutil

    fd, tmp = tempfile.mkstemp(prefix=f".{cog_path.stem}.", suffix=".tmp.tif", dir=cog_path.parent)
    os.close(fd)
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(str(vrt_path), tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                                 BLOCKSIZE=256, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                                 OVERVIEW_RESAMPLING="MODE" if argmax else "AVERAGE")
        os.chmod(tmp, 0o644)
        os.replace(tmp, cog_path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, rasterio.errors.RasterioError):
            raise FlairError(f"writing the COG {cog_path} failed (is the disk full?): {e}") from None
        raise
    return cog_path


__all__ = ["Block", "BlockJob", "Manifest", "ZoneOptions", "ZoneResult", "assemble_vrt", "build_vrt",
           "cached_model", "plan_blocks", "run_block", "run_zone", "write_cog", "zone_raster", "Cancelled"]
