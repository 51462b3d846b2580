"""Centre-crop segmentation of a tile grid: reading threads → the model (calling thread) → a writer.

Reading (GDAL, decompression) and writing (compression) release the GIL, so they overlap with the
model. Two standard thread pools do it: a bounded number of chunk reads and batch writes are in
flight at any time, which bounds the memory whatever the raster's size. A predictor with ``submit``
(OpenVINO's) has the next batch started before the previous one is stitched; a nodata-value mask is
computed from the pixels read, not read a second time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
from rasterio.windows import Window

from . import raster_io
from .normalisation import Stretch
from .progress import Eta, Progress, Throttle, duration
from .tiling import Tile

QUEUE_DEPTH = 2  # batches read ahead of the model, and batches waiting for the writer: bounds the memory
LOG_EVERY_S = 30.0  # a long segmentation logs its progress and ETA this often

#: ``put(block, window, valid)`` writes a block given in raster coordinates, nodata where ``valid`` is False.
Put = Callable[[np.ndarray, Window, "np.ndarray | None"], None]


@dataclass
class Work:
    """One tile on its way through the pipeline: its pixels (None when it is all nodata), where
    its input has data (None when the raster declares no nodata), and later its prediction."""

    tile: Tile
    pixels: np.ndarray | None
    valid: np.ndarray | None
    result: np.ndarray | None = None


def row_chunks(grid: list[Tile], width: int) -> list[list[Tile]]:
    """Consecutive tiles of one tile row, ``width`` at most: each chunk is read in one go."""
    chunks: list[list[Tile]] = []
    for tile in grid:
        if chunks and chunks[-1][0].row == tile.row and len(chunks[-1]) < width:
            chunks[-1].append(tile)
        else:
            chunks.append([tile])
    return chunks


def read_chunk(src, bands: list[int], chunk: list[Tile], validity: raster_io.Validity,
               stretch: Stretch | None = None) -> list[Work]:
    """Read a chunk's pixels once and cut its (overlapping) tiles from them."""
    first, last = chunk[0], chunk[-1]
    valid = None
    size = first.size
    owned = Window(first.out_col, first.out_row, last.out_col + last.out_width - first.out_col, first.out_height)
    if validity.active and validity.values is None:  # an alpha band, a mask or geometries: read on their own
        valid = validity(src, owned)
        if not valid.any():
            return [Work(t, None, valid[:, t.out_col - first.out_col:][:, :t.out_width]) for t in chunk]
    block = raster_io.read_block(src, bands, first.col, first.row, last.col + size - first.col, size)
    if validity.active and validity.values is not None:  # a nodata value: from the pixels read, not read twice
        top, left = first.out_row - first.row, first.out_col - first.col
        valid = validity.of_pixels(block[:, top:top + owned.height, left:left + owned.width])
    if stretch is not None:
        block = stretch.apply(block)
    work = []
    for t in chunk:
        v = None if valid is None else valid[:, t.out_col - first.out_col:t.out_col - first.out_col + t.out_width]
        if v is not None and not v.any():
            work.append(Work(t, None, v))
        else:
            work.append(Work(t, block[:, :, t.col - first.col:t.col - first.col + size], v))
    return work


def run_cropped(path, bands: list[int], grid: list[Tile], predict: Callable[[np.ndarray], np.ndarray],
                count: int, validity: raster_io.Validity, put: Put, progress: Progress, *, batch_size: int,
                readers: int, stretch: Stretch | None = None, centre: int = 0) -> int:
    """Segment ``grid``'s tiles of the raster at ``path`` and ``put`` each tile's centre (the part
    of the output it owns); returns the number of tiles computed (all-nodata tiles are not).

    ``predict`` maps N×C×H×W pixels to N×``count``×H×W uint8 (the caller's thread runs it); when it
    has a ``submit(tiles)`` returning a callable that gives the result later (OpenVINO's predictor),
    batch k + 1 is started before batch k's result is taken and handed to the writer, so that the
    forward pass runs while the caller cuts and stitches.
    ``readers`` threads read row chunks, each with its own GDAL handle; one thread writes.
    With ``centre``, ``predict`` returns each tile's centre only: ``centre`` px less on every side.
    """
    chunks = row_chunks(grid, max(batch_size, 2))
    handles: list = []
    local = threading.local()

    def read(chunk: list[Tile]) -> list[Work]:
        if getattr(local, "src", None) is None:  # each thread its own GDAL handle
            local.src = raster_io.open_raster(path)
            handles.append(local.src)
        return read_chunk(local.src, bands, chunk, validity, stretch)

    def write(batch: list[Work]) -> None:
        for w in batch:
            t = w.tile
            window = Window(t.out_col, t.out_row, t.out_width, t.out_height)
            if w.result is None:
                put(np.zeros((count, t.out_height, t.out_width), np.uint8), window, w.valid)
            else:
                rows, cols = t.crop
                put(w.result[:, rows.start - centre:rows.stop - centre, cols.start - centre:cols.stop - centre],
                    window, w.valid)

    reading = ThreadPoolExecutor(max(1, readers), thread_name_prefix="flair-reader")
    writing = ThreadPoolExecutor(1, thread_name_prefix="flair-writer")
    reads: deque[Future] = deque()
    writes: deque[Future] = deque()
    todo = iter(chunks)

    def read_ahead() -> None:
        while len(reads) < max(readers, QUEUE_DEPTH) and (chunk := next(todo, None)) is not None:
            reads.append(reading.submit(read, chunk))

    submit = getattr(predict, "submit", None) or (lambda tiles: (lambda result=predict(tiles): result))
    computed = handled = 0
    eta, log_due, started = Eta(), Throttle(LOG_EVERY_S), time.perf_counter()
    log_due()  # the first line after LOG_EVERY_S, not at once

    def finish(full: list[Work], collect: Callable[[], int]) -> None:
        nonlocal computed, handled, started
        computed += collect()
        writes.append(writing.submit(write, full))
        while len(writes) > QUEUE_DEPTH:
            writes.popleft().result()
        handled += len(full)
        progress.fraction(handled / len(grid))
        eta.add("tile", len(full), time.perf_counter() - started)
        started = time.perf_counter()
        if log_due():
            progress.log(f"{handled} of {len(grid)} tiles; ETA {duration(eta.left(tile=len(grid) - handled))}")
        progress.check()

    try:
        batch: list[Work] = []
        pending: tuple[list[Work], Callable[[], int]] | None = None  # the batch started last
        read_ahead()
        while reads:
            progress.check()
            batch.extend(reads.popleft().result())
            read_ahead()
            while len(batch) >= batch_size or (batch and not reads):
                full, batch = batch[:batch_size], batch[batch_size:]
                collect = _start(full, submit)
                if pending is not None:
                    finish(*pending)
                pending = full, collect
        if pending is not None:
            finish(*pending)
        while writes:
            writes.popleft().result()
    finally:
        reading.shutdown(wait=True, cancel_futures=True)
        writing.shutdown(wait=True, cancel_futures=True)
        for src in handles:
            src.close()
    return computed


def _start(batch: list[Work], submit) -> Callable[[], int]:
    """Start predicting the tiles of ``batch`` that have data; returns a callable that waits, puts
    each result in its :class:`Work` and returns how many tiles were computed."""
    todo = [w for w in batch if w.pixels is not None]
    if not todo:
        return lambda: 0
    result = submit(np.stack([w.pixels for w in todo]))
    for w in todo:
        w.pixels = None

    def collect() -> int:
        for w, r in zip(todo, result()):
            w.result = r
        return len(todo)
    return collect
