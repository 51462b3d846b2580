"""The training loop through the real ``/usr/bin/qgis_process.bin``, as a script would run it:
patches cut from an orthophoto and labelled polygons (a GeoJSON file), a model trained on them,
another orthophoto segmented with it and the result evaluated against its labels."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import QGIS_PROCESS, REQUIRE_QGIS, TINY_ENCODER, enable_plugin, make_raster, qgis_env
from conftest import qgis_process as run_qgis_process
from synthetic import COLOURS

pytestmark = [pytest.mark.qgis, pytest.mark.slow]

ORIGIN = (650000.0, 6860000.0)
# (code, (col0, row0, col1, row1)) in pixels of a 256 px scene; later rectangles win
RECTANGLES = [(1, (0, 0, 256, 256)), (2, (20, 30, 110, 90)), (2, (150, 140, 240, 200)), (3, (40, 150, 120, 240)),
              (3, (170, 10, 230, 100))]

if not REQUIRE_QGIS and not Path(QGIS_PROCESS).is_file():
    pytest.skip(f"{QGIS_PROCESS} is not installed (make setup)", allow_module_level=True)


def qgis_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = run_qgis_process(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Headless, the plugin and the venv visible, a throw-away profile with the plugin enabled."""
    profile = tmp_path_factory.mktemp("qgis-profile")
    env = qgis_env(profile, OMP_NUM_THREADS="1")
    enable_plugin(env)
    return env


def scene(folder: Path, seed: int, shift: int = 0) -> tuple[Path, Path, np.ndarray]:
    """A 256 px orthophoto painted from RECTANGLES (moved by ``shift`` px), the same rectangles as
    GeoJSON polygons (EPSG:2154), and the class codes they cover."""
    codes = np.zeros((256, 256), np.uint8)
    features = []
    for code, (c0, r0, c1, r1) in RECTANGLES:
        c0, c1 = (min(256, max(0, v + shift)) if code != 1 else v for v in (c0, c1))
        codes[r0:r1, c0:c1] = code
        x0, x1 = ORIGIN[0] + c0 * 0.2, ORIGIN[0] + c1 * 0.2
        y0, y1 = ORIGIN[1] - r0 * 0.2, ORIGIN[1] - r1 * 0.2
        features.append({"type": "Feature", "properties": {"cls": code}, "geometry": {
            "type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}})
    rng = np.random.default_rng(seed)
    colours = np.array([COLOURS.get(v, (0, 0, 0)) for v in range(4)], dtype=np.float64)
    image = np.clip(colours[codes].transpose(2, 0, 1) + rng.normal(0, 20, (3, 256, 256)), 0, 255).astype(np.uint8)
    folder.mkdir(parents=True)
    polygons = folder / "labels.geojson"
    polygons.write_text(json.dumps({"type": "FeatureCollection", "features": features, "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}}), encoding="utf-8")
    return make_raster(folder / "ortho.tif", image, origin=ORIGIN), polygons, codes


def outputs(done: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in done.stdout.splitlines() if ":\t" in line)


def test_export_train_segment_evaluate_through_qgis_process(env, tmp_path):
    ortho, polygons, _ = scene(tmp_path / "site", seed=1)
    new_ortho, _, new_codes = scene(tmp_path / "elsewhere", seed=2, shift=16)
    reference = make_raster(tmp_path / "elsewhere" / "reference.tif", new_codes[None], nodata=0, origin=ORIGIN)

    exported = outputs(qgis_process("run", "flair:exportpatches", "--", f"INPUT={ortho}", f"POLYGONS={polygons}",
                                    "CLASS_FIELD=cls", "PATCH_SIZE=64", f"OUTPUT={tmp_path / 'patches'}", env=env))
    assert exported["COUNT"] == "16"
    with rasterio.open(tmp_path / "patches" / "msk" / "MSK_000001.tif") as msk:
        _, _, codes = scene(tmp_path / "again", seed=1)
        np.testing.assert_array_equal(msk.read(1), codes[:64, :64])

    classes = "1,grass,1,#46e483,2,roof,1,#db0e9a,3,water,1,#1553ae"
    trained = outputs(qgis_process("run", "flair:train", "--", f"TRAIN={tmp_path / 'patches'}", f"CLASSES={classes}",
                                   f"ENCODER={TINY_ENCODER}", "EPOCHS=6", "BATCH_SIZE=4", "PATIENCE=0", "SEED=1",
                                   "LEARNING_RATE=0.005", "NAME=parking", f"OUTPUT_FOLDER={tmp_path / 'model'}",
                                   env=env))
    best = Path(trained["BEST_CHECKPOINT"])
    assert best == tmp_path / "model" / "parking_best.pt" and float(trained["BEST_MIOU"]) > 0.5

    landcover = tmp_path / "map" / "landcover.tif"
    qgis_process("run", "flair:segment", "--", f"INPUT={new_ortho}", f"CHECKPOINT={best}", f"OUTPUT={landcover}",
                 env=env)
    assert 'label="water"' in landcover.with_suffix(".qml").read_text(encoding="utf-8")

    table = tmp_path / "eval" / "scores.csv"
    scores = outputs(qgis_process("run", "flair:evaluate", "--", f"INPUT={landcover}", f"REFERENCE={reference}",
                                  f"TABLE={table}", f"JSON={tmp_path / 'eval' / 'scores.json'}",
                                  f"HEATMAP={tmp_path / 'eval' / 'confusion.png'}", env=env))
    assert float(scores["MIOU"]) > 0.5 and float(scores["OVERALL_ACCURACY"]) > 0.7
    with open(table, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["grass", "roof", "water", "mIoU", "overall accuracy"]
    assert float(rows[3]["iou"]) == pytest.approx(float(scores["MIOU"]))
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
