"""What only a CUDA GPU can show (skipped without one; bench/gpu.sh runs them on a GPU machine):
the device chosen by ``auto``, fp16 autocast by default and its agreement with fp32, the automatic
batch measured from the free GPU memory, and PyTorch kept as the backend on CUDA."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
import torch

from conftest import make_raster, random_image, tiny_model
from flair_qgis import openvino_backend
from flair_qgis.engine import segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.prediction import Predictor, auto_batch_size, autocast_dtype, pick_device
from flair_qgis.progress import Progress
from flair_qgis.zoo import get_entry

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu.sh)")

SPEC = replace(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, tile_size=128, margin=32)


def read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_auto_picks_cuda_with_fp16_autocast():
    device = pick_device("auto")
    assert device.type == "cuda"
    assert autocast_dtype("auto", device) == torch.float16 and autocast_dtype("fp32", device) is None


def test_cuda_maps_agree_with_the_cpu_in_fp32_and_fp16(tmp_path):
    src = make_raster(tmp_path / "in.tif", random_image(300, 260, seed=3))
    model = tiny_model()
    cpu = read(segment_with(model, SPEC, SegmentRequest.of(src, tmp_path / "cpu.tif", batch_size=4)).output)
    model.cuda()
    logs: list[str] = []
    fp32 = read(segment_with(model, SPEC, SegmentRequest.of(src, tmp_path / "fp32.tif", batch_size=4,
                                                         precision="fp32")).output)
    auto = read(segment_with(model, SPEC, SegmentRequest.of(src, tmp_path / "auto.tif", batch_size=4),
                             Progress(log=logs.append)).output)
    assert (fp32 == cpu).mean() > 0.9999  # same arithmetic, other kernels
    assert (auto == fp32).mean() > 0.99  # fp16 autocast (the default on CUDA)
    assert not any("OpenVINO" in m for m in logs)  # auto is PyTorch on CUDA


def test_automatic_batch_is_measured_on_the_gpu(tmp_path):
    model = tiny_model().cuda()
    predictor = Predictor(model, SPEC, torch.device("cuda"))
    batch = auto_batch_size(predictor, SPEC.tile_size)
    assert 1 <= batch <= 64
    src = make_raster(tmp_path / "in.tif", random_image(200, 200, seed=4))
    logs: list[str] = []
    result = segment_with(model, SPEC, SegmentRequest.of(src, tmp_path / "o.tif", batch_size=None),
                          Progress(log=logs.append))
    assert result.device.startswith("cuda") and result.output.exists()
    assert any("automatic, on cuda" in m for m in logs), logs
    codes = predictor(np.zeros((batch, 3, SPEC.tile_size, SPEC.tile_size), np.uint8))  # a whole batch fits
    assert codes.shape[0] == batch


def test_pytorch_stays_the_backend_on_cuda():
    predictor = Predictor(tiny_model().cuda(), SPEC, torch.device("cuda"))
    assert openvino_backend.of_torch(predictor, "auto", 4, Progress()) is predictor
    assert openvino_backend.device_for("auto", "cuda") == "cuda"
