"""Which convention a class raster's values follow, and reading them as FLAIR codes.

Two conventions exist for FLAIR land-cover maps:

- **FLAIR codes** (``flair``): 1–19 as in the FLAIR-1 dataset's masks (1 = building … 19 = other),
  0 = nodata. This plugin's maps, FLAIR-1 labels.
- **0-based indices** (no nodata, 0 = building), in one of two orders:
  ``zero_based``: IGN's ``flair-detect`` (FLAIR-1 models), index i = code i + 1 (18 = other);
  ``zero_based_hub``: FLAIR-HUB's zonal detection, whose order differs after 0
  (1 = greenhouse, 2 = swimming pool, 3 = impervious surface, …; see :data:`HUB_TO_CODE`).

``auto`` decides per raster: rasters written by this plugin (their ``FLAIR_CLASSES`` or
``CLASS_<n>`` tags), a colour table whose entry 1 is FLAIR's building colour, or a declared nodata
value of 0 mean FLAIR codes; a colour table whose entry 0 is the building colour, or — failing all
that — a 0 value with no declared nodata (looked for in a decimated read, at most
:data:`SAMPLE_SIDE` px a side), means 0-based, read in flair-detect's order (the two
0-based orders hold the same values: nothing in the file tells them apart, so a FLAIR-HUB map
needs ``zero_based_hub``). Every algorithm that reads class rasters goes through :func:`resolve`
and :meth:`ClassCodes.read`, so that all of them read a map the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .errors import FlairError
from .palette import ClassInfo, classes_from_lists, palette

AUTO, FLAIR, ZERO_BASED, ZERO_BASED_HUB = "auto", "flair", "zero_based", "zero_based_hub"
CONVENTIONS = (AUTO, FLAIR, ZERO_BASED, ZERO_BASED_HUB)
DETECT_TO_CODE = tuple(range(1, 20))  # flair-detect: index i is FLAIR code i + 1
HUB_TO_CODE = (1, 18, 13, 3, 2, 4, 5, 14, 10, 11, 12, 9, 7, 6, 8, 15, 17, 16, 19)  # FLAIR-HUB index → code
SAMPLE_SIDE = 2048  # px: the decimated read that looks for 0 values
INTEGER_TYPES = ("uint8", "uint16", "int16", "int32", "uint32")


@dataclass(frozen=True)
class ClassCodes:
    """How one raster's band 1 is read: ``convention`` (``flair`` or a 0-based order) and why."""

    convention: str
    reason: str

    @property
    def zero_based(self) -> bool:
        return self.convention in (ZERO_BASED, ZERO_BASED_HUB)

    def lookup(self) -> np.ndarray | None:
        """Raster value → FLAIR code (0 = nodata) for values 0–255 of a 0-based raster; None for FLAIR codes."""
        if not self.zero_based:
            return None
        table = HUB_TO_CODE if self.convention == ZERO_BASED_HUB else DETECT_TO_CODE
        lut = np.zeros(256, dtype=np.uint16)
        lut[:len(table)] = table
        return lut

    def to_flair(self, values: np.ndarray) -> np.ndarray:
        """FLAIR codes (uint16, 0 = nodata) of raster ``values``; 0-based values above 18 become nodata."""
        lut = self.lookup()
        if lut is None:
            if values.dtype.kind == "u":
                return values.astype(np.uint16, copy=False)
            return np.where(values > 0, values, 0).astype(np.uint16, copy=False)
        if values.dtype == np.uint8:  # every value has its entry: one gather
            return np.take(lut, values)
        out = np.zeros(values.shape, dtype=np.uint16)
        inside = (values >= 0) & (values < len(lut))
        out[inside] = lut[values[inside].astype(np.int64)]
        return out

    def read(self, src, window) -> np.ndarray:
        """Band 1 of ``src`` over ``window`` as FLAIR codes, 0 where there is no data (the raster's
        mask or nodata value; for FLAIR codes also 0 itself)."""
        values = src.read(1, window=window)
        codes = self.to_flair(values)
        if "all_valid" not in {flag.name for flag in src.mask_flag_enums[0]}:  # a mask, alpha or nodata value
            codes[src.read_masks(1, window=window) == 0] = 0
        if not self.zero_based and src.nodata is not None:
            codes[values == src.nodata] = 0
        return codes

    def raster_classes(self) -> list[ClassInfo]:
        """The FLAIR classes as the raster's own values (``ClassInfo.code`` = value in the file), for
        styling a 0-based raster in place; FLAIR's 19 for FLAIR codes."""
        classes = palette("flair-19")
        if not self.zero_based:
            return list(classes)
        by_code = {c.code: c for c in classes}
        table = HUB_TO_CODE if self.convention == ZERO_BASED_HUB else DETECT_TO_CODE
        return [ClassInfo(value, by_code[code].name, by_code[code].colour) for value, code in enumerate(table)]


def recorded_classes(src) -> tuple[ClassInfo, ...] | None:
    """The classes an open rasterio dataset records (this plugin's ``FLAIR_CLASSES`` tag, else its
    band's ``CLASS_<n>`` tags); None when it records none."""
    tags = src.tags()
    if "FLAIR_CLASSES" in tags:
        try:
            return classes_from_lists(json.loads(tags["FLAIR_CLASSES"]))
        except (ValueError, TypeError):
            raise FlairError(f"{src.name}: its FLAIR_CLASSES metadata is malformed") from None
    named = sorted((int(key[6:]), name) for key, name in src.tags(1).items()
                   if key.startswith("CLASS_") and key[6:].isdigit())
    return tuple(ClassInfo(code, name, "#808080") for code, name in named) or None


def flair_names() -> dict[int, str]:
    """FLAIR's class name of each code 1–19."""
    return {c.code: c.name for c in palette("flair-19")}


def class_key(name: str) -> str:
    """A class name compared case- and spacing-insensitively."""
    return " ".join(name.casefold().split())


def is_flair(classes: tuple[ClassInfo, ...]) -> bool:
    """Whether each recorded class is the FLAIR class of its code (by name)."""
    names = flair_names()
    return all(c.code in names and class_key(c.name) == class_key(names[c.code]) for c in classes)


def own_classes(src) -> tuple[ClassInfo, ...] | None:
    """The classes an open raster records when they are not FLAIR's (a map of the user's own model);
    None when it records FLAIR's classes or none."""
    classes = recorded_classes(src)
    return classes if classes and not is_flair(classes) else None


def _check_convention(requested: str) -> None:
    if requested not in CONVENTIONS:
        raise FlairError(f"class codes {requested!r} are unknown: choose one of {', '.join(CONVENTIONS)}")


def _colour_entry(src, value: int) -> tuple[int, int, int] | None:
    try:
        colours = src.colormap(1)
    except ValueError:  # no colour table
        return None
    entry = colours.get(value)
    return tuple(entry[:3]) if entry else None


def detect(src) -> ClassCodes:
    """The convention of an open rasterio dataset's band 1 (see the module's help for the rules)."""
    if src.dtypes[0] not in INTEGER_TYPES:
        raise FlairError(f"{src.name}: band 1 is {src.dtypes[0]}, not integer class codes: choose a class raster "
                         "(e.g. the output of 'Segment land cover')")
    if "FLAIR_CLASSES" in src.tags() or any(k.startswith("CLASS_") for k in src.tags(1)):
        return ClassCodes(FLAIR, "written by this plugin (its class tags)")
    building = palette("flair-19")[0].rgba()[:3]
    if _colour_entry(src, 1) == building:
        return ClassCodes(FLAIR, "its colour table gives 1 FLAIR's building colour")
    if _colour_entry(src, 0) == building:
        return ClassCodes(ZERO_BASED, "its colour table gives 0 FLAIR's building colour (0-based, flair-detect order)")
    if src.nodata is not None and src.nodata == 0:
        return ClassCodes(FLAIR, "it declares 0 as nodata")
    factor = max(1, -(-max(src.width, src.height) // SAMPLE_SIDE))
    shape = (max(1, src.height // factor), max(1, src.width // factor))
    sample = src.read(1, out_shape=shape)
    valid = src.read_masks(1, out_shape=shape) > 0
    if src.nodata is not None:
        valid &= sample != src.nodata
    values = sample[valid]
    if values.size and values.min() == 0:
        top = int(values.max())
        if top > 18:
            return ClassCodes(FLAIR, f"it holds 0 but also {top}, above the 0-based indices 0–18")
        return ClassCodes(ZERO_BASED, "it holds 0 values and declares no nodata; for a FLAIR-HUB map choose "
                                      "'zero_based_hub', for FLAIR codes 'flair'")
    return ClassCodes(FLAIR, "it holds no 0 value")


def resolve(path, requested: str = AUTO, log=None) -> ClassCodes:
    """The convention to read ``path`` with: ``requested``, or the detected one for ``auto``;
    ``log`` (a callable) is told which and why."""
    from . import raster_io

    _check_convention(requested)
    with raster_io.open_raster(path) as src:
        if src.dtypes[0] not in INTEGER_TYPES:
            raise FlairError(f"{path}: band 1 is {src.dtypes[0]}, not integer class codes: choose a class "
                             "raster (e.g. the output of 'Segment land cover')")
        _refuse_images(src, path)
        codes = detect(src) if requested == AUTO else ClassCodes(requested, "as asked")
        own = own_classes(src) if codes.convention == FLAIR else None
    if log is None:
        return codes
    if own:  # not FLAIR codes: saying so would contradict the tables (and flair:change's refusal)
        log(f"{path}: class values are the map's own classes, not FLAIR's: "
            f"{', '.join(f'{c.code} {c.name}' for c in own)} (0 = nodata; {codes.reason})")
    else:
        log(f"{path}: class values read as {describe(codes.convention)} ({codes.reason})")
    return codes


def _refuse_images(src, path) -> None:
    """A raster of three bands or more that records no classes (no class tags, no colour table) is an
    image, an orthophoto most likely: its band 1 read as class codes would make a table of 'class 87'."""
    if src.count < 3 or recorded_classes(src) or _colour_entry(src, 0) or _colour_entry(src, 1):
        return
    raise FlairError(f"{path} has {src.count} bands and records no classes (no class tags, no colour table): it "
                     "looks like an image (an orthophoto), not a land-cover map. Choose a class raster (band 1 "
                     "holding class codes, e.g. the output of 'Segment land cover')")


def describe(convention: str) -> str:
    return {FLAIR: "FLAIR codes 1–19 (0 = nodata)",
            ZERO_BASED: "0-based indices in flair-detect's order (0 = building … 18 = other)",
            ZERO_BASED_HUB: "0-based indices in FLAIR-HUB's order (0 = building, 1 = greenhouse … 18 = undefined)"
            }.get(convention, convention)
