"""Blocks and their manifest: a zone cut into blocks on its tile grid, each written as one
shard; ``manifest.json`` records each finished shard's sha256, so that a run started again with
the same settings (:func:`job_identity`) recomputes only the shards that are missing or wrong."""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import sha256_of, write_text
from ..progress import Progress
from ..mosaics import zone_files

MANIFEST_FORMAT = "flair-qgis-shards"
MANIFEST_VERSION = 1
DEFAULT_BLOCK_STEPS = 16  # a block is this many tile steps wide and high: 4096 px at 512/128
MANIFEST_EVERY_S = 2.0  # the manifest is rewritten at most this often while blocks complete


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
    from ..tiling import tile_grid

    step = tile_size - 2 * margin
    steps = DEFAULT_BLOCK_STEPS if block_size is None else max(1, round(block_size / step))
    cols = sorted({t.out_col for t in tile_grid(width, 1, tile_size, margin)} | {width})
    rows = sorted({t.out_row for t in tile_grid(1, height, tile_size, margin)} | {height})
    xs, ys = _edges(cols, steps, from_end=False), _edges(rows, steps, from_end=True)
    return [Block(x0, y0, x1 - x0, y1 - y0) for y0, y1 in zip(ys, ys[1:]) for x0, x1 in zip(xs, xs[1:])]


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
        write_text(self.path, json.dumps(data, indent=1))
        self._saved = now


def verified(blocks: list[Block], shards_dir: Path, manifest: Manifest) -> set[str]:
    """Names of the blocks whose shard is on disk with the size and sha256 the manifest records."""

    def ok(b: Block) -> bool:
        entry = manifest.shards.get(b.name)
        path = shards_dir / f"{b.name}.tif"
        if not entry or not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return False
        return sha256_of(path) == entry.get("sha256")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {b.name for b, good in zip(blocks, pool.map(ok, blocks)) if good}


def remove_leftovers(shards_dir: Path) -> None:
    """Temporary files of shards whose writer died (a killed worker)."""
    for p in shards_dir.glob(".*.tmp.tif*"):
        p.unlink(missing_ok=True)


# options that do not change a shard's pixels (or that differ per block)
_NOT_IN_IDENTITY = {"input", "output", "window", "write_style", "batch_size", "readers"}


def job_identity(seg: Any, zone: Path, input_path: Path, src: Any, spec: Any, block_size: int,
                  exclude: tuple[Path, ...]) -> dict[str, Any]:
    """What the shards depend on: a manifest written for anything else is not reused."""
    def stamp(p: Path) -> list:
        s = p.stat()
        return [str(p.resolve()), s.st_size, s.st_mtime_ns]

    inputs = ([stamp(p) for p in zone_files(Path(input_path), exclude)] if Path(input_path).is_dir()
              else [stamp(Path(input_path))])

    ckpt = Path(seg.model.checkpoint) if seg.model.checkpoint else None
    settings = {k: repr(v) for k, v in seg.settings().items() if k not in _NOT_IN_IDENTITY}
    return {"zone": str(zone.resolve()), "inputs": hashlib.sha256(json.dumps(inputs).encode()).hexdigest(),
            "size": [src.width, src.height], "transform": list(src.transform)[:6],
            "crs": src.crs.to_string() if src.crs else None,
            "checkpoint": stamp(ckpt) if ckpt and ckpt.exists() else None,
            "spec": spec.as_dict(), "settings": settings, "block_size": block_size}
