"""flair:segment's and ``python -m flair_qgis detect``'s settings added for issue #10: which classes
the model may predict (ACTIVE_CLASSES), the value range of 16-bit imagery (VALUE_RANGE), and the
dialog's defaults (INPUT, BATCH_SIZE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from conftest import TINY_ENCODER, KeepingFeedback, make_raster, random_image, tiny_model

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def flair19_ckpt(tmp_path_factory) -> Path:
    """A tiny model in our own format: FLAIR's 19 classes, all active, tiled 128/32."""
    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    rgb = ("R", "G", "B")
    spec = ModelSpec(arch="unet", encoder=TINY_ENCODER, bands=rgb, classes=palette("flair-19"),
                     active=(True,) * 19, normalisation=Normalisation.for_bands(rgb), tile_size=128, margin=32)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "flair19.pt", tiny_model(3, 19), spec)


def _segment(**params):
    import processing

    return processing.run("flair:segment", {k: str(v) if isinstance(v, Path) else v for k, v in params.items()})


def _codes(path) -> set[int]:
    with rasterio.open(path) as dst:
        return set(np.unique(dst.read(1)).tolist())


# --- ACTIVE_CLASSES ----------------------------------------------------------------------------

def test_active_classes_limit_the_classes_predicted(provider, tmp_path, flair19_ckpt):
    raster = make_raster(tmp_path / "ortho.tif", random_image(200, 260))
    everything = _codes(_segment(INPUT=raster, CHECKPOINT=flair19_ckpt, OUTPUT=tmp_path / "all.tif")["OUTPUT"])
    two = sorted(everything)[:2]

    only = _codes(_segment(INPUT=raster, CHECKPOINT=flair19_ckpt, ACTIVE_CLASSES=",".join(map(str, two)),
                           OUTPUT=tmp_path / "two.tif")["OUTPUT"])

    assert len(everything) > 2 and only == set(two)


def test_active_classes_not_of_the_model_are_refused(provider, tmp_path, flair19_ckpt):
    from qgis.core import QgsProcessingException

    raster = make_raster(tmp_path / "ortho.tif", random_image(100, 100))
    with pytest.raises(QgsProcessingException, match=r"code\(s\) 42 are not classes"):
        _segment(INPUT=raster, CHECKPOINT=flair19_ckpt, ACTIVE_CLASSES="1,42", OUTPUT=tmp_path / "out.tif")
    with pytest.raises(QgsProcessingException, match="ACTIVE_CLASSES: 'buildings' is not"):
        _segment(INPUT=raster, CHECKPOINT=flair19_ckpt, ACTIVE_CLASSES="buildings", OUTPUT=tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()


def test_cli_detect_takes_active_classes(tmp_path, capsys):
    import torch

    from flair_qgis import cli
    from test_config_cli import tiny_detect_yaml, write

    weights = tmp_path / "tiny_unet.pth"
    torch.save(tiny_model().state_dict(), weights)
    img = make_raster(tmp_path / "zone.tif", random_image(120, 150, seed=2))
    conf = write(tmp_path / "detect.yaml", tiny_detect_yaml(img, weights, tmp_path / "out"))

    assert cli.main(["detect", "--conf", str(conf), "--active-classes", "2,5"]) == 0

    assert _codes(tmp_path / "out" / "landcover.tif") <= {2, 5}
    assert "Active classes (as asked): 2 of 19, codes 2, 5" in capsys.readouterr().err


# --- VALUE_RANGE -------------------------------------------------------------------------------



def test_value_range_maps_16_bit_imagery_like_the_8_bit_original(provider, tmp_path, flair19_ckpt):
    import processing

    eight = random_image(160, 200, seed=4)
    raster8 = make_raster(tmp_path / "ortho8.tif", eight)
    raster16 = make_raster(tmp_path / "ortho16.tif", eight.astype(np.uint16) * 16)  # 0–4080
    reference = _segment(INPUT=raster8, CHECKPOINT=flair19_ckpt, OUTPUT=tmp_path / "ref.tif")["OUTPUT"]
    feedback = KeepingFeedback()

    mapped = processing.run("flair:segment", {"INPUT": str(raster16), "CHECKPOINT": str(flair19_ckpt),
                                              "VALUE_RANGE": "0,4080", "OUTPUT": str(tmp_path / "mapped.tif")},
                            feedback=feedback)["OUTPUT"]

    assert any("Mapping values 0–4080 onto 0–255" in m for m in feedback.infos)
    assert not feedback.warnings
    with rasterio.open(reference) as a, rasterio.open(mapped) as b:
        assert np.array_equal(a.read(1), b.read(1))


def test_the_stretch_warning_names_the_value_range_parameter(provider, tmp_path, flair19_ckpt):
    import processing

    raster16 = make_raster(tmp_path / "ortho16.tif", random_image(100, 100).astype(np.uint16) * 16)
    feedback = KeepingFeedback()
    processing.run("flair:segment", {"INPUT": str(raster16), "CHECKPOINT": str(flair19_ckpt),
                                     "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)

    warning = next(w for w in feedback.warnings if "percentiles" in w)
    assert "VALUE_RANGE" in warning and "--value-range" in warning


def test_a_value_range_of_one_number_is_refused(provider, tmp_path, flair19_ckpt):
    from qgis.core import QgsProcessingException

    raster = make_raster(tmp_path / "ortho.tif", random_image(60, 60))
    with pytest.raises(QgsProcessingException, match=r"VALUE_RANGE: give two numbers"):
        _segment(INPUT=raster, CHECKPOINT=flair19_ckpt, VALUE_RANGE="4095", OUTPUT=tmp_path / "o.tif")
    with pytest.raises(QgsProcessingException, match=r"the high value must exceed the low one"):
        _segment(INPUT=raster, CHECKPOINT=flair19_ckpt, VALUE_RANGE="4095,0", OUTPUT=tmp_path / "o.tif")


def test_cli_detect_takes_a_value_range(tmp_path, capsys):
    import torch

    from flair_qgis import cli
    from test_config_cli import tiny_detect_yaml, write

    weights = tmp_path / "tiny_unet.pth"
    torch.save(tiny_model().state_dict(), weights)
    img = make_raster(tmp_path / "zone.tif", random_image(100, 120, seed=2).astype(np.uint16) * 16)
    conf = write(tmp_path / "detect.yaml", tiny_detect_yaml(img, weights, tmp_path / "out"))

    assert cli.main(["detect", "--conf", str(conf), "--value-range", "0,4080"]) == 0

    err = capsys.readouterr().err
    assert "Mapping values 0–4080 onto 0–255" in err and "percentiles" not in err
    with pytest.raises(SystemExit):
        cli.main(["detect", "--conf", str(conf), "--value-range", "12"])


# --- EXTENT on exact pixel edges ------------------------------------------------------------------

X0, Y0 = 650000.0, 6860000.0  # make_raster's origin; pixels of 0.2 m


def test_an_extent_on_exact_pixel_edges_gives_exactly_its_pixels_and_the_log_says_so(provider, tmp_path,
                                                                                    flair19_ckpt):
    import processing

    raster = make_raster(tmp_path / "ortho.tif", random_image(700, 600))
    # 512 × 256 px from column 37, row 11: (xmax − xmin) / 0.2 is 512.0000000001 in floating point
    xmin, ymax = X0 + 37 * 0.2, Y0 - 11 * 0.2
    extent = f"{xmin},{xmin + 512 * 0.2},{ymax - 256 * 0.2},{ymax} [EPSG:2154]"
    feedback = KeepingFeedback()

    out = processing.run("flair:segment", {"INPUT": str(raster), "CHECKPOINT": str(flair19_ckpt), "EXTENT": extent,
                                           "OUTPUT": str(tmp_path / "part.tif")}, feedback=feedback)["OUTPUT"]

    with rasterio.open(out) as part:
        assert (part.width, part.height) == (512, 256)
        assert part.transform.c == pytest.approx(xmin) and part.transform.f == pytest.approx(ymax)
    assert any(m.startswith("512×256 px (a window at column 37, row 11 of the 600×700 px raster)")
               for m in feedback.infos), feedback.infos


def test_an_extent_off_the_pixel_edges_still_covers_every_pixel_it_touches(provider):
    from flair_for_qgis.algorithms.layer_input import pixel_span

    assert pixel_span(37.0, 549.0000000001) == (37, 549)  # on the edges, within floating-point noise
    assert pixel_span(36.9999999999, 549.0) == (37, 549)
    assert pixel_span(37.3, 548.2) == (37, 549)  # inside pixels: those pixels are included
    assert pixel_span(36.99, 549.01) == (36, 550)


# --- the dialog's defaults: INPUT and BATCH_SIZE -------------------------------------------------

def test_batch_size_is_empty_by_default_and_chosen_automatically(provider, tmp_path, flair19_ckpt):
    import processing
    from qgis.core import QgsApplication

    batch = QgsApplication.processingRegistry().algorithmById("flair:segment").parameterDefinition("BATCH_SIZE")
    assert batch.defaultValue() is None and "empty: automatic" in batch.description()
    feedback = KeepingFeedback()

    processing.run("flair:segment", {"INPUT": str(make_raster(tmp_path / "o.tif", random_image(80, 80))),
                                     "CHECKPOINT": str(flair19_ckpt), "OUTPUT": str(tmp_path / "out.tif")},
                   feedback=feedback)

    assert "Batch size 4 (automatic, on cpu)" in feedback.infos


@pytest.fixture
def layers(provider, qgis_iface, tmp_path, flair19_ckpt):
    """A project with an orthophoto and the land-cover map segmented from it."""
    from qgis.core import QgsProject, QgsRasterLayer

    ortho_path = make_raster(tmp_path / "ortho.tif", random_image(80, 80))
    landcover_path = _segment(INPUT=ortho_path, CHECKPOINT=flair19_ckpt, OUTPUT=tmp_path / "landcover.tif")["OUTPUT"]
    ortho, landcover = QgsRasterLayer(str(ortho_path), "ortho"), QgsRasterLayer(landcover_path, "land cover")
    QgsProject.instance().addMapLayers([ortho, landcover])
    yield ortho, landcover
    QgsProject.instance().removeAllMapLayers()  # the stub iface's active layer goes with them


def _offered(qgis_iface, active):
    from qgis.core import QgsApplication

    qgis_iface.setActiveLayer(active)
    alg = QgsApplication.processingRegistry().createAlgorithmById("flair:segment")  # as a dialog does
    return alg.parameterDefinition("INPUT").guiDefaultValueOverride()


def test_the_dialog_offers_the_orthophoto_not_an_active_land_cover_map(layers, qgis_iface):
    from flair_for_qgis.algorithms.layer_input import is_class_map

    ortho, landcover = layers
    assert is_class_map(landcover) and not is_class_map(ortho)

    assert _offered(qgis_iface, landcover) == ortho.id()
    assert _offered(qgis_iface, ortho) in (None, "")  # QGIS's own choice, the active orthophoto, stands
