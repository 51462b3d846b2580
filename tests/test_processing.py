"""The FLAIR Processing provider inside QGIS (pytest-qgis): what the toolbox, the modeler and
scripts see, and what the algorithms write. Real algorithms, real tiny models, real files."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from conftest import TINY_ENCODER, ignf_state_dict, make_raster, random_image, tiny_model

pytestmark = pytest.mark.qgis

MODEL_FILE = Path(__file__).resolve().parent / "data" / "segment.model3"
CUSTOM_CLASSES = ((3, "Parking lot", "#ff0000"), (7, "Lawn", "#00ff00"), (12, "Everything else", "#0000ff"))


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def project(qgis_app):
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    yield QgsProject.instance()
    QgsProject.instance().clear()


def _save_own(path: Path, classes, active=None, bands=("R", "G", "B")) -> Path:
    """A tiny model in our self-describing format, tiled 64/16 so that runs are quick."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation

    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=tuple(bands), classes=tuple(classes),
                     active=tuple(active or (True,) * len(classes)),
                     normalisation=Normalisation.for_bands(tuple(bands)), tile_size=128, margin=32,
                     name="tiny test model")
    return save_checkpoint(path, tiny_model(len(bands), len(classes)), spec)


@pytest.fixture(scope="module")
def flair_ckpt(tmp_path_factory) -> Path:
    """FLAIR's 19 classes on the head, the 15-class model's ones active (like FLAIR-INC *_15cl)."""
    from flair_qgis.palette import palette

    active_codes = {c.code for c in palette("flair-15")}
    classes = palette("flair-19")
    return _save_own(tmp_path_factory.mktemp("ckpt") / "flair15.pt", classes,
                     [c.code in active_codes for c in classes])


@pytest.fixture(scope="module")
def custom_ckpt(tmp_path_factory) -> Path:
    """A user's own model: three classes with their own codes, names and colours."""
    from flair_qgis.palette import ClassInfo

    return _save_own(tmp_path_factory.mktemp("ckpt") / "custom.pt", [ClassInfo(*c) for c in CUSTOM_CLASSES])


@pytest.fixture
def raster(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return make_raster(folder / "ortho.tif", random_image(300, 420))


@pytest.fixture
def out_dir(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _segment(**params):
    import processing

    return processing.run("flair:segment", {k: str(v) if isinstance(v, Path) else v for k, v in params.items()})


def _palette_entries(layer) -> list[tuple[int, str]]:
    renderer = layer.renderer()
    assert renderer.type() == "paletted", f"{layer.name()} is drawn by a {renderer.type()} renderer"
    return [(c.value, c.label) for c in renderer.classes()]


# --- what the toolbox shows ------------------------------------------------------------------

def test_provider_lists_its_algorithms_with_lowercase_ids(provider):
    ids = sorted(alg.id() for alg in provider.algorithms())
    assert ids == ["flair:applystyle", "flair:change", "flair:classareas", "flair:diagnostics", "flair:downloadmodel",
                   "flair:evaluate", "flair:exportpatches", "flair:installdependencies", "flair:landcover_workflow",
                   "flair:landtake_workflow", "flair:polygonize", "flair:segment", "flair:train",
                   "flair:training_workflow"]
    assert all(alg.name() == alg.name().lower() and alg.groupId() == alg.groupId().lower()
               for alg in provider.algorithms())


def test_plugin_registers_the_provider_and_unload_removes_it(qgis_processing):
    """What qgis_process does: classFactory with no interface, then initProcessing."""
    from qgis.core import QgsApplication

    import flair_for_qgis

    registry = QgsApplication.processingRegistry()
    plugin = flair_for_qgis.classFactory(None)
    plugin.initProcessing()
    assert registry.providerById("flair") is not None and registry.algorithmById("flair:segment") is not None
    plugin.unload()
    assert registry.providerById("flair") is None and registry.algorithmById("flair:segment") is None


def test_every_parameter_and_output_has_a_description(provider):
    for alg in provider.algorithms():
        assert alg.shortHelpString(), alg.id()
        for p in alg.parameterDefinitions():
            assert p.name() == p.name().upper() and p.description().strip(), f"{alg.id()}: {p.name()}"
        for o in alg.outputDefinitions():
            assert o.name() == o.name().upper() and o.description().strip(), f"{alg.id()}: {o.name()}"


def test_choice_parameters_store_names_not_indexes(provider):
    from qgis.core import QgsApplication, QgsProcessingParameterEnum

    from flair_qgis.zoo import ZOO

    registry = QgsApplication.processingRegistry()
    for alg_id in ("flair:segment", "flair:downloadmodel"):
        model = registry.algorithmById(alg_id).parameterDefinition("MODEL")
        assert model.usesStaticStrings() and model.options() == list(ZOO)
    for alg in provider.algorithms():
        for p in alg.parameterDefinitions():
            if isinstance(p, QgsProcessingParameterEnum):
                assert p.usesStaticStrings(), f"{alg.id()}: {p.name()} stores an index"
                assert p.defaultValue() in p.options(), f"{alg.id()}: {p.name()}"


def test_diagnostics_reports_versions_and_the_cache(provider):
    import processing

    report = processing.run("flair:diagnostics", {})["REPORT"]
    for word in ("QGIS 3.", "torch", "rasterio", "GDAL", "CUDA", "Model cache", "FLAIR-INC_rgb_15cl_resnet34-unet",
                 "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet: not cached", "safetensors", "openvino 2026.4.1",
                 "OpenVINO devices: CPU"):
        assert word in report


# --- flair:segment ---------------------------------------------------------------------------

def test_segment_writes_class_codes_on_the_input_grid_with_a_style(provider, raster, out_dir, flair_ckpt):
    from flair_qgis.palette import palette

    out = out_dir / "landcover.tif"
    result = _segment(INPUT=raster, CHECKPOINT=flair_ckpt, OUTPUT=out)

    assert result["OUTPUT"] == str(out)
    assert sorted(os.listdir(out_dir)) == ["landcover.qml", "landcover.tif"]
    with rasterio.open(raster) as src, rasterio.open(out) as dst:
        assert (dst.width, dst.height, dst.count, dst.dtypes[0]) == (420, 300, 1, "uint8")
        assert dst.crs == src.crs and dst.transform == src.transform
        codes = dst.read(1)
        assert dst.tags()["FLAIR_TILING"] == "128/32"  # the checkpoint's own tiling
    flair15 = {c.code for c in palette("flair-15")}
    assert set(np.unique(codes)) <= flair15
    assert len(np.unique(codes)) > 1, "the model predicts one class everywhere: the test proves little"
    qml = (out_dir / "landcover.qml").read_text(encoding="utf-8")
    assert 'type="paletted"' in qml and all(f'label="{c.name}"' in qml for c in palette("flair-15"))


def test_tile_size_and_margin_given_override_the_checkpoints_own(provider, raster, out_dir, flair_ckpt):
    out = out_dir / "landcover.tif"
    _segment(INPUT=raster, CHECKPOINT=flair_ckpt, TILE_SIZE=256, MARGIN=0, OUTPUT=out)

    with rasterio.open(out) as dst:
        assert dst.tags()["FLAIR_TILING"] == "256/0"  # a margin of 0 is a setting, not "empty"


def test_speed_and_quality_options_reach_the_engine(provider, raster, out_dir, flair_ckpt):
    fast = _segment(INPUT=raster, CHECKPOINT=flair_ckpt, PRESET="fast", OUTPUT=out_dir / "fast.tif")
    blend = _segment(INPUT=raster, CHECKPOINT=flair_ckpt, STITCH="blend", TTA=True, PRECISION="fp32",
                     OUTPUT=out_dir / "blend.tif")
    with rasterio.open(fast["OUTPUT"]) as f, rasterio.open(blend["OUTPUT"]) as b:
        assert f.tags()["FLAIR_TILING"] == "256/32"  # the checkpoint's 128 px tiles, doubled
        assert b.tags()["FLAIR_STITCH"] == "blend"
        assert (f.width, f.height) == (b.width, b.height) == (420, 300)


def test_bands_parameter_picks_and_orders_the_bands_fed_to_the_model(provider, tmp_path, out_dir, flair_ckpt):
    four = random_image(300, 420, bands=4, seed=3)
    rgbn = make_raster(tmp_path / "rgbn.tif", four)
    with rasterio.open(rgbn, "r+") as dst:  # GDAL takes a 4th byte band for alpha: make it NIR
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    bgr = make_raster(tmp_path / "bgr.tif", four[[2, 1, 0]])

    _segment(INPUT=rgbn, CHECKPOINT=flair_ckpt, BANDS=[3, 2, 1], OUTPUT=out_dir / "picked.tif")
    _segment(INPUT=bgr, CHECKPOINT=flair_ckpt, OUTPUT=out_dir / "direct.tif")
    _segment(INPUT=rgbn, CHECKPOINT=flair_ckpt, OUTPUT=out_dir / "first_three.tif")

    def codes(name):
        with rasterio.open(out_dir / name) as dst:
            return dst.read(1)

    np.testing.assert_array_equal(codes("picked.tif"), codes("direct.tif"))
    assert not np.array_equal(codes("picked.tif"), codes("first_three.tif"))


def test_class_prob_writes_one_probability_band_per_class(provider, raster, out_dir, flair_ckpt):
    from flair_qgis.palette import palette

    out = out_dir / "probs.tif"
    _segment(INPUT=raster, CHECKPOINT=flair_ckpt, OUTPUT_TYPE="class_prob", OUTPUT=out)

    with rasterio.open(out) as dst:
        assert (dst.count, dst.width, dst.height) == (19, 420, 300)
        assert dst.descriptions == tuple(c.name for c in palette("flair-19"))
        probs = dst.read().astype(int)
    inactive = [i for i, c in enumerate(palette("flair-19")) if c.code not in {k.code for k in palette("flair-15")}]
    assert not probs[inactive].any(), "switched-off classes got a probability"
    assert np.abs(probs.sum(axis=0) - 255).max() <= 19  # each band rounded on its own
    assert os.listdir(out_dir) == ["probs.tif"]  # no class style for probabilities


def _no_crs_raster(tmp_path):
    return make_raster(tmp_path / "in" / "nocrs.tif", random_image(300, 420), crs=None)


def _corrupt_ckpt(tmp_path):
    path = tmp_path / "in" / "corrupt.pt"
    path.write_bytes(b"PK\x03\x04 this is not a torch file " * 50)
    return path


@pytest.mark.parametrize("change, message", [
    (dict(BANDS=[1, 2]), "the model takes 3 bands"),
    (dict(BANDS=[1, 2, 7]), "band 7 does not exist"),
    (dict(INPUT=_no_crs_raster), "has no CRS"),
    (dict(CHECKPOINT=lambda tmp: tmp / "in" / "missing.pt"), "missing.pt does not exist"),
    (dict(CHECKPOINT=_corrupt_ckpt), "is corrupt, truncated or not a PyTorch file"),
    (dict(DEVICE="cuda"), "device 'cuda' was asked for but PyTorch sees no CUDA GPU"),
    (dict(TILE_SIZE=64, MARGIN=32), "twice the margin (64) must be smaller than the tile size (64)"),
    (dict(TILE_SIZE=80, MARGIN=8), "tile size 80 is not a multiple of 32"),
], ids=["band-count", "band-out-of-range", "no-crs", "missing-checkpoint", "corrupt-checkpoint", "cuda-absent",
        "margin-too-wide", "tile-not-multiple-of-32"])
def test_bad_input_is_refused_with_its_cause_and_writes_nothing(provider, raster, out_dir, flair_ckpt, tmp_path,
                                                               change, message):
    from qgis.core import QgsProcessingException

    if "DEVICE" in change:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    params = dict(INPUT=raster, CHECKPOINT=flair_ckpt, OUTPUT=out_dir / "landcover.tif")
    params.update({k: v(tmp_path) if callable(v) else v for k, v in change.items()})

    with pytest.raises(QgsProcessingException) as error:
        _segment(**params)

    assert message in str(error.value)
    assert os.listdir(out_dir) == []  # neither the output, nor its style, nor a temporary file


def test_cancel_stops_the_run_and_leaves_no_file(provider, raster, out_dir, flair_ckpt):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    import processing

    feedback = QgsProcessingFeedback()
    reports = []

    def cancel_after_first_report(value):
        reports.append(value)
        feedback.cancel()

    feedback.progressChanged.connect(cancel_after_first_report)
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(flair_ckpt),
                                         "BATCH_SIZE": 1, "OUTPUT": str(out_dir / "landcover.tif")},
                       feedback=feedback)

    assert reports and 0 < reports[0] < 100
    assert os.listdir(out_dir) == []


# --- the output opens styled -----------------------------------------------------------------

def test_run_and_load_results_adds_the_output_styled_with_class_names(provider, project, raster, out_dir, flair_ckpt):
    import processing

    from flair_qgis.palette import palette

    out = out_dir / "landcover.tif"
    processing.runAndLoadResults("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(flair_ckpt),
                                                   "OUTPUT": str(out)})

    loaded = [layer for layer in project.mapLayers().values() if layer.source() == str(out)]
    assert len(loaded) == 1
    assert _palette_entries(loaded[0]) == [(c.code, c.name) for c in palette("flair-15")]


def test_post_processor_styles_the_layer_loaded_on_completion(provider, project, raster, out_dir, custom_ckpt):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsRasterLayer

    import processing

    out = str(out_dir / "landcover.tif")
    context = QgsProcessingContext()
    context.setProject(project)
    context.addLayerToLoadOnCompletion(out, QgsProcessingContext.LayerDetails("result", project, "OUTPUT"))
    processing.run("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(custom_ckpt), "OUTPUT": out},
                   context=context)

    details = context.layerToLoadOnCompletionDetails(out)
    assert details.postProcessor() is not None
    options = QgsRasterLayer.LayerOptions()
    options.loadDefaultStyle = False  # only the post-processor may style it
    layer = QgsRasterLayer(out, details.name, "gdal", options)
    assert layer.isValid()
    project.addMapLayer(layer)
    details.postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())

    assert _palette_entries(layer) == [(code, name) for code, name, _ in CUSTOM_CLASSES]
    assert details.name == "FLAIR land cover"


# --- flair:applystyle ------------------------------------------------------------------------

def test_applystyle_from_raster_uses_the_classes_recorded_by_segment(provider, project, raster, out_dir,
                                                                     custom_ckpt):
    from qgis.core import QgsRasterLayer

    import processing

    out = out_dir / "landcover.tif"
    _segment(INPUT=raster, CHECKPOINT=custom_ckpt, OUTPUT=out)
    (out_dir / "landcover.qml").unlink()
    layer = QgsRasterLayer(str(out), "landcover", "gdal")
    project.addMapLayer(layer)

    result = processing.run("flair:applystyle", {"INPUT": layer, "PALETTE": "from raster"})

    assert result["STYLE"] == str(out_dir / "landcover.qml") and Path(result["STYLE"]).is_file()
    assert result["OUTPUT"] == layer.id()
    expected = [(code, name) for code, name, _ in CUSTOM_CLASSES]
    assert _palette_entries(layer) == expected
    assert _palette_entries(QgsRasterLayer(str(out), "reopened", "gdal")) == expected  # opens styled


def test_applystyle_with_a_named_palette_styles_any_class_raster(provider, project, tmp_path):
    from qgis.core import QgsRasterLayer

    import processing

    from flair_qgis.palette import palette

    labels = np.arange(1, 14, dtype=np.uint8).repeat(4).reshape(1, 4, 13)
    path = make_raster(tmp_path / "labels.tif", labels)
    layer = QgsRasterLayer(str(path), "labels", "gdal")
    project.addMapLayer(layer)

    result = processing.run("flair:applystyle", {"INPUT": layer.id(), "PALETTE": "flair-13"})

    expected = [(c.code, c.name) for c in palette("flair-13")]
    assert _palette_entries(layer) == expected
    assert Path(result["STYLE"]) == tmp_path / "labels.qml"
    assert _palette_entries(QgsRasterLayer(str(path), "reopened", "gdal")) == expected


# --- flair:downloadmodel ---------------------------------------------------------------------

def test_downloadmodel_lists_every_flair_inc_model_as_confirmed(provider):
    """Issue #16 (13): the FLAIR-INC files are pinned to their upload commit, sha256 and size."""
    from qgis.core import QgsApplication

    from flair_qgis.zoo import ZOO

    alg = QgsApplication.processingRegistry().algorithmById("flair:downloadmodel")
    help_text = alg.shortHelpString()
    confirmed = help_text.split("Confirmed (", 1)[1].split("\n\n", 1)[0]
    not_confirmed = help_text.split("Not confirmed (", 1)[1]
    inc = [name for name in ZOO if name.startswith("FLAIR-INC_")]
    assert inc and all(name in confirmed for name in inc)
    assert not any(name in not_confirmed for name in inc)
    assert confirmed.index(inc[0]) < min(confirmed.index(name) for name in inc[1:])  # the default first
    model_help = alg.parameterDefinition("MODEL").help()
    assert all(name in model_help.split("Not confirmed")[0] for name in inc)


def test_downloadmodel_puts_the_verified_file_in_the_hf_cache(provider, fake_hub, monkeypatch, _private_hf_cache):
    import torch

    import processing

    from flair_qgis.zoo import ZOO

    entry = ZOO["FLAIR-HUB_LC-A_RGB_swintiny-upernet"]  # unhashed: checked against the hash the hub announces
    buffer = io.BytesIO()
    torch.save(ignf_state_dict(tiny_model(3, 19)), buffer)
    data = buffer.getvalue()
    fake_hub.add(entry.repo_id, entry.filename, data)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)

    result = processing.run("flair:downloadmodel", {"MODEL": entry.name})

    path = Path(result["FILE"])
    assert path.name == entry.filename and path.is_file()
    assert path.is_relative_to(_private_hf_cache / "hub")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert fake_hub.downloads() == 1

    again = processing.run("flair:downloadmodel", {"MODEL": entry.name})
    assert again["FILE"] == result["FILE"] and fake_hub.downloads() == 1  # cached and intact: kept


# --- the graphical modeler -------------------------------------------------------------------

def test_saved_model_runs_segment_on_its_raster_and_checkpoint_inputs(provider, raster, out_dir, flair_ckpt):
    from qgis.core import QgsProcessingModelAlgorithm

    import processing

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL_FILE))
    assert [c.algorithmId() for c in model.childAlgorithms().values()] == ["flair:segment"]
    assert {p.name() for p in model.parameterDefinitions()} == {"ORTHOPHOTO", "CHECKPOINT", "segment:LANDCOVER"}

    out = out_dir / "landcover.tif"
    result = processing.run(model, {"ORTHOPHOTO": str(raster), "CHECKPOINT": str(flair_ckpt),
                                    "segment:LANDCOVER": str(out)})

    assert result["segment:LANDCOVER"] == str(out)
    assert sorted(os.listdir(out_dir)) == ["landcover.qml", "landcover.tif"]
    with rasterio.open(out) as dst, rasterio.open(raster) as src:
        assert (dst.width, dst.height, dst.crs) == (src.width, src.height, src.crs)
        assert dst.read(1).min() >= 1
