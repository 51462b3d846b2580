"""The classes a map to compare records, and reading a map whose classes are not FLAIR's.

``flair:change`` reads both dates as FLAIR codes 1–19. A map written by this plugin records its
classes (``class_codes.recorded_classes``); when they are not FLAIR's (a map from the user's own
model: 1 parking, 2 other…), reading its values as FLAIR codes would count parking as building,
so the map is refused, naming its classes, unless a class map (``CLASS_MAP`` / ``--class-map``)
says which FLAIR code each of its classes stands for: ``parking=3, other=19`` (by name) or
``1=3, 2=19`` (by value); ``=0`` leaves a class out (nodata). It applies to every map whose
classes are not FLAIR's; each of their classes must be in it. Values a map does not record are
left out as nodata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .class_codes import ClassCodes, class_key, flair_names, is_flair, recorded_classes
from .errors import FlairError

EXAMPLE = "'parking=3, other=19' (by class name) or '1=3, 2=19' (by value)"


def parse_class_map(text: str | None) -> dict[str, int]:
    """``'parking=3, other=19'`` → ``{'parking': 3, 'other': 19}`` (keys: class names, case-insensitive,
    or values); entries separated by commas, semicolons or new lines."""
    mapping: dict[str, int] = {}
    for entry in (e.strip() for e in re.split(r"[,;\n]", text or "")):
        if not entry:
            continue
        key, sep, code = (part.strip() for part in entry.partition("="))
        if not sep or not key or not code.isdigit() or not 0 <= int(code) <= 19:
            raise FlairError(f"class map (CLASS_MAP): {entry!r} is not CLASS=CODE with a FLAIR code 0–19 "
                             f"(0: leave the class out); write e.g. {EXAMPLE}")
        if class_key(key) in mapping:
            raise FlairError(f"class map (CLASS_MAP): {key!r} is given twice")
        mapping[class_key(key)] = int(code)
    return mapping


def describe(classes) -> str:
    return ", ".join(f"{c.code} {c.name}" for c in classes)


@dataclass(frozen=True)
class Remapped:
    """Reads a map with ``codes`` (its convention), then turns its values into FLAIR codes with ``lut``."""

    codes: ClassCodes
    lut: np.ndarray

    def read(self, src, window) -> np.ndarray:
        return self.lut[self.codes.read(src, window)]


def reader(src, role: str, codes: ClassCodes, mapping: dict[str, int], log=None) -> ClassCodes | Remapped:
    """How to read ``src`` (an open map, BEFORE or AFTER) as FLAIR codes: ``codes`` when it records
    FLAIR's classes (or none), else through ``mapping``; refused when it has none or misses a class."""
    classes = recorded_classes(src)
    if not classes or codes.zero_based or is_flair(classes):
        return codes
    names = flair_names()
    if not mapping:
        sample = ", ".join(f"{c.name} as {names[c.code]}" for c in classes[:2] if c.code in names)
        raise FlairError(
            f"{role} {src.name} records classes that are not FLAIR's: {describe(classes)}. Its values would be "
            f"read as FLAIR codes{f' ({sample})' if sample else ''}, which is wrong. Compare two maps of FLAIR "
            f"classes, or say which FLAIR code each of its classes stands for with the class map (CLASS_MAP, "
            f"--class-map), e.g. {EXAMPLE}; 0 leaves a class out")
    lut = np.zeros(65536, dtype=np.uint16)  # values it does not record: nodata
    missing, used = [], []
    for c in classes:
        code = mapping.get(class_key(c.name), mapping.get(str(c.code)))
        if code is None:
            missing.append(c)
            continue
        lut[c.code] = code
        used.append(f"{c.code} {c.name} → {code} {names.get(code, 'left out')}")
    if missing:
        raise FlairError(f"{role} {src.name}: the class map (CLASS_MAP) does not say which FLAIR code "
                         f"{describe(missing)} stand{'s' if len(missing) == 1 else ''} for; give every class of "
                         f"the map ({describe(classes)}), e.g. {EXAMPLE}")
    if log is not None:
        log(f"{role}: its own classes read as FLAIR codes through the class map: {'; '.join(used)}")
    return Remapped(codes, lut)


def check_mapping_used(mapping: dict[str, int], readers: list, warn) -> None:
    """Warn when a class map was given but both maps record FLAIR's classes (it is not used)."""
    if mapping and not any(isinstance(r, Remapped) for r in readers):
        warn("the class map (CLASS_MAP) is not used: both maps record FLAIR's classes (or none)")
