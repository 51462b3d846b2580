"""The import drawing of flair_qgis/ (read from the sources with ast, so imports inside functions
count too) has no circle and no import running up a floor, and no module switches GDAL's exception
state for the whole process."""

from __future__ import annotations

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "flair_qgis"
# The floors of flair_qgis, from the bottom up: a module imports only from its own floor or below.
# A new module goes on the lowest floor its imports allow; a helper needed lower down moves down.
FLOORS: list[tuple[str, set[str]]] = [
    ("leaves", {"flair_qgis", "errors", "files", "plugin_cache", "gdal_failures", "labels", "plots", "hf_probe",
                "triton_guard", "change_regions"}),
    ("facts", {"progress", "normalisation", "palette", "grids", "tiling", "choices", "dependencies", "upernet", "vrt",
               "centre_crop", "zone_coverage", "change_spec", "metrics", "cpu_memory", "devices"}),
    ("rasters", {"raster_io", "mosaics", "resampling", "class_codes", "styling", "vectorize", "areas", "change_plot",
                 "score_reports", "pip_install"}),
    ("inputs and data", {"band_sources", "blend", "pipeline", "patch_files", "patches", "export", "train_options",
                         "change_classes", "change_tables", "raster_evaluation"}),
    ("models", {"flair_hub", "model_spec", "zoo", "checkpoints", "hf_download", "model_resolution", "prediction",
                "model_source", "openvino_backend"}),
    ("work", {"change", "zones", "evaluation", "diagnostics", "segment_options", "segment_checks"}),
    ("engines", {"engine", "training_loop", "training", "distributed.blocks", "distributed.workers",
                 "distributed.executors", "distributed.run", "distributed"}),
    ("entry points", {"config", "cli", "__main__"}),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The flair_qgis modules that ``path`` imports (``from . import x`` counts as x when x is a
    module; ``from .pkg import name`` counts as pkg)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = {f"{target}.{a.name}" for a in node.names} & modules
            found |= subs or ({target} & modules)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_drawing_finds_a_circle_where_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [{"a", "b", "c"}]


def test_the_drawing_sees_relative_imports_of_modules_and_of_packages():
    graph = import_graph()
    assert "flair_qgis.mosaics" in graph["flair_qgis.band_sources"]
    assert "flair_qgis.vrt" in graph["flair_qgis.mosaics"]  # from . import vrt
    assert "flair_qgis.distributed.blocks" in graph["flair_qgis.distributed"]
    assert "flair_qgis.mosaics" in graph["flair_qgis.distributed.run"]


def floor_of(module: str, floors: list[tuple[str, set[str]]] = FLOORS) -> int:
    short = module if module == "flair_qgis" else module.removeprefix("flair_qgis.")
    return next((i for i, (_, names) in enumerate(floors) if short in names), -1)


def upward_imports(graph: dict[str, set[str]], floors: list[tuple[str, set[str]]] = FLOORS) -> list[str]:
    """``a (floor) -> b (floor)`` for each import from a lower floor to a higher one."""
    return sorted(f"{a} ({floors[floor_of(a, floors)][0]}) -> {b} ({floors[floor_of(b, floors)][0]})"
                  for a, targets in graph.items() for b in targets if floor_of(a, floors) < floor_of(b, floors))


def test_no_import_circle_in_flair_qgis():
    found = circles(import_graph())
    assert found == [], f"import circles: {[sorted(c) for c in found]}"


def test_the_model_modules_have_no_import_circle():
    """The registry (zoo), FLAIR-HUB's file layout, checkpoints and the download import one way only."""
    graph = import_graph()
    assert "flair_qgis.checkpoints" not in graph["flair_qgis.zoo"] | graph["flair_qgis.flair_hub"]
    assert "flair_qgis.zoo" not in graph["flair_qgis.flair_hub"] | graph["flair_qgis.model_spec"]
    assert not {"flair_qgis.hub_models", "flair_qgis.hub_probe"} & set(graph)  # "hub" meant two things


def test_every_module_is_on_a_floor():
    assert sorted(m for m in import_graph() if floor_of(m) < 0) == []
    named = [m for _, names in FLOORS for m in names]
    assert len(named) == len(set(named)), "a module is on two floors"


def test_the_floor_check_finds_an_import_running_up():
    floors = [("low", {"a"}), ("high", {"b"})]
    assert upward_imports({"flair_qgis.a": {"flair_qgis.b"}, "flair_qgis.b": set()}, floors) == [
        "flair_qgis.a (low) -> flair_qgis.b (high)"]
    assert upward_imports({"flair_qgis.b": {"flair_qgis.a"}, "flair_qgis.a": set()}, floors) == []


def test_nothing_imports_upward():
    assert upward_imports(import_graph()) == []


def test_gdal_exceptions_are_never_switched_on_for_the_whole_process():
    """GDAL's (and OGR's) exception state is process-wide and QGIS relies on it: the core catches
    errors per call instead (GDAL's context manager or ErrorReset/GetLastErrorMsg)."""
    switching = []
    for path in sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "algorithms").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("UseExceptions", "DontUseExceptions"):
                switching.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    # flair_qgis/zones.py (reading zones with OGR) is being fixed in another piece of work (issue 19, item 5)
    assert [s for s in switching if not s.startswith("flair_qgis/zones.py:")] == []


def test_vrt_files_are_built_by_gdal_not_written_by_hand():
    """VRTs are made by GDAL (flair_qgis/vrt.py: BuildVRT, Translate, the VRT driver): no module
    writes VRT XML with ElementTree or uses rasterio's private ``_gdal_typename``."""
    writing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "xml.etree" in text or "_gdal_typename" in text or "<VRTDataset" in text:
            writing.append(str(path.relative_to(PACKAGE.parent)))
    assert writing == []
