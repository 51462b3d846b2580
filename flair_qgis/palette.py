"""Class palettes (codes, names, colours) read from ``resources/palettes.json``, and QML styles.

The palette data is defined once, in that file; everything that needs names or colours (the
GeoTIFF colour table, the QML style, the legend) comes from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .errors import FlairError
from .files import write_text

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PALETTES_FILE = RESOURCES / "palettes.json"


@dataclass(frozen=True)
class ClassInfo:
    """One land-cover class: the code written in class rasters, its name and ``#rrggbb`` colour."""

    code: int
    name: str
    colour: str

    def rgba(self) -> tuple[int, int, int, int]:
        c = self.colour.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), 255

    def as_list(self) -> list:
        return [self.code, self.name, self.colour]


@lru_cache(maxsize=None)
def _palettes() -> dict[str, tuple[ClassInfo, ...]]:
    raw = json.loads(PALETTES_FILE.read_text(encoding="utf-8"))
    out: dict[str, tuple[ClassInfo, ...]] = {}
    for name, spec in raw.items():
        if "classes" in spec:
            out[name] = tuple(ClassInfo(c, n, col) for c, n, col in spec["classes"])
    for name, spec in raw.items():
        if "subset_of" in spec:
            by_code = {c.code: c for c in out[spec["subset_of"]]}
            classes = [by_code[c] for c in spec["codes"]]
            classes += [ClassInfo(c, n, col) for c, n, col in spec.get("extra", [])]
            out[name] = tuple(classes)
    return out


def palette_names() -> list[str]:
    return list(_palettes())


def palette(name: str) -> tuple[ClassInfo, ...]:
    """Classes of a named palette (``flair-19``, ``flair-15``, ``flair-12``, ``flair-13``)."""
    try:
        return _palettes()[name]
    except KeyError:
        raise FlairError(f"unknown palette {name!r}: known palettes are {', '.join(palette_names())}") from None


def classes_from_lists(items: list) -> tuple[ClassInfo, ...]:
    """Classes from ``[[code, name, colour], ...]`` as stored in our checkpoints."""
    return tuple(ClassInfo(int(c), str(n), str(col)) for c, n, col in items)


def qml(classes: tuple[ClassInfo, ...] | list[ClassInfo], band: int = 1) -> str:
    """A QGIS paletted-renderer style for a class raster; code 0 (nodata) stays transparent."""
    entries = "\n".join(
        f'        <paletteEntry value="{c.code}" color="{c.colour}" alpha="255" label={quoteattr(c.name)}/>'
        for c in sorted(classes, key=lambda c: c.code)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16-Białowieża" styleCategories="Symbology">
  <pipe>
    <provider>
      <resampling enabled="false" maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" colorizeStrength="100" colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def style_path(raster: Path) -> Path:
    """Where QGIS looks for a raster's default style: the same name with ``.qml``."""
    return Path(raster).with_suffix(".qml")


def write_qml(path: Path, classes: tuple[ClassInfo, ...] | list[ClassInfo]) -> Path:
    """Write the QML atomically (temporary file, then rename)."""
    write_text(path, qml(classes))
    return path
