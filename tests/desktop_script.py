"""Runs INSIDE a real QGIS desktop (``qgis --code``), started by tests/test_desktop.py.

QGIS exec()-utes this file after loading the plugins, without ``__file__``: its inputs come from
the environment. It runs ``flair:segment`` through ``processing.run`` as a user's console or
script would (and ``flair:change`` through ``processing.runAndLoadResults``, as the toolbox does),
writes what it saw (the output, whether triton was imported, the change map's renderer) as JSON
to ``FLAIR_DESKTOP_RESULT``, and quits QGIS.
"""

import json
import os
import sys
import traceback


def _desktop_run() -> dict:
    import processing
    from qgis.utils import plugins

    report = {"plugin_loaded": "flair_for_qgis" in plugins}
    result = processing.run("flair:segment", {"INPUT": os.environ["FLAIR_DESKTOP_INPUT"],
                                              "CHECKPOINT": os.environ["FLAIR_DESKTOP_CHECKPOINT"],
                                              "OUTPUT": os.environ["FLAIR_DESKTOP_OUTPUT"]})
    import segmentation_models_pytorch  # noqa: F401 - what the algorithm imported, loaded for sure
    import timm  # noqa: F401
    import torchmetrics  # noqa: F401

    with open("/proc/self/maps", encoding="utf-8") as maps:
        mapped = maps.read()
    report.update(output=result["OUTPUT"], torch_imported="torch" in sys.modules,
                  triton_modules=sorted(name for name, module in sys.modules.items()
                                        if name.split(".")[0] == "triton" and module is not None),
                  libtriton_mapped="libtriton" in mapped, libllvm_mapped="libLLVM" in mapped)
    report.update(_dialog_defaults(result["OUTPUT"]))
    report.update(_change_loaded_styled(result["OUTPUT"]))
    return report


def _change_loaded_styled(landcover_path: str) -> dict:
    """flair:change on the land-cover map (both dates) through ``processing.runAndLoadResults``, as
    the desktop's toolbox loads results: the change map's renderer as the project holds it."""
    from qgis.core import QgsProject

    import processing

    change = os.environ["FLAIR_DESKTOP_CHANGE"]
    processing.runAndLoadResults("flair:change", {"BEFORE": landcover_path, "AFTER": landcover_path,
                                                  "TRANSITIONS": "TEMPORARY_OUTPUT", "ZONE_TABLE": "TEMPORARY_OUTPUT",
                                                  "CHANGE": change})
    layers = [layer for layer in QgsProject.instance().mapLayers().values() if layer.source() == change]
    if not layers:
        return {"change_loaded": False}
    renderer = layers[0].renderer()
    classes = [[int(c.value), c.label] for c in renderer.classes()] if renderer.type() == "paletted" else []
    return {"change_loaded": True, "change_name": layers[0].name(), "change_renderer": renderer.type(),
            "change_classes": classes}


def _dialog_defaults(landcover_path: str) -> dict:
    """What the flair:segment dialog offers when the land-cover map just made is the active layer."""
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.utils import iface

    ortho = QgsRasterLayer(os.environ["FLAIR_DESKTOP_INPUT"], "orthophoto")
    landcover = QgsRasterLayer(landcover_path, "land cover")
    QgsProject.instance().addMapLayers([ortho, landcover])
    iface.setActiveLayer(landcover)
    import processing

    dialog = processing.createAlgorithmDialog("flair:segment")
    try:
        wrappers = dialog.mainWidget().wrappers
        offered = wrappers["INPUT"].parameterValue()
        batch = wrappers["BATCH_SIZE"].parameterValue()
    finally:
        dialog.close()
    offered_id = offered.id() if hasattr(offered, "id") else str(offered)
    return {"dialog_input_is_ortho": offered_id == ortho.id(), "dialog_input": offered_id,
            "dialog_batch_size": None if batch in (None, "") else str(batch)}


def _main() -> None:
    try:
        report = _desktop_run()
    except Exception:  # noqa: BLE001 - everything goes to the test's report
        report = {"error": traceback.format_exc()}
    with open(os.environ["FLAIR_DESKTOP_RESULT"], "w", encoding="utf-8") as out:
        json.dump(report, out)
    sys.stdout.flush()
    os._exit(0)  # QGIS's own exit would ask to save the project


_main()
