"""Screenshots for the README, taken from a real QGIS desktop under Xvfb (``make screenshots``).

Run with the venv's Python from the plugin folder. It

1. segments the bundled example (``examples/parking_mosaic.tif``) with the engine and a ResNet34
   U-Net whose weights are random (seeded; the real models cannot be downloaded where this runs),
   its BatchNorm statistics measured on the example so that its classes vary with the image: the
   classes are meaningless, the styling, legend and georeferencing are those of a real run;
2. starts ``qgis`` under ``xvfb-run`` with a throw-away profile where the plugin is enabled, and
   this same file as its ``--code`` script, which loads the orthophoto and the styled map, turns
   the map into polygons with flair:polygonize (regions under 4 m² merged: the random model's
   speckle would hide the image), saves ``docs/screenshot_map.png`` (the QGIS window) and
   ``docs/screenshot_segment_dialog.png`` (the flair:segment dialog), then quits.

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

STAGE = "FLAIR_SCREENSHOT_STAGE"
# Inside QGIS the file is exec()-uted without __file__: run_qgis passes the folder along.
ROOT = Path(os.environ["FLAIR_SCREENSHOT_ROOT"]) if os.environ.get(STAGE) else Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "examples" / "parking_mosaic.tif"
WORK = ROOT / "build" / "screenshots"
MAP = WORK / "parking_landcover.tif"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])  # the running Python's (the venv's)
SHOTS = {"map": DOCS / "screenshot_map.png", "dialog": DOCS / "screenshot_segment_dialog.png"}


def make_map() -> Path:
    """The example segmented by a seeded random-weights ResNet34 U-Net in FLAIR-INC's layout."""
    sys.path.insert(0, str(ROOT))
    import torch

    from flair_qgis.checkpoints import save_checkpoint
    from flair_qgis.model_spec import ModelSpec, build_model
    from flair_qgis.engine import segment
    from flair_qgis.segment_options import SegmentRequest
    from flair_qgis.normalisation import Normalisation
    from flair_qgis.palette import palette

    import rasterio

    WORK.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    rgb = ("R", "G", "B")
    classes = palette("flair-19")
    normalisation = Normalisation.for_bands(rgb)
    spec = ModelSpec(arch="unet", encoder="resnet34", bands=rgb, classes=classes, active=(True,) * len(classes),
                     normalisation=normalisation, tile_size=512, margin=128,
                     name="ResNet34 U-Net, random weights (screenshots only)")
    model = build_model("unet", "resnet34", 3, 19)
    with rasterio.open(EXAMPLE) as src:  # BatchNorm statistics of six tiles of the example
        image = normalisation.apply(src.read([1, 2, 3]))
    tiles = torch.stack([torch.from_numpy(image[:, r:r + 512, c:c + 512]) for r in (0, 126) for c in (0, 253, 506)])
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batch
    with torch.no_grad():
        model.train()(tiles)
    checkpoint = save_checkpoint(WORK / "random_resnet34.pt", model.eval(), spec)
    segment(SegmentRequest.of(input=EXAMPLE, output=MAP, checkpoint=checkpoint))
    return MAP


def run_qgis() -> int:
    """QGIS desktop under Xvfb, a fresh profile with the plugin enabled, this file as --code."""
    profiles = Path(tempfile.mkdtemp(prefix="flair-screenshots-"))
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[PythonPlugins]\nflair_for_qgis=true\n[qgis]\ncheckVersion=false\nshowTips=false\n"
                   "[locale]\noverrideFlag=true\nuserLocale=en_GB\n", encoding="utf-8")
    plugins = profiles / "plugins"
    plugins.mkdir()
    (plugins / "flair_for_qgis").symlink_to(ROOT, target_is_directory=True)
    env = {**os.environ, STAGE: "qgis", "FLAIR_SCREENSHOT_ROOT": str(ROOT), "QGIS_PLUGINPATH": str(plugins),
           "PYTHONPATH": str(SITE_PACKAGES)}
    env.pop("QT_QPA_PLATFORM", None)
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis", "--nologo", "--noversioncheck",
               "--profiles-path", str(profiles), "--code", str(DOCS / "screenshots.py")]
    done = subprocess.run(command, env=env, timeout=300)
    missing = [str(p) for p in SHOTS.values() if not p.is_file()]
    if missing:
        print(f"QGIS did not write {', '.join(missing)} (exit code {done.returncode})", file=sys.stderr)
        return 1
    print("\n".join(f"wrote {p}" for p in SHOTS.values()))
    return 0


def in_qgis() -> None:
    """Runs inside QGIS (``--code``): load the layers, wait for the drawing, grab, quit."""
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
    from qgis.PyQt.QtCore import QCoreApplication, QSize, QTimer
    from qgis.PyQt.QtWidgets import QDockWidget
    from qgis.utils import iface

    import processing

    log = (WORK / "qgis.log").open("a", encoding="utf-8")
    log.write("script started\n")
    log.flush()
    QTimer.singleShot(120_000, lambda: os._exit(3))  # never hang a make target
    window = iface.mainWindow()
    window.resize(QSize(1400, 860))
    ortho = QgsRasterLayer(str(EXAMPLE), "parking_mosaic (BD ORTHO®)", "gdal")
    landcover = QgsRasterLayer(str(MAP), "FLAIR land cover (raster)", "gdal")  # styled by its .qml
    polygons_file = processing.run("flair:polygonize", {"INPUT": landcover, "MIN_AREA": 4.0, "TOLERANCE": 0.3,
                                                        "OUTPUT": str(WORK / "parking_landcover.gpkg")})["OUTPUT"]
    polygons = QgsVectorLayer(polygons_file, "FLAIR land cover (polygons)", "ogr")  # styled from the GeoPackage
    polygons.setOpacity(0.6)
    QgsProject.instance().addMapLayers([polygons, landcover, ortho])  # the first is drawn on top
    QgsProject.instance().layerTreeRoot().findLayer(landcover.id()).setItemVisibilityChecked(False)
    QgsProject.instance().layerTreeRoot().findLayer(landcover.id()).setExpanded(False)
    QgsProject.instance().layerTreeRoot().findLayer(ortho.id()).setExpanded(False)
    for dock in window.findChildren(QDockWidget):
        if dock.objectName() != "Layers":
            dock.hide()
    canvas = iface.mapCanvas()
    canvas.setExtent(ortho.extent())

    def wait_for_canvas():
        """Until the canvas has finished a full redraw (at most 60 s)."""
        done = []
        canvas.mapCanvasRefreshed.connect(lambda: done.append(True))
        canvas.refresh()
        for _ in range(1200):
            QCoreApplication.processEvents()
            time.sleep(0.05)
            if done and not canvas.isDrawing():
                break
        QCoreApplication.processEvents()

    def grab_map():
        log.write("grabbing the map\n")
        log.flush()
        wait_for_canvas()
        window.grab().save(str(SHOTS["map"]))
        dialog = processing.createAlgorithmDialog("flair:segment", {"INPUT": ortho.id()})
        dialog.resize(QSize(900, 760))
        dialog.show()
        QTimer.singleShot(1500, lambda: grab_dialog(dialog))

    def grab_dialog(dialog):
        QCoreApplication.processEvents()
        dialog.grab().save(str(SHOTS["dialog"]))
        dialog.close()
        QgsProject.instance().clear()
        QTimer.singleShot(200, lambda: os._exit(0))  # QGIS's own exit would ask to save the project

    QTimer.singleShot(4000, grab_map)


if __name__ == "__main__" and os.environ.get(STAGE) != "qgis":
    make_map()
    sys.exit(run_qgis())
elif os.environ.get(STAGE) == "qgis":
    in_qgis()
