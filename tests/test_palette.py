"""The palette is FLAIR-1's, defined once, and every style comes from it."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import ROOT
from flair_qgis.errors import FlairError
from flair_qgis.palette import palette, palette_names, qml

FLAIR_README = ROOT / "tests" / "data" / "FLAIR-1-README-classes.md"  # the README's flair_data block, copied


def readme_classes() -> dict[int, tuple[str, str]]:
    """The ``flair_data`` dictionary printed in IGN's FLAIR-1 README."""
    text = FLAIR_README.read_text(encoding="utf-8")
    block = re.search(r"flair_data = (\{.*?\n\})", text, re.S).group(1)
    return {k: (v[0], v[1]) for k, v in ast.literal_eval(block).items()}


def test_flair_19_matches_the_flair_1_readme():
    expected = readme_classes()
    classes = palette("flair-19")
    assert [c.code for c in classes] == list(range(1, 20))
    for c in classes:
        name, colour = expected[c.code]
        assert c.colour.lower() == colour.lower()
        assert c.name == name.replace("_", " ")


def test_variants_are_subsets_of_the_19_classes():
    by_code = {c.code: c for c in palette("flair-19")}
    assert [c.code for c in palette("flair-15")] == [*range(1, 15), 18]
    assert [c.code for c in palette("flair-12")] == list(range(1, 13))
    assert [c.code for c in palette("flair-13")] == list(range(1, 14))
    assert palette("flair-13")[-1].name == "other"
    for name in ("flair-15", "flair-12"):
        assert all(by_code[c.code] == c for c in palette(name))


def test_shipped_qml_styles_are_generated_from_the_palette():
    for name in palette_names():
        shipped = ROOT / "resources" / "styles" / f"{name}.qml"
        assert shipped.read_text(encoding="utf-8") == qml(palette(name)), f"run make styles ({name})"


def test_qml_is_a_paletted_style_with_names_and_colours():
    root = ET.fromstring(qml(palette("flair-15")))
    renderer = root.find("./pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = renderer.findall("./colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("label"), e.get("color")) for e in entries][:2] == [
        ("1", "building", "#db0e9a"), ("2", "pervious surface", "#938e7b")]
    assert len(entries) == 15


def test_unknown_palette_lists_the_known_ones():
    with pytest.raises(FlairError, match="flair-19"):
        palette("flair-42")


def test_qml_escapes_class_names():
    from flair_qgis.palette import ClassInfo

    root = ET.fromstring(qml([ClassInfo(1, 'car "parks" & <lots>', "#ff0000")]))
    assert root.find(".//paletteEntry").get("label") == 'car "parks" & <lots>'


def test_style_files_exist_for_each_palette():
    assert sorted(p.stem for p in (ROOT / "resources" / "styles").glob("*.qml")) == sorted(palette_names())
    assert Path(ROOT / "resources" / "icon.svg").exists()
