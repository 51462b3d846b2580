"""flair:exportpatches → flair:train → flair:segment → flair:evaluate inside QGIS (pytest-qgis), as
the toolbox and the graphical modeler run them: real algorithms, a tiny model, small rasters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import TINY_ENCODER, make_raster
from synthetic import synthetic_patch

pytestmark = pytest.mark.qgis

MODEL_FILE = Path(__file__).resolve().parent / "data" / "train_loop.model3"
CLASSES = [1, "grass", 1, "#46e483", 2, "roof", 1, "#db0e9a", 3, "water", 1, "#1553ae"]
NAMES = ["grass", "roof", "water"]


def scene(folder: Path, seed: int, size: int) -> tuple[Path, Path]:
    """An orthophoto with grass, roofs and water, and its class raster (nodata 0)."""
    image, labels = synthetic_patch(seed, size)
    folder.mkdir(parents=True, exist_ok=True)
    return make_raster(folder / "ortho.tif", image), make_raster(folder / "labels.tif", labels, nodata=0)


def run(alg: str, **params):
    import processing

    return processing.run(alg, {k: str(v) if isinstance(v, Path) else v for k, v in params.items()})


def test_provider_has_the_training_algorithms_with_described_parameters(provider):
    algs = {a.id(): a for a in provider.algorithms()}
    assert {"flair:exportpatches", "flair:train", "flair:evaluate"} <= set(algs)
    for alg_id in ("flair:exportpatches", "flair:train", "flair:evaluate"):
        alg = algs[alg_id]
        assert alg.shortHelpString() and alg.name() == alg.name().lower()
        for p in alg.parameterDefinitions():
            assert p.name() == p.name().upper() and p.description().strip(), f"{alg_id}: {p.name()}"
        for o in alg.outputDefinitions():
            assert o.name() == o.name().upper() and o.description().strip(), f"{alg_id}: {o.name()}"


def test_export_train_segment_evaluate_loop(provider, tmp_path):
    ortho, labels = scene(tmp_path / "site", seed=1000, size=320)
    new_ortho, new_labels = scene(tmp_path / "elsewhere", seed=2000, size=192)

    exported = run("flair:exportpatches", INPUT=ortho, LABELS=labels, PATCH_SIZE=64, OUTPUT=tmp_path / "patches")
    assert exported["COUNT"] == 25 and Path(exported["CSV"]).is_file()
    assert len(list((tmp_path / "patches" / "img").glob("IMG_*.tif"))) == 25

    trained = run("flair:train", TRAIN=exported["OUTPUT"], CLASSES=CLASSES, ENCODER=TINY_ENCODER, EPOCHS=4,
                  BATCH_SIZE=8, PATIENCE=0, SEED=1, NAME="loop", OUTPUT_FOLDER=tmp_path / "model")
    assert trained["BEST_CHECKPOINT"] == str(tmp_path / "model" / "loop_best.pt")
    assert trained["BEST_MIOU"] > 0.6
    for key in ("LAST_CHECKPOINT", "METRICS", "METRICS_JSON", "CURVES", "VAL_LIST"):
        assert Path(trained[key]).is_file(), key
    held_out = run("flair:evaluate", CHECKPOINT=trained["BEST_CHECKPOINT"], PATCHES_CSV=trained["VAL_LIST"],
                   TABLE="TEMPORARY_OUTPUT", JSON=tmp_path / "val.json", HEATMAP=tmp_path / "val.png")
    assert held_out["MIOU"] == pytest.approx(trained["BEST_MIOU"], abs=1e-3)  # the validation, measured again

    out = tmp_path / "map" / "landcover.tif"
    run("flair:segment", INPUT=new_ortho, CHECKPOINT=trained["BEST_CHECKPOINT"], OUTPUT=out)  # nothing else
    qml = out.with_suffix(".qml").read_text(encoding="utf-8")
    assert all(f'label="{name}"' in qml for name in NAMES) and 'color="#db0e9a"' in qml
    with rasterio.open(out) as dst:
        assert set(np.unique(dst.read(1))) <= {1, 2, 3}

    scores = run("flair:evaluate", INPUT=out, REFERENCE=new_labels, TABLE="TEMPORARY_OUTPUT",
                 JSON=tmp_path / "eval" / "scores.json", HEATMAP=tmp_path / "eval" / "confusion.png")
    assert scores["MIOU"] > 0.6 and 0.5 < scores["OVERALL_ACCURACY"] <= 1
    table = scores["TABLE"]
    rows = [f.attributes() for f in table.getFeatures()]
    assert [r[1] for r in rows] == NAMES + ["mIoU", "overall accuracy"]
    assert rows[3][2] == pytest.approx(scores["MIOU"])
    report = json.loads((tmp_path / "eval" / "scores.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in report["classes"]] == NAMES  # classes read from the segmented raster
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_export_rasterises_polygons_with_a_class_field(provider, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer

    ortho, _ = scene(tmp_path / "site", seed=3, size=128)
    layer = QgsVectorLayer("Polygon?crs=EPSG:2154&field=cls:integer", "labels", "memory")
    x0, y0 = 650000.0, 6860000.0
    features = []
    for (c0, r0, c1, r1), code in (((0, 0, 64, 64), 2), ((64, 0, 128, 40), 3)):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(x0 + c0 * 0.2, y0 - r1 * 0.2, x0 + c1 * 0.2, y0 - r0 * 0.2)))
        f.setAttributes([code])
        features.append(f)
    layer.dataProvider().addFeatures(features)

    result = run("flair:exportpatches", INPUT=ortho, POLYGONS=layer, CLASS_FIELD="cls", PATCH_SIZE=64,
                 OUTPUT=tmp_path / "patches")

    assert result["COUNT"] == 2  # the bottom two patches have no labelled pixel: skipped
    with rasterio.open(tmp_path / "patches" / "msk" / "MSK_000001.tif") as a, \
            rasterio.open(tmp_path / "patches" / "msk" / "MSK_000002.tif") as b:
        assert (a.read(1) == 2).all() and a.nodata == 0
        second = b.read(1)
    assert (second[:40] == 3).all() and (second[40:] == 0).all()


def test_train_reports_bad_patches_as_processing_errors(provider, tmp_path):
    from qgis.core import QgsProcessingException

    ortho, labels = scene(tmp_path / "site", seed=5, size=128)
    run("flair:exportpatches", INPUT=ortho, LABELS=labels, PATCH_SIZE=64, OUTPUT=tmp_path / "patches")
    with pytest.raises(QgsProcessingException, match=r"label value\(s\) 3 are not among the declared classes"):
        run("flair:train", TRAIN=tmp_path / "patches", CLASSES=CLASSES[:8], ENCODER=TINY_ENCODER, EPOCHS=1,
            OUTPUT_FOLDER=tmp_path / "model")
    with pytest.raises(QgsProcessingException, match="no training patches given"):
        run("flair:train", ENCODER=TINY_ENCODER, OUTPUT_FOLDER=tmp_path / "model")


def test_cancelled_training_resumes_from_its_last_checkpoint(provider, tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    import processing

    ortho, labels = scene(tmp_path / "site", seed=6, size=192)
    run("flair:exportpatches", INPUT=ortho, LABELS=labels, PATCH_SIZE=64, OUTPUT=tmp_path / "patches")
    params = {"TRAIN": str(tmp_path / "patches"), "CLASSES": CLASSES, "ENCODER": TINY_ENCODER, "EPOCHS": 2,
              "BATCH_SIZE": 2, "OUTPUT_FOLDER": str(tmp_path / "model")}
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda value: value > 60 and feedback.cancel())

    with pytest.raises(QgsProcessingException, match=r"cancelled by the user at epoch 2.*resume the training from"):
        processing.run("flair:train", params, feedback=feedback)
    last = tmp_path / "model" / "model_last.pt"
    assert last.is_file()

    resumed = run("flair:train", RESUME=last, EPOCHS=2, ENCODER=TINY_ENCODER, OUTPUT_FOLDER=tmp_path / "model")
    history = json.loads(Path(resumed["METRICS_JSON"]).read_text(encoding="utf-8"))["history"]
    assert [row["epoch"] for row in history] == [1, 2]


def test_saved_model_chains_export_train_segment_evaluate(provider, tmp_path):
    """The graphical modeler's file: each algorithm's output feeds the next one's input."""
    from qgis.core import QgsProcessingModelAlgorithm

    import processing

    ortho, labels = scene(tmp_path / "site", seed=1000, size=256)
    new_ortho, new_labels = scene(tmp_path / "elsewhere", seed=2000, size=128)
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL_FILE))
    assert sorted(c.algorithmId() for c in model.childAlgorithms().values()) == [
        "flair:evaluate", "flair:exportpatches", "flair:segment", "flair:train"]

    result = processing.run(model, {
        "ORTHOPHOTO": str(ortho), "LABELS": str(labels), "PATCH_SIZE": 64, "CLASSES": CLASSES, "EPOCHS": 2,
        "ENCODER": TINY_ENCODER, "NEW_ORTHOPHOTO": str(new_ortho), "REFERENCE": str(new_labels),
        "evaluate:SCORES": str(tmp_path / "scores.csv"), "evaluate:REPORT": str(tmp_path / "scores.json"),
        "evaluate:HEATMAP": str(tmp_path / "confusion.png"), "segment:LANDCOVER": str(tmp_path / "landcover.tif")})

    assert (tmp_path / "landcover.tif").is_file() and (tmp_path / "landcover.qml").is_file()
    assert result["segment:LANDCOVER"] == str(tmp_path / "landcover.tif")
    lines = (tmp_path / "scores.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("code,name,iou") and [line.split(",")[1] for line in lines[1:]] == \
        NAMES + ["mIoU", "overall accuracy"]
    report = json.loads((tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert 0 <= report["miou"] <= 1 and (tmp_path / "confusion.png").is_file()
