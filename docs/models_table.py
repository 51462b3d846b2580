"""Writes the model table of ``docs/models.md`` from the zoo (``flair_qgis/zoo.py``), between the
``<!-- models:start -->`` and ``<!-- models:end -->`` marks, so that the table never drifts from the
registry. ``make docs`` runs it (through ``docs/algorithms.py``); it needs no QGIS:

    .venv/bin/python docs/models_table.py [OUTPUT_FOLDER]

Names, bands, classes, architecture, tiling, file size and how each file is pinned come from the zoo
entries. What the zoo does not hold — scores reported by IGN, and file sizes that were estimated
rather than pinned — is kept here, keyed by zoo name: a key that is not a zoo name is an error.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_MD = ROOT / "docs" / "models.md"
START, END = "<!-- models:start -->", "<!-- models:end -->"

# Scores reported by IGN (model cards, FLAIR-HUB's README); FLAIR-INC ones on the FLAIR #1 test set,
# FLAIR-HUB ones on FLAIR-HUB's test set.
REPORTED = {
    "FLAIR-INC_rgbie_15cl_resnet34-unet": "54.72 (FLAIR #1 test; card, OA 76.37)",
    "FLAIR-HUB_LC-A_RGB_swinbase-upernet": "64.1 ¹",
    "FLAIR-HUB_LC-A_IR_swinbase-upernet": "64.1 ¹",
    "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet": "62.73 (card; OA 76.43)",
    "FLAIR-HUB_LC-A_IR_convnextv2base-upernet": "63.77 (card; OA 77.03)",
}
# File sizes where the zoo pins none, computed from the architecture: fp32 parameters and buffers of the
# model built with 19 classes (for FLAIR-INC_rgbie_*_resnet34-unet this gives 97.9 MB, the pinned size).
ESTIMATED_SIZE = {
    "FLAIR-INC_rgb_15cl_resnet34-unet": "≈ 98 MB ²",
    "FLAIR-INC_rgbi_15cl_resnet34-unet": "≈ 98 MB ²",
    "FLAIR-INC_rgb_12cl_resnet34-unet": "≈ 98 MB ²",
    "FLAIR-INC_rgb_15cl_resnet34-fpn": "≈ 93 MB ²",
    "FLAIR-INC_rgb_15cl_resnet34-deeplabv3": "≈ 104 MB ²",
    "FLAIR-INC_rgb_15cl_mitb5-unet": "≈ 339 MB ²",
    "FLAIR-HUB_LC-A_RGB_swintiny-upernet": "≈ 121 MB ²",
    "FLAIR-HUB_LC-A_RGB_swinsmall-upernet": "≈ 206 MB ²",
    "FLAIR-HUB_LC-A_RGB_swinbase-upernet": "≈ 363 MB ²",
    "FLAIR-HUB_LC-A_RGB_swinlarge-upernet": "≈ 810 MB ²",
    "FLAIR-HUB_LC-A_IR_swinbase-upernet": "≈ 363 MB ²",
    "FLAIR-HUB_LC-A_IR_swinlarge-upernet": "≈ 810 MB ²",
    "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet": "≈ 122 MB ²",
    "FLAIR-HUB_LC-A_IR_convnextv2base-upernet": "≈ 367 MB ²",
    "FLAIR-HUB_LC-A_IR_convnextv2base-unet": "≈ 377 MB ²",
}
FOOTNOTES = (
    "¹ FLAIR-HUB's README gives mIoU 64.1 (OA 77.5) for its aerial-only Swin-base model without saying "
    "whether it is the RGB or the IR one.",
    "² Computed from the architecture (fp32 parameters), not pinned: FLAIR-HUB publishes no file sizes, and the "
    "zoo pins the size of the FLAIR-INC files whose sha256 it knows.",
)
ARCHS = {"unet": "U-Net", "fpn": "FPN", "deeplabv3": "DeepLabV3", "upernet-smp0.4": "UPerNet (smp 0.4.0)"}
ENCODERS = {"resnet34": "ResNet34", "mit_b5": "MiT-B5", "tu-swin_tiny_patch4_window7_224": "Swin-T",
            "tu-swin_small_patch4_window7_224": "Swin-S", "tu-swin_base_patch4_window12_384": "Swin-B",
            "tu-swin_large_patch4_window12_384": "Swin-L", "tu-convnextv2_tiny": "ConvNeXt-V2-T",
            "tu-convnextv2_base": "ConvNeXt-V2-B"}


def _pinning(entry) -> str:
    from flair_qgis.zoo import HUB_UNVERIFIED

    if entry.revision == "main":
        if HUB_UNVERIFIED in entry.notes:
            return "hub's current file; sha256 checked against the hub's on first download"
        return "hub's current file; **not confirmed**"
    if entry.sha256:
        return "revision and sha256 pinned"
    if entry.confirmed:
        return "revision pinned, file seen there; sha256 checked against the hub's"
    return "model card's revision pinned; **file not confirmed** there"


def _size(entry) -> str:
    if entry.size:
        return f"{entry.size / 1e6:.0f} MB"
    return ESTIMATED_SIZE.get(entry.name, "not published")


def table() -> str:
    """The block between the marks: the table, its footnotes and the licence line."""
    sys.path.insert(0, str(ROOT))
    from flair_qgis.zoo import DEFAULT_MODEL, ZOO

    unknown = sorted((set(REPORTED) | set(ESTIMATED_SIZE)) - set(ZOO))
    if unknown:
        raise SystemExit(f"docs/models_table.py names models the zoo does not have: {', '.join(unknown)}")
    rows = ["| model (HuggingFace `IGNF/…`) | bands | classes | architecture | tiles / margin (px) | file "
            "| reported mIoU | download pinned |", "|---|---|---|---|---|---|---|---|"]
    for e in ZOO.values():
        name = f"`{e.name}`" + (" (default)" if e.name == DEFAULT_MODEL else "")
        arch = f"{ARCHS.get(e.arch, e.arch)} / {ENCODERS.get(e.encoder, e.encoder)}"
        rows.append(f"| {name} | {', '.join(e.bands)} | {len(e.spec.active_classes)} of {e.spec.n_classes} | {arch} "
                    f"| {e.tile_size} / {e.margin} | {_size(e)} | {REPORTED.get(e.name, 'not published')} "
                    f"| {_pinning(e)} |")
    licences = sorted({e.licence for e in ZOO.values()})
    lines = [START, *rows, "", *(f"{note}\n" for note in FOOTNOTES),
             f"Licence: {', '.join(licences)}" + (" (every model)." if len(licences) == 1 else "."), END]
    return "\n".join(lines)


def update(text: str) -> str:
    """``text`` (docs/models.md) with its block between the marks replaced by :func:`table`."""
    if START not in text or END not in text:
        raise SystemExit(f"docs/models.md has no {START} … {END} block")
    head, rest = text.split(START, 1)
    return head + table() + rest.split(END, 1)[1]


def write(folder: Path | None = None) -> Path:
    """Write docs/models.md, or its new version into ``folder``."""
    out = folder / MODELS_MD.name if folder else MODELS_MD
    out.write_text(update(MODELS_MD.read_text(encoding="utf-8")), encoding="utf-8")
    return out


if __name__ == "__main__":
    print(f"wrote {write(Path(sys.argv[1]) if len(sys.argv) > 1 else None)}")
