"""The reading/model/writing threads of centre-crop segmentation: every tile once, errors surface."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import make_raster, random_image
from flair_qgis import raster_io
from flair_qgis.pipeline import run_cropped
from flair_qgis.progress import Progress
from flair_qgis.tiling import tile_grid


def _setup(tmp_path):
    path = make_raster(tmp_path / "in.tif", random_image(200, 300, seed=3))
    grid = tile_grid(300, 200, 64, 16)
    with raster_io.open_raster(path) as src:
        validity = raster_io.Validity(src, [1, 2, 3])
    return path, grid, validity


@pytest.mark.parametrize("readers,centre", [(1, 0), (3, 0), (1, 16)])
def test_every_pixel_is_written_once_with_its_tile_prediction(tmp_path, readers, centre):
    """Also when the model predicts each tile's centre only (``centre`` px less on every side)."""
    path, grid, validity = _setup(tmp_path)
    out = np.zeros((1, 200, 300), np.int32)

    def put(block, window, valid):
        out[:, window.row_off:window.row_off + window.height, window.col_off:window.col_off + window.width] += \
            block.astype(np.int32) + 1

    def predict(x):
        return x[:, :1, centre:x.shape[2] - centre, centre:x.shape[3] - centre]

    computed = run_cropped(path, [1, 2, 3], grid, predict, 1, validity, put, Progress(),
                           batch_size=3, readers=readers, centre=centre)
    assert computed == len(grid)
    with raster_io.open_raster(path) as src:
        np.testing.assert_array_equal(out[0], src.read(1).astype(np.int32) + 1)


def test_a_writer_error_reaches_the_caller_and_stops_the_threads(tmp_path):
    path, grid, validity = _setup(tmp_path)

    def put(block, window, valid):
        raise OSError(28, "No space left on device")

    before = threading.active_count()
    with pytest.raises(OSError, match="No space"):
        run_cropped(path, [1, 2, 3], grid, lambda x: x[:, :1], 1, validity, put, Progress(), batch_size=2,
                    readers=2)
    assert threading.active_count() == before


def test_a_long_run_logs_its_eta(tmp_path, monkeypatch):
    from flair_qgis import pipeline

    path, grid, validity = _setup(tmp_path)
    monkeypatch.setattr(pipeline, "LOG_EVERY_S", 0.0)
    logged: list[str] = []
    run_cropped(path, [1, 2, 3], grid, lambda x: x[:, :1], 1, validity, lambda *a: None, Progress(log=logged.append),
                batch_size=len(grid) // 2, readers=1)
    assert logged and logged[-1].startswith(f"{len(grid)} of {len(grid)} tiles; ETA ")
