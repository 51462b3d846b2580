"""The OpenVINO backend: maps equal to PyTorch's, the compiled model cached once and rebuilt when
corrupt, and PyTorch whenever OpenVINO cannot run (missing, a layer it cannot convert, DEVICE cuda).

Conversions cost seconds each: the tests share a cache where they can (``shared_cache``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import EXAMPLE, ROOT, TINY_ENCODER, tiny_model
from flair_qgis import openvino_backend, zoo
from flair_qgis.engine import segment, segment_with
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import FlairError
from flair_qgis.progress import Progress

pytest.importorskip("openvino")

AGREEMENT = 0.9999  # share of the pixels OpenVINO and PyTorch must classify alike


class Log:
    def __init__(self):
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.progress = Progress(log=self.lines.append, warn=self.warnings.append)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines + self.warnings)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flair_cache")


def inc_spec(tile: int = 256, margin: int = 64):
    """FLAIR-INC's RGB spec (its normalisation and 19 classes, some switched off) at a small tile."""
    spec = zoo.get_entry(zoo.DEFAULT_MODEL).spec
    norm = replace(spec.normalisation, means=spec.normalisation.means[:3], stds=spec.normalisation.stds[:3])
    return replace(spec, bands=spec.bands[:3], normalisation=norm, tile_size=tile, margin=margin)


def run(model, spec, out: Path, backend: str, log: Log, **options) -> np.ndarray:
    options = {"bands": [1, 2, 3], **options}
    result = segment_with(model, spec, SegmentRequest.of(EXAMPLE, out, backend=backend, **options), log.progress)
    with rasterio.open(result.output) as r:
        return r.read()


def test_openvino_map_equals_pytorchs_on_the_example_converted_once_then_read_from_the_cache(
        tmp_path, shared_cache, monkeypatch):
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(shared_cache))
    model, spec = tiny_model(), inc_spec()
    reference = run(model, spec, tmp_path / "torch.tif", "torch", Log())
    first = Log()
    converted = run(model, spec, tmp_path / "ov1.tif", "openvino", first)
    assert first.has("Converted the model to OpenVINO") and first.has("Backend: OpenVINO")
    assert (converted == reference).mean() >= AGREEMENT
    second = Log()
    cached = run(model, spec, tmp_path / "ov2.tif", "openvino", second)
    assert second.has("read from the cache") and not second.has("Converted"), second.lines
    np.testing.assert_array_equal(cached, converted)
    # auto is OpenVINO on the CPU (FLAIR_BACKEND, which the tests set to torch, unset)
    monkeypatch.delenv("FLAIR_BACKEND")
    auto = Log()
    np.testing.assert_array_equal(run(model, spec, tmp_path / "auto.tif", "auto", auto), converted)
    assert auto.has("Backend: OpenVINO") and not auto.has("Converted")


def test_probabilities_blending_and_flips_agree_with_pytorch(tmp_path, shared_cache, monkeypatch):
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(shared_cache))  # the same model as above: no conversion
    model, spec = tiny_model(), inc_spec()
    for options in ({"output_type": "class_prob"}, {"stitch": "blend"}, {"tta": True}):
        options["window"] = (300, 200, 300, 200)
        torch_map = run(model, spec, tmp_path / "t.tif", "torch", Log(), **options)
        log = Log()
        ov_map = run(model, spec, tmp_path / "o.tif", "openvino", log, **options)
        assert log.has("Backend: OpenVINO"), (options, log.lines, log.warnings)
        if options.get("output_type") == "class_prob":  # probability × 255: rounding may differ by one
            assert np.abs(ov_map.astype(int) - torch_map).max() <= 1
        else:
            assert (ov_map == torch_map).mean() >= AGREEMENT, options


@pytest.mark.parametrize("encoder", ["tu-swin_flairtest", "tu-convnextv2_flairtest"])
def test_flair_hub_upernets_agree_with_pytorch(encoder, tmp_path):
    from hub_fixtures import tiny_hub_entry, tiny_hub_model

    model = tiny_hub_model(encoder)
    spec = replace(tiny_hub_entry(encoder=encoder).spec, tile_size=128, margin=32)
    window = (200, 100, 512, 384)
    reference = run(model, spec, tmp_path / "torch.tif", "torch", Log(), window=window)
    log = Log()
    converted = run(model, spec, tmp_path / "ov.tif", "openvino", log, batch_size=3, window=window)  # 2 + 1 padded
    assert log.has("2 stream(s), requests of 2 tile(s)"), log.lines
    assert (converted == reference).mean() >= AGREEMENT


def test_a_corrupt_cached_model_is_rebuilt_and_an_unwritable_cache_only_warns(tmp_path, monkeypatch):
    model, spec, window = tiny_model(), inc_spec(), (0, 0, 300, 200)
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(tmp_path / "cache"))  # its own: the one model cached in it
    reference = run(model, spec, tmp_path / "first.tif", "openvino", Log(), window=window)
    [folder] = (tmp_path / "cache" / "openvino").iterdir()
    (folder / "model.bin").write_bytes(b"garbage")
    log = Log()
    again = run(model, spec, tmp_path / "again.tif", "openvino", log, window=window)
    assert any("is corrupt" in w for w in log.warnings) and log.has("Converted"), (log.lines, log.warnings)
    np.testing.assert_array_equal(again, reference)
    assert (folder / "manifest.json").is_file()  # rebuilt in place

    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(blocked / "cache"))
    log = Log()
    np.testing.assert_array_equal(run(model, spec, tmp_path / "nocache.tif", "openvino", log, window=window),
                                  reference)
    assert any("cannot be written" in w and "without caching" in w for w in log.warnings), log.warnings
    assert log.has("Backend: OpenVINO")


class Untraceable(torch.nn.Module):
    """A model whose layers OpenVINO cannot take (tracing fails), that PyTorch runs."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 19, 1)

    def forward(self, x):
        if torch.jit.is_tracing():
            raise RuntimeError("unsupported layer: FancyOp")
        return self.conv(x)


def test_a_model_openvino_cannot_convert_runs_on_pytorch_saying_why(tmp_path):
    spec = inc_spec(tile=64, margin=16)
    model = Untraceable().eval()
    log = Log()
    out = run(model, spec, tmp_path / "ov.tif", "openvino", log, window=(0, 0, 96, 64))
    assert out.shape == (1, 64, 96)
    [why] = [w for w in log.warnings if "using PyTorch" in w]
    assert "cannot convert" in why and "FancyOp" in why
    np.testing.assert_array_equal(out, run(model, spec, tmp_path / "t.tif", "torch", Log(), window=(0, 0, 96, 64)))


def test_openvino_with_cuda_is_refused_before_anything_is_loaded(tmp_path):
    with pytest.raises(FlairError, match="BACKEND openvino runs on the CPU.*DEVICE cpu"):
        segment(SegmentRequest.of(EXAMPLE, tmp_path / "out.tif", model="no such model", device="cuda",
                               backend="openvino"))
    with pytest.raises(FlairError, match="unknown backend 'onnx'"):
        segment(SegmentRequest.of(EXAMPLE, tmp_path / "out.tif", backend="onnx"))
    assert openvino_backend.device_for("openvino", "auto") == "cpu"
    assert openvino_backend.device_for("auto", "cuda") == "cuda"


def test_without_openvino_auto_runs_pytorch_and_the_log_says_why(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["openvino"] = None  # as if it were not installed
        sys.path.insert(0, {str(ROOT)!r})
        from dataclasses import replace
        from flair_qgis import zoo
        from flair_qgis.model_spec import build_model
        from flair_qgis.engine import segment_with
        from flair_qgis.segment_options import SegmentRequest
        from flair_qgis.progress import Progress
        spec = zoo.get_entry(zoo.DEFAULT_MODEL).spec
        norm = replace(spec.normalisation, means=spec.normalisation.means[:3], stds=spec.normalisation.stds[:3])
        spec = replace(spec, bands=spec.bands[:3], normalisation=norm, tile_size=64, margin=16)
        model = build_model("unet", {TINY_ENCODER!r}, 3, 19).eval()
        lines = []
        segment_with(model, spec, SegmentRequest.of({str(EXAMPLE)!r}, {str(tmp_path / "out.tif")!r}, bands=[1, 2, 3],
                     window=(0, 0, 64, 64)), Progress(log=lines.append, warn=lines.append))
        print("\\n".join(lines))
    """)
    env = {k: v for k, v in os.environ.items() if k != "FLAIR_BACKEND"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OpenVINO cannot be imported" in done.stdout and "using PyTorch" in done.stdout, done.stdout
    assert (tmp_path / "out.tif").is_file()


def test_the_cache_key_changes_with_what_the_compiled_model_depends_on():
    spec = inc_spec()
    a, b = tiny_model(seed=0), tiny_model(seed=1)
    key = openvino_backend.cache_key(openvino_backend.weights_digest(a), spec, 512, 2, "2026.4.1")
    assert key == openvino_backend.cache_key(openvino_backend.weights_digest(tiny_model(seed=0)), spec, 512, 2,
                                             "2026.4.1")
    assert key != openvino_backend.cache_key(openvino_backend.weights_digest(b), spec, 512, 2, "2026.4.1")
    for tile, batch, version in ((256, 2, "2026.4.1"), (512, 1, "2026.4.1"), (512, 2, "2026.5.0")):
        assert key != openvino_backend.cache_key(openvino_backend.weights_digest(a), spec, tile, batch, version)
    assert openvino_backend.version_tuple("2026.4.1-22982-e213a147257-releases/2026/4") == (2026, 4, 1)


def test_too_old_an_openvino_is_not_used_and_the_log_says_so(tmp_path, monkeypatch):
    class Old:
        __version__ = "2023.3.0-13775-ceeafaf64f3-releases/2023/3"

    monkeypatch.setitem(sys.modules, "openvino", Old())
    module, why = openvino_backend.load()
    assert module is None and "OpenVINO 2023.3.0 is too old (needs 2024.0 or newer" in why
    log = Log()
    out = run(tiny_model(), inc_spec(64, 16), tmp_path / "out.tif", "openvino", log, window=(0, 0, 64, 64))
    assert out.shape == (1, 64, 64) and any("too old" in w and "using PyTorch" in w for w in log.warnings)


def test_backend_from_the_command_line_and_the_detect_yaml(tmp_path):
    from flair_qgis.cli import parser
    from flair_qgis.config import detect_options

    conf = tmp_path / "detect.yaml"
    conf.write_text(f"input_img_path: {EXAMPLE}\noutput_path: {tmp_path}\noutput_name: out\nmodel_weights: w.pth\n"
                    "backend: openvino\n")
    assert detect_options(conf, warn=pytest.fail).run.backend == "openvino"
    conf.write_text(conf.read_text().replace("backend: openvino\n", ""))
    assert detect_options(conf).run.backend == "auto"
    args = parser().parse_args(["detect", "--conf", str(conf), "--backend", "torch"])
    assert args.backend == "torch"
    with pytest.raises(SystemExit):
        parser().parse_args(["detect", "--conf", str(conf), "--backend", "onnx"])


def test_openvino_is_installed_with_the_cpu_build_and_offered_with_the_cuda_one():
    from flair_qgis import dependencies as deps
    from flair_qgis import pip_install

    reqs = deps.read_requirements()
    openvino = next(r for r in reqs if r.key == "openvino")
    assert openvino.pinned == "2026.4.1"
    chosen = pip_install.for_build
    assert openvino in chosen(reqs, "cpu") and openvino not in chosen(reqs, "cuda")
    assert openvino in chosen(reqs, "cuda", "yes") and openvino not in chosen(reqs, "cpu", "no")
    assert len(chosen(reqs, "cuda")) == len(reqs) - 1
    command = pip_install.pip_command("python3", Path("/t"), pip_install.installable(chosen(reqs, "cpu")), "cpu",
                                      platform="linux")
    assert "openvino==2026.4.1" in command
    # missing, it is no problem (PyTorch runs); too old, it is one
    assert deps.problems([deps.Status(openvino)]) == []
    assert deps.problems([deps.Status(openvino, "2023.3.0", "/x", True)])


def test_diagnostics_report_openvino_and_its_devices():
    from flair_qgis import diagnostics

    report = diagnostics.report(verify=False)
    assert "\nopenvino 2026.4.1\n" in report
    line = next(line for line in report.splitlines() if line.startswith("OpenVINO devices: "))
    assert "CPU" in line and str(openvino_backend.cache_dir()) in line


@pytest.mark.qgis
def test_segment_algorithm_passes_its_backend_and_refuses_openvino_on_cuda_install_offers_openvino(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    algorithm = provider.algorithm("segment")
    backend = algorithm.parameterDefinition("BACKEND")
    assert backend.options() == ["auto", "torch", "openvino"] and backend.defaultValue() == "auto"
    install = provider.algorithm("installdependencies").parameterDefinition("OPENVINO")
    assert install.options() == ["auto", "yes", "no"] and install.defaultValue() == "auto"
    with pytest.raises(QgsProcessingException, match="BACKEND openvino runs on the CPU"):
        processing.run("flair:segment", {"INPUT": str(EXAMPLE), "BACKEND": "openvino", "DEVICE": "cuda",
                                         "OUTPUT": str(tmp_path / "out.tif")})


@pytest.mark.parametrize("arch, encoder", [("fpn", TINY_ENCODER), ("deeplabv3", TINY_ENCODER), ("unet", "mit_b0"),
                                           ("unet", "tu-convnextv2_flairtest")])
def test_the_other_zoo_architectures_agree_with_pytorch(arch, encoder, tmp_path):
    """FLAIR-INC's FPN, DeepLabV3 and MiT U-Net (mit_b0: MiT-B5's blocks, smaller), FLAIR-HUB's ConvNeXt-V2 U-Net."""
    import tiny_timm  # noqa: F401 - registers convnextv2_flairtest

    model, spec, window = tiny_model(arch=arch, encoder=encoder), inc_spec(64, 16), (300, 200, 256, 192)
    reference = run(model, spec, tmp_path / "torch.tif", "torch", Log(), window=window)
    log = Log()
    converted = run(model, spec, tmp_path / "ov.tif", "openvino", log, window=window)
    assert log.has("Backend: OpenVINO"), log.warnings
    assert (converted == reference).mean() >= AGREEMENT, (converted != reference).sum()


def test_an_inference_error_switches_to_pytorch_for_the_rest_of_the_run(shared_cache, monkeypatch):
    from flair_qgis.prediction import Predictor

    monkeypatch.setenv("FLAIR_CACHE_DIR", str(shared_cache))  # the first test's model: no conversion when run after it
    model, spec = tiny_model(), inc_spec()
    torch_predictor = Predictor(model, spec, torch.device("cpu"))
    log = Log()
    predictor = openvino_backend.of_torch(torch_predictor, "openvino", 4, log.progress)
    assert isinstance(predictor, openvino_backend.OpenVinoPredictor)
    tiles = np.random.default_rng(0).integers(0, 256, (3, 3, 256, 256), dtype=np.uint8)

    class Broken:
        def start_async(self, *args):
            raise RuntimeError("Exception from src/plugins/intel_cpu: out of resources\nmore")

    predictor.idle[True].clear()
    predictor.new_request = lambda head: Broken()
    np.testing.assert_array_equal(predictor(tiles), torch_predictor(tiles))
    np.testing.assert_array_equal(predictor.probabilities(tiles), torch_predictor.probabilities(tiles))
    assert log.warnings == ["OpenVINO failed while inferring (RuntimeError: Exception from src/plugins/intel_cpu: "
                            "out of resources): using PyTorch for the rest of the run"]


def test_flair_backend_decides_what_auto_means(monkeypatch):
    from flair_qgis.prediction import Predictor

    torch_predictor = Predictor(tiny_model(), inc_spec(), torch.device("cpu"))
    monkeypatch.setenv("FLAIR_BACKEND", "torch")
    assert openvino_backend.of_torch(torch_predictor, "auto", 4, Progress()) is torch_predictor
    monkeypatch.setenv("FLAIR_BACKEND", "onnx")
    with pytest.raises(FlairError, match=r"unknown backend in \$FLAIR_BACKEND 'onnx': use one of torch, openvino"):
        openvino_backend.of_torch(torch_predictor, "auto", 4, Progress())


def test_batches_started_together_give_each_its_own_result_and_a_partial_batch_is_padded_with_zeros(
        shared_cache, monkeypatch):
    from flair_qgis.prediction import Predictor

    monkeypatch.setenv("FLAIR_CACHE_DIR", str(shared_cache))
    model, spec = tiny_model(), inc_spec()
    torch_predictor = Predictor(model, spec, torch.device("cpu"))
    predictor = openvino_backend.of_torch(torch_predictor, "openvino", 4, Progress())
    assert isinstance(predictor, openvino_backend.OpenVinoPredictor)
    rng = np.random.default_rng(1)
    first, second = (rng.integers(0, 256, (4, 3, 256, 256), dtype=np.uint8) for _ in range(2))
    partial = rng.integers(0, 256, (3, 3, 256, 256), dtype=np.uint8)
    alone = [predictor(t) for t in (first, second, partial)]
    one, two = predictor.submit(first), predictor.submit(second)  # both in flight, the buffer reused
    three = predictor.submit(partial)
    assert not predictor._buffer[3:].any()  # the padding row holds no tile of the batch before
    for got, expected, tiles in zip((one(), two(), three()), alone, (first, second, partial)):
        np.testing.assert_array_equal(got, expected)
        assert (got == torch_predictor(tiles)).mean() >= AGREEMENT
    assert len(predictor.idle[True]) >= 4  # the requests went back to the idle ones


class Biased(torch.nn.Module):
    """Logits = a fixed bias per class, whatever the pixels: the first class is switched off in the spec."""

    def __init__(self, biases):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, len(biases), 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.copy_(torch.tensor(biases))

    def forward(self, x):
        return self.conv(x)


def test_the_argmax_head_never_picks_a_switched_off_class_and_a_batch_of_one_runs_on_one_stream(tmp_path):
    spec = inc_spec(tile=128, margin=32)
    off = spec.active.index(False)  # a class the model has but may never predict
    biases = [0.0] * spec.n_classes
    biases[off], biases[2] = 9.0, 5.0  # the switched-off class wins the logits; the third class is next
    log = Log()
    got = run(Biased(biases).eval(), spec, tmp_path / "ov.tif", "openvino", log, batch_size=1, window=(0, 0, 300, 200))
    assert log.has("1 stream(s), requests of 1 tile(s)"), log.lines
    assert set(np.unique(got)) == {0, spec.classes[2].code}  # 0: the example's nodata border


def test_converting_removes_the_cached_models_of_other_versions_unused_for_a_week(tmp_path, monkeypatch):
    """A plugin or OpenVINO update changes every key: the models cached before can never be read again by
    it. Another install sharing the cache (with another OpenVINO) keeps those it reads."""
    import time

    import openvino as ov

    cache = tmp_path / "cache"
    monkeypatch.setenv("FLAIR_CACHE_DIR", str(cache))
    week_ago = time.time() - (openvino_backend.UNUSED_DAYS + 1) * 86400
    other = {"format": openvino_backend.FORMAT, "openvino": "2024.0.0-1-x"}
    folders = {"older layout": ({"sizes": {"model.bin": 9}}, week_ago), "other openvino": (other, week_ago),
               "other openvino, used lately": (other, None), "no manifest": (None, week_ago),
               "current": ({"format": openvino_backend.FORMAT, "openvino": ov.__version__}, week_ago)}
    for name, (manifest, when) in folders.items():
        (cache / "openvino" / name / "sub").mkdir(parents=True)
        (cache / "openvino" / name / "sub" / "model.bin").write_bytes(b"x" * 2_000_000)
        if manifest is not None:
            path = cache / "openvino" / name / "manifest.json"
            path.write_text(json.dumps(manifest))
            if when is not None:
                os.utime(path, (when, when))
    log = Log()
    model, spec, window = tiny_model(), inc_spec(), (0, 0, 300, 200)
    run(model, spec, tmp_path / "out.tif", "openvino", log, window=window)
    assert log.has("Converted") and log.has("Removed 2 cached OpenVINO model(s)") and log.has("(4 MB)"), log.lines
    left = {f.name for f in (cache / "openvino").iterdir()}
    assert {"current", "no manifest", "other openvino, used lately"} <= left
    assert not {"older layout", "other openvino"} & left
    [new] = left - set(folders)
    manifest = cache / "openvino" / new / "manifest.json"
    assert json.loads(manifest.read_text())["format"] == openvino_backend.FORMAT
    assert json.loads(manifest.read_text())["openvino"] == ov.__version__
    os.utime(manifest, (week_ago, week_ago))
    again = Log()
    run(model, spec, tmp_path / "again.tif", "openvino", again, window=window)
    assert again.has("read from the cache") and manifest.stat().st_mtime > time.time() - 600  # marked as used
