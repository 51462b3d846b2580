"""On the CPU the batch fits the free memory (issue #16, item 1): one tile is measured, an automatic or
explicit batch that does not fit is lowered with a log line, and a tile too large even alone is refused
naming a TILE_SIZE that fits. The free memory (and, for the FLAIR-HUB-sized figures, the tile's
measured memory) are injected; the measurement itself is tested on a real allocation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import make_raster, random_image
from flair_qgis import cpu_memory
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.prediction import Predictor, auto_batch_size
from flair_qgis.progress import Progress
from hub_fixtures import TINY_CONVNEXT, tiny_hub_entry, tiny_hub_model

GIB = 1024 ** 3


class Recording(torch.nn.Module):
    """A FLAIR-HUB-shaped model that remembers the size of the last input it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.model = tiny_hub_model(TINY_CONVNEXT)
        self.pixels = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.pixels = x.shape[0] * x.shape[2] * x.shape[3]
        return self.model(x)


def hub_sized(model: Recording, per_pixel: float):
    """A measurement that runs the probe for real and reports FLAIR-HUB Swin-like memory for it."""
    def measure(run):
        run()
        return int(per_pixel * model.pixels)
    return measure


@pytest.fixture
def run(tmp_path, monkeypatch):
    """segment_with a FLAIR-HUB-like model on the CPU, 128 px tiles taking 1 GiB each, ``free`` GiB free."""
    raster = make_raster(tmp_path / "rgbi.tif", random_image(200, 200, bands=4))
    spec = tiny_hub_entry(encoder=TINY_CONVNEXT).spec

    def segment(free_gib: float, batch: int | None, tile: int = 128, margin: int = 16):
        model = Recording()
        monkeypatch.setattr(cpu_memory, "available_memory", lambda: int(free_gib * GIB))
        monkeypatch.setattr(cpu_memory, "peak_growth", hub_sized(model, GIB / 128 ** 2))
        logs: list[str] = []
        out = tmp_path / f"out_{free_gib}_{batch}_{tile}.tif"
        result = segment_with(model, replace(spec, tile_size=tile, margin=margin),
                              SegmentRequest.of(raster, out, batch_size=batch, device="cpu", bands=[4, 1, 2]),
                              Progress(log=logs.append))
        return result, logs
    return segment


def test_a_small_tile_is_logged_in_mb_not_as_0_gb():
    """Found trying the plugin as a new user: a small model's tile was logged as "about 0.0 GB"."""
    logs: list[str] = []
    fits = cpu_memory.fit_batch(lambda x: None, 3, 256, 64, 4, Progress(log=logs.append),
                                free_memory=lambda: 100 * GIB, measure=lambda run: run() or 24 * 2 ** 20)
    assert fits == 4
    assert logs == ["Batch 4 on the CPU: one 256 px tile takes about 24 MB on the CPU (measured), 100.0 GB of "
                    "memory is free"]


def test_a_batch_that_fits_is_kept_and_the_figures_logged(run):
    _, logs = run(free_gib=100, batch=4)

    assert "Batch 4 on the CPU: one 128 px tile takes about 1.0 GB on the CPU (measured), 100.0 GB of memory " \
           "is free" in logs


@pytest.mark.parametrize("free, lowered", [(2, 1), (3, 2)])
def test_an_explicit_batch_that_does_not_fit_is_lowered_with_a_log_line(run, free, lowered):
    result, logs = run(free_gib=free, batch=4)

    assert any(m.startswith(f"Batch lowered from 4 to {lowered} tile(s) of 128 px: one 128 px tile takes about "
                            "1.0 GB") for m in logs)
    assert result.output.is_file()


def test_the_automatic_batch_is_measured_too(run):
    _, logs = run(free_gib=2, batch=None)

    assert "Batch size 4 (automatic, on cpu)" in logs  # 4 tiles of 128 px: within the CPU's pixel cap
    assert any(m.startswith("Batch lowered from 4 to 1 tile(s) of 128 px") for m in logs)


def test_a_tile_too_large_alone_is_refused_naming_a_tile_size_that_fits(run, tmp_path):
    with pytest.raises(FlairError) as err:
        run(free_gib=1, batch=1)

    message = str(err.value)
    assert "not enough memory for one 128 px tile: it takes about 1.0 GB on the CPU (measured), and 1.0 GB " \
           "is free" in message
    assert "TILE_SIZE 96 with MARGIN 8 (or less) fits" in message
    assert not list(tmp_path.glob("out_*.tif"))  # nothing written

    result, logs = run(free_gib=1, batch=1, tile=96, margin=8)  # the advice works
    assert result.output.is_file()
    assert any(m.startswith("Batch 1 on the CPU: one 96 px tile takes about 0.6 GB") for m in logs)


def test_tiles_larger_than_the_probe_are_measured_on_a_probe_and_scaled():
    """FLAIR-HUB's 2048 px tiles: a 512 px tile is run, its memory scaled by the pixels (with headroom)."""
    shapes: list[tuple[int, ...]] = []
    logs: list[str] = []
    per_tile = 5 * GIB  # about what one 2048 px tile of Swin-T takes on the CPU

    def measure(run):
        run()
        return per_tile // 16

    batch = cpu_memory.fit_batch(lambda x: shapes.append(x.shape), 3, 2048, 512, 4, Progress(log=logs.append),
                                 free_memory=lambda: 16 * GIB, measure=measure)

    assert shapes == [(1, 3, 512, 512)]
    assert batch == 2  # 6 GB a tile with the headroom, 12.8 of the 16 GB free
    assert logs == ["Batch lowered from 4 to 2 tile(s) of 2048 px: one 2048 px tile takes about 6.0 GB on the CPU "
                    "(measured on a 512 px tile), 16.0 GB of memory is free"]
    with pytest.raises(FlairError, match="TILE_SIZE 1472 with MARGIN 368 \\(or less\\) fits"):
        cpu_memory.fit_batch(lambda x: None, 3, 2048, 512, 1, Progress(), free_memory=lambda: 4 * GIB,
                             measure=measure)


def test_unknown_figures_leave_the_batch_and_say_so():
    logs: list[str] = []
    assert cpu_memory.fit_batch(lambda x: None, 3, 512, 128, 4, Progress(log=logs.append),
                                free_memory=lambda: None) == 4
    assert cpu_memory.fit_batch(lambda x: None, 3, 512, 128, 4, Progress(log=logs.append),
                                free_memory=lambda: GIB, measure=lambda run: None) == 4
    assert "free memory cannot be read here" in logs[0] and "cannot be measured here" in logs[1]


def test_the_automatic_cpu_batch_of_2048_px_tiles_is_one():
    """The bug: "Batch size 4 (automatic, on cpu)" for FLAIR-HUB's 2048 px tiles, 19.4 GB at its peak."""
    predictor = Predictor(tiny_hub_model(TINY_CONVNEXT), tiny_hub_entry(encoder=TINY_CONVNEXT).spec,
                          torch.device("cpu"))

    assert auto_batch_size(predictor, 2048) == 1
    assert auto_batch_size(predictor, 512) == 4


def test_the_peak_of_a_real_allocation_is_measured():
    grown = cpu_memory.peak_growth(lambda: np.ones(200 * 1024 ** 2 // 8).sum())

    assert grown is not None and 190 * 1024 ** 2 <= grown <= 400 * 1024 ** 2


def test_the_free_memory_is_read():
    free = cpu_memory.available_memory()

    assert free is not None and 0 < free
