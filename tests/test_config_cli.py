"""FLAIR-1 ``flair-detect`` YAML configurations read into a SegmentRequest, and
``python -m flair_qgis detect --conf`` run on them end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from conftest import ROOT, TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis import cli
from flair_qgis.config import detect_options
from flair_qgis.errors import FlairError
from flair_qgis.normalisation import Normalisation

MEANS = [105.08, 110.87, 101.82, 106.38, 53.26]
STDS = [52.17, 45.38, 44.0, 39.69, 79.3]


def flair1_detect_yaml(img: Path | str, weights: Path | str, out: Path | str, n_bands: int = 5,
                       **changes: str) -> str:
    """A configuration laid out as FLAIR-1's configs/flair-1-config-detect.yaml (``changes`` replace
    or add top-level keys, as YAML text)."""
    keys = {
        "output_path": f"{out}", "output_name": "landcover",
        "input_img_path": f"{img}", "bands": str(list(range(1, n_bands + 1))),
        "img_pixels_detection": "512", "margin": "128", "output_type": '"argmax"', "n_classes": "19",
        "model_weights": f"{weights}", "batch_size": "4", "use_gpu": "true", "model_name": "'unet'",
        "encoder_name": "'resnet34'", "num_worker": "0", "write_dataframe": "False",
    }
    keys.update(changes)
    lines = [f"{k}: {v}" for k, v in keys.items()]
    lines += ["", "norma_task:", "  - norm_type: custom",
              f"    norm_means: {MEANS[:n_bands]}", f"    norm_stds: {STDS[:n_bands]}"]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- reading configurations --------------------------------------------------------------------

FLAIR1_DETECT = """\
# flair-detect configuration, as FLAIR-1 ships it (configs/flair-1-config-detect.yaml)
output_path: /results
output_name: landcover

input_img_path: /data/zone.tif
bands: [1,2,3,4,5]

img_pixels_detection: 512
margin: 128
output_type: "argmax"
n_classes: 19

model_weights: /models/FLAIR-INC_rgbie_15cl_resnet34-unet_weights.pth
batch_size: 4
use_gpu: true
model_name: 'unet'
encoder_name: 'resnet34'
num_worker: 0

write_dataframe: False

norma_task:
  - norm_type: custom
    norm_means: [105.08, 110.87, 101.82, 106.38, 53.26]
    norm_stds: [52.17, 45.38, 44.00, 39.69, 79.30]
"""


def test_flair1_detect_config_maps_to_segment_options(tmp_path):
    conf = write(tmp_path / "flair-1-config-detect.yaml", FLAIR1_DETECT)
    warnings: list[str] = []

    o = detect_options(conf, warn=warnings.append)

    assert o.read.input == Path("/data/zone.tif")
    assert o.write.output == Path("/results/landcover.tif")
    assert o.model.checkpoint == Path("/models/FLAIR-INC_rgbie_15cl_resnet34-unet_weights.pth")
    assert o.model.name is None
    assert o.read.bands == [1, 2, 3, 4, 5]
    assert (o.model.tile_size, o.model.margin, o.run.batch_size, o.write.output_type) == (512, 128, 4, "argmax")
    assert (o.model.arch, o.model.encoder, o.model.n_classes) == ("unet", "resnet34", 19)
    assert o.run.device == "auto"
    assert o.model.normalisation == Normalisation("custom", tuple(MEANS), tuple(STDS))
    assert warnings == []


def test_use_gpu_false_means_cpu_and_ignored_keys_are_reported(tmp_path):
    conf = write(tmp_path / "c.yaml", flair1_detect_yaml("in.tif", "w.pth", "out", use_gpu="false",
                                                         num_worker="2", write_dataframe="True"))
    warnings: list[str] = []

    o = detect_options(conf, warn=warnings.append)

    assert o.run.device == "cpu"
    assert any("num_worker has no effect" in w for w in warnings)
    assert any("write_dataframe has no effect" in w for w in warnings)


def test_output_name_with_tif_is_kept(tmp_path):
    conf = write(tmp_path / "c.yaml", flair1_detect_yaml("in.tif", "w.pth", "/out", output_name="zone_42.TIF"))
    assert detect_options(conf).write.output == Path("/out/zone_42.TIF")


def test_top_level_norm_keys_and_channels_alias(tmp_path):
    conf = write(tmp_path / "c.yaml", "\n".join([
        "input_img_path: /data/zone.tif", "output_path: /out", "output_name: pred",
        "model_weights: /m.ckpt", "channels: [3, 2, 1]",
        "norm_type: custom", "norm_means: [1.0, 2.0, 3.0]", "norm_stds: [4, 5, 6]",
    ]))

    o = detect_options(conf)

    assert o.read.bands == [3, 2, 1]
    assert o.model.normalisation == Normalisation("custom", (1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    m = o.model
    assert (m.tile_size, m.margin, m.n_classes, m.arch, m.encoder) == (None, None, None, None, None)


def test_top_level_norm_keys_override_norma_task(tmp_path):
    conf = write(tmp_path / "c.yaml", flair1_detect_yaml("in.tif", "w.pth", "out") + "norm_type: scaling\n")
    assert detect_options(conf).model.normalisation.type == "scaling"


def test_model_key_names_a_zoo_entry_instead_of_weights(tmp_path):
    conf = write(tmp_path / "c.yaml", "input_img_path: /in.tif\noutput_path: /out\noutput_name: x\n"
                                      "model: FLAIR-INC_rgb_12cl_resnet34-unet\ndevice: cpu\n")

    o = detect_options(conf)

    assert o.model.name == "FLAIR-INC_rgb_12cl_resnet34-unet"
    assert (o.model.checkpoint, o.run.device, o.model.normalisation) == (None, "cpu", None)


def test_unknown_key_warns_and_is_ignored(tmp_path):
    conf = write(tmp_path / "c.yaml", flair1_detect_yaml("in.tif", "w.pth", "out", output_tipe="class_prob"))
    warnings: list[str] = []

    o = detect_options(conf, warn=warnings.append)

    assert warnings == ["c.yaml: unknown key 'output_tipe' ignored"]
    assert o.write.output_type == "argmax"


def test_missing_keys_are_all_listed(tmp_path):
    conf = write(tmp_path / "c.yaml", "bands: [1, 2, 3]\nmargin: 128\n")

    with pytest.raises(FlairError) as err:
        detect_options(conf)

    for key in ("input_img_path", "output_path", "output_name", "model_weights (or model)"):
        assert key in str(err.value)
    assert "c.yaml" in str(err.value)


def test_relative_paths_resolve_against_the_config_folder_when_not_in_the_working_folder(tmp_path, monkeypatch):
    confdir = tmp_path / "project"
    (confdir / "data").mkdir(parents=True)
    (confdir / "data" / "zone.tif").write_bytes(b"")
    (confdir / "weights.pth").write_bytes(b"")
    conf = write(confdir / "detect.yaml", flair1_detect_yaml("data/zone.tif", "weights.pth", "results"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    o = detect_options(conf)

    assert o.read.input == confdir / "data" / "zone.tif"
    assert o.model.checkpoint == confdir / "weights.pth"
    assert o.write.output == Path("results/landcover.tif")  # a folder not made yet: relative to the working folder


def test_relative_path_in_the_working_folder_wins_as_in_flair_detect(tmp_path, monkeypatch):
    confdir, cwd = tmp_path / "conf", tmp_path / "cwd"
    for folder in (confdir, cwd):
        folder.mkdir()
        (folder / "zone.tif").write_bytes(b"")
    conf = write(confdir / "detect.yaml", flair1_detect_yaml("zone.tif", "w.pth", "out"))
    monkeypatch.chdir(cwd)

    assert detect_options(conf).read.input == Path("zone.tif")


@pytest.mark.parametrize("text,match", [
    ("input_img_path: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
    (flair1_detect_yaml("in.tif", "w.pth", "out", img_pixels_detection="big"), "value of the wrong type"),
    (flair1_detect_yaml("in.tif", "w.pth", "out").replace(f"norm_stds: {STDS}", f"norm_stds: {STDS[:3]}"),
     "as many means as stds"),
])
def test_malformed_configurations_are_errors(tmp_path, text, match):
    conf = write(tmp_path / "c.yaml", text)
    with pytest.raises(FlairError, match=match):
        detect_options(conf)


def test_missing_configuration_file(tmp_path):
    with pytest.raises(FlairError, match="cannot read the configuration"):
        detect_options(tmp_path / "nope.yaml")


# --- python -m flair_qgis detect --conf ---------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_bare_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_unet.pth"
    torch.save(tiny_model().state_dict(), path)
    return path


def run_detect(conf: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")  # a tiny model: one thread is plenty
    return subprocess.run([sys.executable, "-m", "flair_qgis", "detect", "--conf", str(conf)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def tiny_detect_yaml(img: Path, weights: Path, out: Path) -> str:
    return flair1_detect_yaml(img, weights, out, n_bands=3, img_pixels_detection="64", margin="16",
                              batch_size="8", use_gpu="false", encoder_name=f"'{TINY_ENCODER}'")


def test_cli_detect_writes_a_georeferenced_class_raster_and_its_style(tmp_path, tiny_bare_weights):
    img = make_raster(tmp_path / "zone.tif", random_image(200, 300, bands=3, seed=2))
    out = tmp_path / "results"
    conf = write(tmp_path / "detect.yaml", tiny_detect_yaml(img, tiny_bare_weights, out))

    done = run_detect(conf)

    assert done.returncode == 0, done.stderr
    result = out / "landcover.tif"
    assert done.stdout.strip().splitlines()[-1] == str(result)
    with rasterio.open(img) as src, rasterio.open(result) as dst:
        assert (dst.width, dst.height, dst.count) == (src.width, src.height, 1)
        assert dst.crs == src.crs and dst.transform == src.transform
        assert dst.dtypes[0] == "uint8"
        classes = dst.read(1)
    assert classes.min() >= 1 and classes.max() <= 19
    assert len(np.unique(classes)) > 1  # a real prediction, not a constant fill
    qml = (out / "landcover.qml").read_text(encoding="utf-8")
    assert 'value="1"' in qml and "building" in qml
    assert sorted(p.name for p in out.iterdir()) == ["landcover.qml", "landcover.tif"]


def test_cli_detect_with_a_bad_input_path_exits_2_and_writes_nothing(tmp_path, tiny_bare_weights):
    out = tmp_path / "results"
    out.mkdir()
    conf = write(tmp_path / "detect.yaml", tiny_detect_yaml(tmp_path / "no-such-file.tif", tiny_bare_weights, out))

    done = run_detect(conf)

    assert done.returncode == 2
    assert "error: input raster" in done.stderr and "no-such-file.tif does not exist" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(out.iterdir()) == []


def test_detect_with_a_bad_weights_path_exits_2_and_writes_nothing(tmp_path, capsys):
    """The same entry point in-process (main() returns the exit status)."""
    img = make_raster(tmp_path / "zone.tif", random_image(200, 300, bands=3))
    out = tmp_path / "results"
    conf = write(tmp_path / "detect.yaml", tiny_detect_yaml(img, tmp_path / "no-such-weights.pth", out))

    status = cli.main(["detect", "--conf", str(conf)])

    err = capsys.readouterr().err
    assert status == 2
    assert "error: checkpoint" in err and "no-such-weights.pth does not exist" in err
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detect.yaml", "zone.tif"]


def test_cli_needs_a_configuration(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["detect"])
    assert exit_.value.code == 2
    assert "--conf" in capsys.readouterr().err


def test_doctor_reports_versions_devices_and_the_cache(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    run = subprocess.run([sys.executable, "-m", "flair_qgis", "doctor"], cwd=ROOT, capture_output=True, text=True,
                         env={**__import__("os").environ, "HF_HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    for word in ("torch 2.", "segmentation-models-pytorch", "GDAL", "CUDA", f"Model cache: {tmp_path}/hub",
                 "FLAIR-INC_rgbie_15cl_resnet34-unet: not cached"):
        assert word in run.stdout
