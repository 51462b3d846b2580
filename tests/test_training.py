"""Training a tiny model on synthetic patches whose classes are learnable: it learns, it resumes
exactly, it fine-tunes, and it says when a class is never predicted."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import TINY_ENCODER, tiny_model
from registry_fixtures import entry_like
from flair_qgis.checkpoints import read_checkpoint, save_checkpoint
from flair_qgis.model_spec import ModelSpec
from flair_qgis.errors import Cancelled, FlairError
from flair_qgis.normalisation import Normalisation
from flair_qgis.palette import palette
from flair_qgis.progress import Progress
from flair_qgis.training import TrainOptions, make_classes, train
from synthetic import COLOURS, write_flair, write_images_labels

CLASSES = make_classes([(1, "grass", 1, "#46e483"), (2, "roof", 1, "#db0e9a"), (3, "water", 1, "#1553ae")])


@pytest.fixture(scope="module")
def patches(tmp_path_factory) -> Path:
    """40 patches of 64×64 px: grass with roof and water rectangles, each class its own colour."""
    return write_flair(tmp_path_factory.mktemp("patches"), 40)


def options(patches: Path, out: Path, **changes) -> TrainOptions:
    base = TrainOptions(train=[patches], out_folder=out, classes=CLASSES, encoder=TINY_ENCODER, epochs=3,
                        batch_size=8, patience=0, seed=1)
    return replace(base, **changes)


class Recorder(Progress):
    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__(fraction=self._fraction, cancelled=self._cancelled, log=self._log, warn=self._warn)
        self.fractions: list[float] = []
        self.logs: list[str] = []
        self.warnings: list[str] = []
        self.cancel_at = cancel_at

    def _fraction(self, f: float) -> None:
        self.fractions.append(f)

    def _cancelled(self) -> bool:
        return self.cancel_at is not None and bool(self.fractions) and self.fractions[-1] >= self.cancel_at

    def _log(self, m: str) -> None:
        self.logs.append(m)

    def _warn(self, m: str) -> None:
        self.warnings.append(m)


def without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_tiny_model_learns_the_learnable_classes_well_above_chance(patches, tmp_path):
    progress = Recorder()

    result = train(options(patches, tmp_path, epochs=5), progress)

    # chance (a model that has learnt nothing) is about 1/3 for three classes; the colours make them easy
    assert result.best_miou > 0.75, result.history
    assert result.history[-1]["val_miou"] > result.history[0]["val_miou"]
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    assert all(row["train_loss"] > 0 for row in result.history)
    assert progress.fractions == sorted(progress.fractions) and progress.fractions[-1] == pytest.approx(1.0)
    assert any("Epoch 5/5: training loss" in m and "mIoU" in m for m in progress.logs)
    assert progress.warnings == []


def test_outputs_best_checkpoint_describes_the_users_classes_and_metrics_files(patches, tmp_path):
    result = train(options(patches, tmp_path, epochs=2, name="mine"))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine_best.pt", "mine_confusion.png", "mine_curves.png", "mine_last.pt", "mine_metrics.csv",
        "mine_metrics.json", "mine_train.csv", "mine_val.csv"]
    from flair_qgis.patch_files import find_pairs

    held_out = find_pairs([result.val_csv]).pairs
    assert len(held_out) == 8 and len(find_pairs([result.train_csv]).pairs) == 32
    assert not {p.image for p in held_out} & {p.image for p in find_pairs([result.train_csv]).pairs}
    best = read_checkpoint(result.best)
    assert best.spec.classes == tuple(c.info() for c in CLASSES) and best.spec.active == (True, True, True)
    assert (best.spec.arch, best.spec.encoder, best.spec.bands) == ("unet", TINY_ENCODER, ("R", "G", "B"))
    assert best.spec.normalisation == Normalisation.for_bands(("R", "G", "B")) and best.spec.resolution == 0.2
    assert (best.spec.tile_size, best.spec.margin) == (64, 16)  # segment with tiles like the training patches
    assert best.n_classes == 3 and "optimizer" not in best.extra["training"]  # small: not for resuming
    with open(result.metrics_csv, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_loss", "val_miou", "val_oa", "lr", "iou_1", "iou_2", "iou_3"} <= set(rows[0])
    report = json.loads(result.metrics_json.read_text(encoding="utf-8"))
    assert report["best_epoch"] == result.best_epoch and len(report["history"]) == 2
    assert report["best_scores"]["miou"] == pytest.approx(result.best_miou)
    for png in (result.curves_png, result.confusion_png):
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_cancel_writes_a_resumable_checkpoint_and_resuming_equals_an_uninterrupted_run(patches, tmp_path):
    whole = train(options(patches, tmp_path / "whole"))

    cancelled = Recorder(cancel_at=0.4)  # in epoch 2, after a few of its 4 training batches
    with pytest.raises(Cancelled, match=r"at epoch 2, batch \d; resume the training from .*model_last.pt"):
        train(options(patches, tmp_path / "split"), cancelled)
    resumed_log = Recorder()
    resumed = train(options(patches, tmp_path / "split", resume=tmp_path / "split" / "model_last.pt"), resumed_log)

    assert any(m.startswith("Resuming at epoch 2, batch ") and not m.endswith("batch 0") for m in resumed_log.logs)
    assert without_time(resumed.history) == without_time(whole.history)
    assert resumed.best_epoch == whole.best_epoch and resumed.best_miou == whole.best_miou
    for a, b in ((whole.best, resumed.best), (whole.last, resumed.last)):
        wa, wb = read_checkpoint(a).state_dict, read_checkpoint(b).state_dict
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), a.name


def test_resuming_needs_the_last_checkpoint_and_more_epochs(patches, tmp_path):
    result = train(options(patches, tmp_path, epochs=1))
    with pytest.raises(FlairError, match="cannot be resumed.*use the \\*_last.pt one"):
        train(options(patches, tmp_path, resume=result.best))
    with pytest.raises(FlairError, match="has already done 1 epochs: ask for more epochs"):
        train(options(patches, tmp_path, epochs=1, resume=result.last))
    longer = train(options(patches, tmp_path / "more", epochs=2, resume=result.last))
    assert [r["epoch"] for r in longer.history] == [1, 2]


def test_fine_tuning_keeps_the_encoder_and_reinitialises_a_head_of_another_size(patches, tmp_path):
    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-19"), active=(True,) * 19,
                     normalisation=Normalisation.for_bands(rgb))
    base = save_checkpoint(tmp_path / "flair19.pt", tiny_model(3, 19, seed=7), spec)
    progress = Recorder()

    result = train(options(patches, tmp_path / "out", epochs=1, init_checkpoint=base, optimizer="sgd",
                           learning_rate=1e-9, weight_decay=0.0), progress)

    start, tuned = read_checkpoint(base).state_dict, read_checkpoint(result.best).state_dict
    assert tuned["segmentation_head.0.weight"].shape[0] == 3
    encoder = [k for k in start if k.startswith("encoder.") and start[k].is_floating_point() and "running" not in k]
    assert encoder and all(torch.allclose(start[k], tuned[k], atol=1e-6) for k in encoder)
    assert any("Re-initialised the head for 3 classes (the starting model has 19)" in m for m in progress.logs)


def test_fine_tuning_a_zoo_model_fetches_it_and_keeps_its_bands_and_normalisation(patches, tmp_path, fake_hub,
                                                                                   monkeypatch):
    import io

    from conftest import ignf_state_dict
    from flair_qgis import zoo

    name = "FLAIR-INC_rgb_15cl_tiny-unet"
    entry = entry_like(zoo.ZOO["FLAIR-INC_rgb_15cl_resnet34-unet"], name=name, repo_id=f"IGNF/{name}",
                    filename=f"{name}_weights.pth", encoder=TINY_ENCODER, sha256=None, size=None)
    monkeypatch.setitem(zoo.ZOO, name, entry)
    buffer = io.BytesIO()
    torch.save(ignf_state_dict(tiny_model(3, 19, seed=3)), buffer)  # IGNF's layout: model.seg_model. keys
    fake_hub.add(entry.repo_id, entry.filename, buffer.getvalue())
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    progress = Recorder()

    result = train(options(patches, tmp_path, epochs=1, init_model=name, encoder="resnet50"), progress)

    spec = read_checkpoint(result.best).spec
    assert (spec.arch, spec.encoder, spec.bands) == ("unet", TINY_ENCODER, ("R", "G", "B"))  # the zoo model's
    assert spec.normalisation == entry.normalisation and spec.n_classes == 3
    assert fake_hub.downloads() == 1
    assert any("Fine-tuning zoo model FLAIR-INC_rgb_15cl_tiny-unet" in m for m in progress.logs)
    assert any("Re-initialised the head for 3 classes (the starting model has 19)" in m for m in progress.logs)


def test_a_weight_0_class_is_ignored_and_never_predicted(patches, tmp_path):
    classes = make_classes([(1, "grass"), (2, "roof"), (3, "water", 0)])

    result = train(options(patches, tmp_path, epochs=1, classes=classes))

    spec = read_checkpoint(result.best).spec
    assert spec.active == (True, True, False)
    assert [c.code for c in result.best_scores.classes] == [1, 2]  # water is not scored
    assert "iou_3" not in result.history[0]


def test_a_class_never_predicted_on_validation_is_a_warning_not_silence(tmp_path):
    train_dir = write_images_labels(tmp_path / "train", 24, codes=(1, 2))     # no water to learn from
    # water in validation, but looking like grass: the model has no way to find it
    val_dir = write_images_labels(tmp_path / "val", 6, first=100, paint={3: COLOURS[1]})
    progress = Recorder()

    result = train(TrainOptions(train=[train_dir], val=[val_dir], out_folder=tmp_path / "out", classes=CLASSES,
                                encoder=TINY_ENCODER, epochs=4, batch_size=8, learning_rate=0.01, patience=0,
                                seed=1), progress)

    assert result.best_scores.iou_of(3) == 0.0
    assert any("class 3 'water' has no pixel in the training patches" in w for w in progress.warnings)
    assert any(w.startswith(f"at the best epoch ({result.best_epoch}) class 3 'water' has") and "IoU 0" in w
               for w in progress.warnings)


def test_early_stopping_ends_the_run_when_the_validation_miou_stops_improving(patches, tmp_path):
    result = train(options(patches, tmp_path, epochs=8, patience=1, optimizer="sgd", learning_rate=1e-9))

    assert result.stopped_early and len(result.history) < 8
    assert result.best_epoch == max(result.history, key=lambda r: r["val_miou"])["epoch"]


def test_bad_settings_and_bad_labels_are_refused_before_training(patches, tmp_path):
    with pytest.raises(FlairError, match="crop size 48 must be a multiple of 32"):
        train(options(patches, tmp_path, crop_size=48))
    with pytest.raises(FlairError, match="unknown optimizer"):
        train(options(patches, tmp_path, optimizer="adam"))
    with pytest.raises(FlairError, match=r"label value\(s\) 3 are not among the declared classes \(1, 2\)"):
        train(options(patches, tmp_path, classes=make_classes([(1, "grass"), (2, "roof")])))
    with pytest.raises(FlairError, match=r"40 pair\(s\) left out because the image has fewer than 4 band\(s\)"):
        train(options(patches, tmp_path, bands=[1, 2, 3, 4]))
    assert not (tmp_path / "model_best.pt").exists()
