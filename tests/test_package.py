"""The installable ZIP (``make package``): what it holds, and a plugin installed from it into a
fresh QGIS profile that runs flair:segment and the shipped graphical model through qgis_process."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rasterio

from conftest import (EXAMPLE, PLUGIN_NAME, ROOT, SITE_PACKAGES, TINY_ENCODER, enable_plugin, make_raster,
                      needs_qgis_process, qgis_process, random_image, tiny_model)

sys.path.insert(0, str(ROOT / "tools"))
import package  # noqa: E402 - tools/package.py

PIPELINE_MODEL = "flair:landcover_workflow"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return package.build(tmp_path_factory.mktemp("dist"))


def test_zip_is_named_after_the_metadata_version_and_holds_one_plugin_folder(archive):
    assert archive.name == f"{PLUGIN_NAME}-{package.version()}.zip"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert names and all(n.startswith(f"{PLUGIN_NAME}/") for n in names)
    inside = {n.split("/", 1)[1] for n in names}
    for required in ("__init__.py", "plugin.py", "provider.py", "metadata.txt", "LICENSE", "README.md",
                     "requirements.txt", "algorithms/segment.py", "flair_qgis/engine.py", "resources/palettes.json",
                     "resources/icon.svg", "i18n/flair_fr.qm", "examples/parking_mosaic.tif"):
        assert required in inside, required
    assert any(n.startswith("resources/models/") and n.endswith(".model3") for n in inside)


def test_zip_leaves_out_tests_caches_and_build_leftovers(archive):
    with zipfile.ZipFile(archive) as zf:
        inside = [n.split("/", 1)[1] for n in zf.namelist()]
    for part in ("tests/", ".venv/", "build/", "bench/", ".git/", "tools/", "dist/", "__pycache__", ".ci/",
                 ".pytest_cache", ".qgis-settings"):
        assert not [n for n in inside if part in f"/{n}" or n.startswith(part)], part
    assert not [n for n in inside if n.endswith((".pyc", ".aux.xml", ".ts"))]
    assert "Makefile" not in inside and "pytest.ini" not in inside and "requirements-dev.txt" not in inside


@pytest.fixture(scope="module")
def installed(archive, tmp_path_factory) -> dict[str, str]:
    """The ZIP unpacked into a fresh profile's plugins folder and enabled there, as QGIS's
    "Install from ZIP" does; the venv's packages stand for the installed dependencies."""
    root = tmp_path_factory.mktemp("qgis-config")
    plugins = root / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(plugins)
    env = {k: v for k, v in os.environ.items() if k != "QGIS_PLUGINPATH"}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(root), PYTHONPATH=str(SITE_PACKAGES),
               OMP_NUM_THREADS="1")
    enable_plugin(env)
    env["FLAIR_TEST_PLUGIN_DIR"] = str(plugins / PLUGIN_NAME)
    return env


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-15"),
                     active=(True,) * 15, normalisation=Normalisation.for_bands(rgb), tile_size=128, margin=32)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", tiny_model(3, 15), spec)


def _run(env, *args) -> subprocess.CompletedProcess:
    return qgis_process("run", *args, env=env)


@pytest.mark.qgis
@pytest.mark.slow
@needs_qgis_process
def test_plugin_installed_from_the_zip_segments_a_raster(installed, checkpoint, tmp_path):
    raster = make_raster(tmp_path / "ortho.tif", random_image(200, 260))
    out = tmp_path / "out" / "landcover.tif"

    done = _run(installed, "flair:segment", "--", f"INPUT={raster}", f"CHECKPOINT={checkpoint}", f"OUTPUT={out}")

    assert done.returncode == 0, done.stdout + done.stderr
    assert out.is_file() and out.with_suffix(".qml").is_file()
    with rasterio.open(out) as dst:
        assert (dst.width, dst.height) == (260, 200) and dst.read(1).min() >= 1


@pytest.mark.qgis
@pytest.mark.slow
@needs_qgis_process
def test_shipped_model_makes_a_map_polygons_and_an_area_table_of_the_example(installed, checkpoint, tmp_path,
                                                                             qgis_app):
    """What a newcomer does after installing the ZIP: the shipped graphical model on the bundled
    example (here with a tiny checkpoint instead of the 98 MB zoo model)."""
    from qgis.core import QgsVectorLayer

    example = Path(installed["FLAIR_TEST_PLUGIN_DIR"]) / "examples" / EXAMPLE.name
    out = tmp_path / "out"
    done = _run(installed, PIPELINE_MODEL, "--", f"ORTHOPHOTO={example}", f"CHECKPOINT={checkpoint}",
                f"SEGMENT:LANDCOVER={out / 'landcover.tif'}", f"POLYGONIZE:POLYGONS={out / 'polygons.gpkg'}",
                f"CLASSAREAS:AREAS={out / 'areas.csv'}")

    assert done.returncode == 0, done.stdout + done.stderr
    with rasterio.open(out / "landcover.tif") as dst, rasterio.open(example) as src:
        assert (dst.width, dst.height) == (src.width, src.height)
    assert (out / "landcover.qml").is_file()
    polygons = QgsVectorLayer(str(out / "polygons.gpkg"), "polygons", "ogr")
    assert polygons.isValid() and polygons.featureCount() > 0
    assert polygons.renderer().type() == "categorizedSymbol"
    table = QgsVectorLayer(str(out / "areas.csv"), "areas", "ogr")
    shares = [float(f["share_pct"]) for f in table.getFeatures()]
    assert shares and sum(shares) == pytest.approx(100.0, abs=0.01)


def test_make_package_needs_no_virtual_environment(tmp_path):
    """tools/package.py uses only the standard library: ``make package`` runs it with python3 when
    the virtual environment is absent."""
    dist = tmp_path / "dist"
    done = subprocess.run(["make", "-s", "package", f"VENV={tmp_path / 'no-venv'}", f"DIST={dist}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = dist / f"{PLUGIN_NAME}-{package.version()}.zip"
    with zipfile.ZipFile(archive) as zf:
        assert f"{PLUGIN_NAME}/flair_qgis/engine.py" in zf.namelist()
