"""Training patches as files: finding image/label pairs, checking them, and splitting them.

Three layouts are understood, and may be mixed:

- FLAIR's ``…/img/IMG_<id>.tif`` ↔ ``…/msk/MSK_<id>.tif``, at any depth, paired by ``<id>`` across
  every folder given (the FLAIR dataset keeps images and masks under different roots);
- ``images/`` ↔ ``labels/`` (or ``masks/``) side by side, with the same file names;
- FLAIR-1 CSV lists: one ``image,mask`` pair of paths per line, no header (paths relative to the
  working folder or, failing that, to the CSV file's folder).

Label rasters hold class codes in band 1; pixels equal to the label file's nodata value are
ignored. Problems are collected as :class:`Problem` s that name the offending files.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from . import raster_io
from .errors import FlairError
from .grids import same_crs
from .progress import Progress

RASTER_SUFFIXES = {".tif", ".tiff"}
IMAGE_DIRS = {"images", "image", "imgs"}
LABEL_DIRS = ("labels", "label", "masks", "mask")
FLAIR_IMAGE = re.compile(r"^IMG_(.+)\.tiff?$", re.IGNORECASE)
FLAIR_MASK = re.compile(r"^MSK_(.+)\.tiff?$", re.IGNORECASE)
SHOWN = 5  # offending files named in a message; the rest are counted


@dataclass(frozen=True)
class Pair:
    """One training patch: an image and its label raster."""

    image: Path
    label: Path


@dataclass
class Problem:
    """Something wrong with some files; ``fatal`` problems stop training."""

    kind: str
    message: str
    files: list[Path] = field(default_factory=list)
    fatal: bool = False

    def __str__(self) -> str:
        if not self.files:
            return self.message
        names = ", ".join(str(f) for f in self.files[:SHOWN])
        more = f" and {len(self.files) - SHOWN} more" if len(self.files) > SHOWN else ""
        return f"{self.message}: {names}{more}"


@dataclass
class PairSet:
    """The pairs found, and what was wrong with the rest. ``class_pixels`` counts label pixels per
    code over the checked pairs (nodata excluded)."""

    pairs: list[Pair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    class_pixels: dict[int, int] = field(default_factory=dict)
    size: tuple[int, int] | None = None  # (height, width) when every patch has the same size

    def raise_fatal(self) -> None:
        fatal = [p for p in self.problems if p.fatal]
        if fatal:
            raise FlairError("; ".join(str(p) for p in fatal))


# --- finding pairs ---------------------------------------------------------------------------

def find_pairs(sources: Sequence[Path | str]) -> PairSet:
    """Pairs from folders (scanned recursively) and FLAIR-1 CSV lists, sorted by image path."""
    if not sources:
        raise FlairError("no patch folder or CSV list was given")
    result = PairSet()
    flair_images: dict[str, list[Path]] = defaultdict(list)
    flair_masks: dict[str, list[Path]] = defaultdict(list)
    found: list[Pair] = []
    for source in sources:
        source = Path(source)
        if source.is_file() and source.suffix.lower() == ".csv":
            found += _read_csv(source, result.problems)
        elif source.is_dir():
            found += _scan_folder(source, flair_images, flair_masks, result.problems)
        elif source.exists():
            raise FlairError(f"{source} is neither a folder of patches nor a CSV list of image,mask pairs")
        else:
            raise FlairError(f"patch folder or list {source} does not exist")
    found += _pair_flair_ids(flair_images, flair_masks, result.problems)
    unique: dict[Path, Pair] = {}
    for pair in found:
        unique.setdefault(pair.image.resolve(), pair)
    result.pairs = sorted(unique.values(), key=lambda p: str(p.image))
    if not result.pairs:
        where = ", ".join(str(s) for s in sources)
        details = "; ".join(str(p) for p in result.problems)
        raise FlairError(f"no image/label pairs found in {where}: expected img/IMG_<id>.tif with "
                         f"msk/MSK_<id>.tif, images/ with labels/ (same file names), or a CSV list"
                         + (f" ({details})" if details else ""))
    return result


def _rasters(folder: Path) -> Iterable[Path]:
    return (p for p in folder.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES and p.is_file())


def _scan_folder(folder: Path, flair_images: dict[str, list[Path]], flair_masks: dict[str, list[Path]],
                 problems: list[Problem]) -> list[Pair]:
    pairs: list[Pair] = []
    unpaired_images: list[Path] = []
    labels_seen: set[Path] = set()
    label_files: list[Path] = []
    elsewhere: list[Path] = []
    for path in sorted(_rasters(folder)):
        parent = path.parent.name.lower()
        if parent in IMAGE_DIRS:
            label = _sibling_label(path)
            if label is None:
                unpaired_images.append(path)
            else:
                pairs.append(Pair(path, label))
                labels_seen.add(label)
        elif parent in LABEL_DIRS:
            label_files.append(path)
        elif m := FLAIR_IMAGE.match(path.name):
            flair_images[m.group(1)].append(path)
        elif m := FLAIR_MASK.match(path.name):
            flair_masks[m.group(1)].append(path)
        else:
            elsewhere.append(path)
    unpaired_labels = [p for p in label_files if p not in labels_seen]
    if unpaired_images:
        problems.append(Problem("unpaired-image", f"{len(unpaired_images)} image(s) have no label of the "
                                "same name in a labels/ folder beside them", unpaired_images))
    if unpaired_labels:
        problems.append(Problem("unpaired-label", f"{len(unpaired_labels)} label(s) have no image of the "
                                "same name in an images/ folder beside them", unpaired_labels))
    if elsewhere:
        problems.append(Problem("ignored", f"{len(elsewhere)} raster(s) in {folder} are in no known patch "
                                "layout and were ignored", elsewhere))
    return pairs


def _sibling_label(image: Path) -> Path | None:
    for name in LABEL_DIRS:
        for folder in (image.parent.parent / name, image.parent.parent / name.capitalize()):
            candidate = folder / image.name
            if candidate.is_file():
                return candidate
    return None


def _pair_flair_ids(images: dict[str, list[Path]], masks: dict[str, list[Path]],
                    problems: list[Problem]) -> list[Pair]:
    pairs = []
    duplicates = [p for ident in sorted(set(images) | set(masks))
                  for p in (images.get(ident, []) + masks.get(ident, []))
                  if len(images.get(ident, [])) > 1 or len(masks.get(ident, [])) > 1]
    if duplicates:
        problems.append(Problem("duplicate", "these FLAIR patch ids occur more than once, so their pairs "
                                "are ambiguous and were left out", duplicates))
    for ident in sorted(set(images) & set(masks)):
        if len(images[ident]) == 1 and len(masks[ident]) == 1:
            pairs.append(Pair(images[ident][0], masks[ident][0]))
    lone_images = [images[i][0] for i in sorted(set(images) - set(masks)) if len(images[i]) == 1]
    lone_masks = [masks[i][0] for i in sorted(set(masks) - set(images)) if len(masks[i]) == 1]
    if lone_images:
        problems.append(Problem("unpaired-image", f"{len(lone_images)} IMG_<id> image(s) have no MSK_<id> "
                                "mask", lone_images))
    if lone_masks:
        problems.append(Problem("unpaired-label", f"{len(lone_masks)} MSK_<id> mask(s) have no IMG_<id> "
                                "image", lone_masks))
    return pairs


def _read_csv(path: Path, problems: list[Problem]) -> list[Pair]:
    """A FLAIR-1 list: ``image,mask`` per line, no header (a header line is skipped)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise FlairError(f"cannot read the CSV list {path}: {e.strerror}") from None
    pairs, missing, malformed = [], [], []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        if len(cells) < 2:
            malformed.append(number)
            continue
        if number == 1 and not any(Path(c).suffix.lower() in RASTER_SUFFIXES for c in cells[:2]):
            continue  # a header line
        image, label = (_csv_path(c, path.parent) for c in cells[:2])
        absent = [p for p in (image, label) if not p.is_file()]
        if absent:
            missing += absent
        else:
            pairs.append(Pair(image, label))
    if malformed:
        lines = ", ".join(str(n) for n in malformed[:SHOWN])
        problems.append(Problem("csv", f"{path}: line(s) {lines} do not hold an image,mask pair", [], True))
    if missing:
        problems.append(Problem("missing", f"{len(missing)} file(s) listed in {path} do not exist", missing))
    return pairs


def _csv_path(cell: str, base: Path) -> Path:
    p = Path(cell).expanduser()
    if not p.is_absolute() and not p.exists() and (base / p).exists():
        return base / p
    return p


# --- checking pairs --------------------------------------------------------------------------

def check_pairs(found: PairSet, bands: Sequence[int] | None = None, codes: Iterable[int] | None = None,
                progress: Progress | None = None) -> PairSet:
    """Open every pair: sizes, CRSs and grids must agree, images must have ``bands``, and label
    values must be among ``codes`` (or the label's nodata). Bad pairs are left out and reported;
    out-of-class values are fatal (the class list is wrong, or a class is missing from it)."""
    progress = progress or Progress()
    codes = None if codes is None else set(int(c) for c in codes)
    kept: list[Pair] = []
    bad: dict[str, list[Path]] = defaultdict(list)
    outside: dict[int, list[Path]] = defaultdict(list)
    pixels: Counter = Counter()
    sizes: Counter = Counter()
    need = max(bands) if bands else 1
    for i, pair in enumerate(found.pairs):
        progress.check()
        progress.fraction(i / len(found.pairs))
        try:
            with raster_io.open_raster(pair.image) as img, raster_io.open_raster(pair.label) as lbl:
                kind = _mismatch(img, lbl, need)
                if kind:
                    bad[kind].append(pair.image)
                    continue
                values, counts = _label_counts(lbl)
                shape = (img.height, img.width)
        except FlairError:
            bad["unreadable"].append(pair.image)
            continue
        pair_ok = True
        if codes is not None:
            for v in values[~np.isin(values, list(codes))] if len(values) else []:
                outside[int(v)].append(pair.label)
                pair_ok = False
        if pair_ok:
            pixels.update(dict(zip(values.tolist(), counts.tolist())))
        sizes[shape] += 1
        kept.append(pair)
    progress.fraction(1.0)
    problems = list(found.problems)
    why = {"size": "the image and label sizes differ", "crs": "the image and label CRSs differ",
           "grid": "the image and label do not cover the same ground (different transforms)",
           "bands": f"the image has fewer than {need} band(s)",
           "unreadable": "the image or label cannot be read as a raster"}
    for kind, files in bad.items():
        problems.append(Problem(kind, f"{len(files)} pair(s) left out because {why[kind]}", files))
    if outside:
        files = sorted({f for fs in outside.values() for f in fs})
        values = ", ".join(str(v) for v in sorted(outside))
        problems.append(Problem(
            "classes", f"label value(s) {values} are not among the declared classes "
            f"({', '.join(str(c) for c in sorted(codes or ()))}) in {len(files)} label file(s); declare "
            "them (weight 0 to ignore them) or set the labels' nodata value", files, fatal=True))
    size = next(iter(sizes)) if len(sizes) == 1 else None
    return PairSet(kept, problems, dict(sorted(pixels.items())), size)


def _mismatch(img, lbl, need: int) -> str | None:
    if (img.width, img.height) != (lbl.width, lbl.height):
        return "size"
    if img.crs is not None and lbl.crs is not None:
        if not same_crs(img.crs, lbl.crs, img.bounds, abs(img.transform.a)):
            return "crs"
        if not img.transform.almost_equals(lbl.transform, precision=abs(img.transform.a) * 1e-3):
            return "grid"
    if img.count < need:
        return "bands"
    return None


def _label_counts(lbl) -> tuple[np.ndarray, np.ndarray]:
    """Label codes present in band 1 and their pixel counts, nodata excluded."""
    data = lbl.read(1)
    if lbl.nodata is not None:
        data = data[data != lbl.nodata]
    if data.dtype.kind in "ui" and data.size and data.min() >= 0 and data.max() < 1 << 16:
        counts = np.bincount(data.ravel().astype(np.int64))
        values = np.flatnonzero(counts)
        return values, counts[values]
    return np.unique(data, return_counts=True)


def split_pairs(pairs: Sequence[Pair], fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """A seeded random (train, validation) split; the validation part has at least one pair."""
    if not 0 < fraction < 1:
        raise FlairError(f"the validation fraction must be between 0 and 1, got {fraction}")
    if len(pairs) < 2:
        raise FlairError(f"{len(pairs)} pair(s) cannot be split into training and validation: give "
                         "more patches or a separate validation folder")
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * fraction)))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [pairs[i] for i in train], [pairs[i] for i in val]
