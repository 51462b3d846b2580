"""FLAIR-1 ``flair --conf`` files read into training options, and ``python -m flair_qgis train`` /
``evaluate`` run on them end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY_ENCODER, make_raster
from flair_qgis.config import train_config
from flair_qgis.errors import FlairError
from flair_qgis.normalisation import Normalisation
from synthetic import write_flair

# Laid out as IGNF/FLAIR-1 configs/flair-1-config.yaml (sections), with the keys of its README.
FLAIR1_TRAIN = """\
paths:
    out_folder: {out}
    out_model_name: 'parking'
    train_csv: {train_csv}
    val_csv: {val_csv}
    test_csv: {test_csv}
    ckpt_model_path: ""
    path_metadata_aerial: ''

tasks:
    train: True
    train_tasks:
        init_weights_only_from_ckpt: False
        resume_training_from_ckpt: False
    predict: False
    metrics: True
    delete_preds: False

model_provider:
    HuggingFace:
        use: False
        org_model: 'openmmlab/upernet-swin-small'
    SegmentationModelsPytorch:
        use: True
        encoder_decoder: '{encoder}_unet'

use_augmentation: True
use_metadata: False
channels: [1,2,3]
seed: 7

norma_task:
  - norm_type: custom
    norm_means: [105.08, 110.87, 101.82]
    norm_stds: [52.17, 45.38, 44.00]

hyperparams:
    batch_size: 8
    learning_rate: 0.005
    num_epochs: 2

use_weights: True
classes:
    1: [1, 'grass']
    2: [2, 'roof', '#ff0000']
    3: [0, 'water']

georeferencing_output: True
computational:
    accelerator: cpu
    num_nodes: 1
    gpus_per_node: 1
    strategy: 'auto'
    num_workers: 10
saving:
    ckpt_save_also_last: True
    ckpt_verbose: True
    ckpt_weights_only: False
    ckpt_monitor: 'val_loss'
    ckpt_monitor_mode: 'min'
    ckpt_earlystopping_patience: 30
cp_csv_and_conf_to_output: True
enable_progress_bar: True
progress_rate: 10
"""


def csv_list(path: Path, folder: Path, ids) -> Path:
    path.write_text("".join(f"{folder}/Z1/img/IMG_{i:06d}.tif,{folder}/Z1/msk/MSK_{i:06d}.tif\n" for i in ids),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = write_flair(tmp_path_factory.mktemp("flair"), 24)
    lists = tmp_path_factory.mktemp("lists")
    return (csv_list(lists / "train.csv", folder, range(16)), csv_list(lists / "val.csv", folder, range(16, 20)),
            csv_list(lists / "test.csv", folder, range(20, 24)))


def conf_file(tmp_path, dataset, **replace) -> Path:
    train_csv, val_csv, test_csv = dataset
    text = FLAIR1_TRAIN.format(out=tmp_path / "out", train_csv=train_csv, val_csv=val_csv, test_csv=test_csv,
                               encoder=TINY_ENCODER)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "flair-1-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flair1_config_sections_map_to_training_options(tmp_path, dataset):
    warnings = []
    conf = train_config(conf_file(tmp_path, dataset), warn=warnings.append)

    o = conf.options
    assert (o.out_folder, o.name) == (tmp_path / "out" / "parking", "parking")
    assert o.train == [dataset[0]] and o.val == [dataset[1]] and conf.test == [dataset[2]]
    assert (o.arch, o.encoder, o.bands) == ("unet", TINY_ENCODER, [1, 2, 3])
    assert o.normalisation == Normalisation("custom", (105.08, 110.87, 101.82), (52.17, 45.38, 44.0))
    assert (o.seed, o.batch_size, o.learning_rate, o.epochs) == (7, 8, 0.005, 2)
    assert [(c.code, c.name, c.weight) for c in o.classes] == [(1, "grass", 1), (2, "roof", 2), (3, "water", 0)]
    assert o.classes[1].colour == "#ff0000"
    assert (o.use_class_weights, o.augment, o.device, o.monitor, o.patience) == (True, True, "cpu", "val_loss", 30)
    assert (o.save_last, o.resumable, o.resume, o.init_checkpoint) == (True, True, None, None)
    assert sorted(p.name for p in conf.copy) == ["flair-1-config.yaml", "test.csv", "train.csv", "val.csv"]
    assert warnings == []


def test_checkpoint_keys_choose_fine_tuning_or_resuming(tmp_path, dataset):
    ckpt = tmp_path / "weights.ckpt"
    init = train_config(conf_file(tmp_path, dataset, **{'ckpt_model_path: ""': f"ckpt_model_path: {ckpt}",
                                                        "init_weights_only_from_ckpt: False":
                                                            "init_weights_only_from_ckpt: True"}))
    assert init.options.init_checkpoint == ckpt and init.options.resume is None
    resume = train_config(conf_file(tmp_path, dataset, **{'ckpt_model_path: ""': f"ckpt_model_path: {ckpt}",
                                                          "resume_training_from_ckpt: False":
                                                              "resume_training_from_ckpt: True"}))
    assert resume.options.resume == ckpt and resume.options.init_checkpoint is None
    with pytest.raises(FlairError, match="resume_training_from_ckpt is set but ckpt_model_path is empty"):
        train_config(conf_file(tmp_path, dataset, **{"resume_training_from_ckpt: False":
                                                     "resume_training_from_ckpt: True"}))


def test_unsupported_choices_are_reported(tmp_path, dataset):
    warnings = []
    train_config(conf_file(tmp_path, dataset, **{"use_metadata: False": "use_metadata: True",
                                                 "num_nodes: 1": "num_nodes: 2", "seed: 7": "seed: 7\nbogus: 1"}),
                 warn=warnings.append)
    assert any("use_metadata is not supported" in w for w in warnings)
    assert any("num_nodes is 2" in w for w in warnings)
    assert any("unknown key 'bogus' ignored" in w for w in warnings)
    with pytest.raises(FlairError, match="model_provider HuggingFace is not supported"):
        train_config(conf_file(tmp_path, dataset,
                               **{"HuggingFace:\n        use: False": "HuggingFace:\n        use: True"}))


def test_cli_train_then_test_metrics_and_evaluate(tmp_path, dataset):
    conf = conf_file(tmp_path, dataset)
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}

    done = subprocess.run([sys.executable, "-m", "flair_qgis", "train", "--conf", str(conf)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    out = tmp_path / "out" / "parking"
    assert str(out / "parking_best.pt") in done.stdout and "test patches" in done.stdout
    assert {"parking_best.pt", "parking_last.pt", "parking_metrics.csv", "parking_test.json", "parking_test.csv",
            "parking_test_confusion.png", "used_csv_and_config"} <= {p.name for p in out.iterdir()}
    test = json.loads((out / "parking_test.json").read_text(encoding="utf-8"))
    assert test["patches"] == 4 and [c["name"] for c in test["classes"]] == ["grass", "roof"]  # water: weight 0

    evaluated = subprocess.run([sys.executable, "-m", "flair_qgis", "evaluate", "--checkpoint",
                                str(out / "parking_best.pt"), "--patches", str(dataset[2]), "--out",
                                str(tmp_path / "ev")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    again = json.loads((tmp_path / "ev" / "evaluation.json").read_text(encoding="utf-8"))
    assert again["miou"] == pytest.approx(test["miou"]) and "mIoU" in evaluated.stdout


def test_cli_evaluate_two_rasters_and_refuse_other_grids(tmp_path):
    ref = make_raster(tmp_path / "ref.tif", np.array([[[1, 1, 2, 2]]], np.uint8))
    pred = make_raster(tmp_path / "pred.tif", np.array([[[1, 2, 2, 2]]], np.uint8))
    shifted = make_raster(tmp_path / "shifted.tif", np.array([[[1, 2, 2, 2]]], np.uint8), origin=(650000.1, 6860000.0))

    def evaluate(prediction):
        return subprocess.run([sys.executable, "-m", "flair_qgis", "evaluate", "--prediction", str(prediction),
                               "--reference", str(ref), "--palette", "flair-19", "--out", str(tmp_path / "ev")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = evaluate(pred)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text(encoding="utf-8"))
    assert report["overall_accuracy"] == 0.75 and report["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    refused = evaluate(shifted)
    assert refused.returncode == 2 and "shifted by a fraction of a pixel" in refused.stderr
    assert "Traceback" not in refused.stderr
