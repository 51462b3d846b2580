"""The model registry: every pretrained model as typed data (in the spirit of torchgeo's weights enums).

Each :class:`ModelEntry` is one model's file on the HuggingFace Hub (repository, file name, revision,
sha256/size) and its :class:`~.model_spec.ModelSpec` (architecture, bands, normalisation, classes with the
active ones, tiling), from which it builds its own model. The FLAIR-HUB facts (class order, bands,
normalisations, tiling) are data here too. Downloading an entry's file: :mod:`.hf_download`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import FlairError
from .flair_hub import UPERNET_SMP04
from .model_spec import ModelSpec
from .normalisation import Normalisation
from .palette import palette, palette_names

if TYPE_CHECKING:
    import torch
    from torch import nn

ETALAB_2 = "Etalab Open Licence 2.0"
RGBIE = ("R", "G", "B", "NIR", "Elevation")


@dataclass(frozen=True)
class ModelEntry:
    """One pretrained model: its :class:`ModelSpec` (what it is, expects and predicts) and where its file lives.

    ``revision`` pins a commit where one is known; ``sha256``/``size`` verify the file when known,
    otherwise the hash the hub reports for the file (its LFS ETag) is used. ``confirmed`` says
    whether the file was seen at that revision (its hash, or a tree view listing it; by default:
    when its sha256 is known); an unconfirmed entry may fail to download and says so.
    The other attributes (``name``, ``arch``, ``bands``, ``tile_size``…) are the spec's.
    """

    spec: ModelSpec
    repo_id: str
    filename: str
    revision: str = "main"
    sha256: str | None = None
    size: int | None = None
    licence: str = ETALAB_2
    notes: str = ""
    confirmed: bool = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.confirmed is None:
            object.__setattr__(self, "confirmed", self.sha256 is not None)

    def build(self, device: "torch.device | str | None" = None) -> "nn.Module":
        """This model with random weights (its file's are loaded by :func:`.checkpoints.load_weights`)."""
        return self.spec.build(device)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arch(self) -> str:
        return self.spec.arch

    @property
    def encoder(self) -> str:
        return self.spec.encoder

    @property
    def bands(self) -> tuple[str, ...]:
        return self.spec.bands

    @property
    def normalisation(self) -> Normalisation:
        return self.spec.normalisation

    @property
    def resolution(self) -> float:
        return self.spec.resolution

    @property
    def tile_size(self) -> int:
        return self.spec.tile_size

    @property
    def margin(self) -> int:
        return self.spec.margin

    @property
    def grid(self) -> str:
        return self.spec.grid

    @property
    def head_classes(self) -> int:
        """The number of output channels (19 for every IGNF model)."""
        return self.spec.n_classes

    @property
    def channel_codes(self) -> tuple[int, ...]:
        """The FLAIR code of each output channel."""
        return tuple(c.code for c in self.spec.classes)

    @property
    def palette(self) -> str:
        """The name of the palette of its active classes (``flair-15``, ``flair-12``)."""
        codes = {c.code for c in self.spec.active_classes}
        return next((n for n in palette_names() if {c.code for c in palette(n)} == codes), f"{len(codes)} classes")


def _spec(name: str, bands: tuple[str, ...], active: str, arch: str, encoder: str,
          channel_codes: tuple[int, ...] | None = None, normalisation: Normalisation | None = None,
          **tiling: object) -> ModelSpec:
    """A registry model's spec: FLAIR codes 1..19 on its 19 channels (or ``channel_codes``), the codes of
    palette ``active`` active."""
    by_code = {c.code: c for c in palette("flair-19")}
    classes = tuple(by_code[code] for code in channel_codes or sorted(by_code))
    on = {c.code for c in palette(active)}
    return ModelSpec(arch=arch, encoder=encoder, bands=bands, classes=classes,
                     active=tuple(c.code in on for c in classes),
                     normalisation=normalisation or Normalisation.for_bands(bands), name=name,
                     **tiling)  # type: ignore[arg-type]


def _inc(code: str, bands: tuple[str, ...], active: str, arch: str = "unet", encoder: str = "resnet34",
         **kw: object) -> ModelEntry:
    name = f"FLAIR-INC_{code}"
    return ModelEntry(spec=_spec(name, bands, active, arch, encoder), repo_id=f"IGNF/{name}",
                      filename=f"{name}_weights.pth", **kw)  # type: ignore[arg-type]


# Every FLAIR-INC entry is pinned to the commit that uploaded its weight file, with that file's
# sha256 and size (reference/IGNF-MODELS.md, "Weight files").
ZOO: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        _inc("rgb_15cl_resnet34-unet", RGBIE[:3], "flair-15",  # the default model
             revision="c3728e205b3e195946d92c27a8f6da0db95020cc", size=97_932_755,
             sha256="d0033871116361360fa6d2024cc4425a01858afdff1bef2ed1d35514cd48a015"),
        _inc("rgbie_15cl_resnet34-unet", RGBIE, "flair-15",
             revision="31b43f7d9c435ea59ba4914fbee113aaae177e12", size=97_957_843,
             sha256="e7be92484275ecb581a758fc8a7efa088f8b4201d62dcbc252094707bd025888",
             notes="mIoU 54.72, OA 76.37 on the FLAIR #1 test set (model card)"),
        _inc("rgbi_15cl_resnet34-unet", RGBIE[:4], "flair-15",
             revision="19b80d1ca5d9b8972bd25218e29aaf0de2b00b22", size=97_945_299,
             sha256="91465bf3e5307a31f3efb9f75ee15aebd02df0650dc8a7efcc64aece78a5fc51"),
        _inc("rgb_12cl_resnet34-unet", RGBIE[:3], "flair-12",
             revision="9b7d3219edb13b7bc75a1ef0f6d50b14374a0579", size=97_932_755,
             sha256="b7900cb1cf34f137c2f86a002dc99bca402d5a0139f8ad6253589ece416a511f"),
        _inc("rgbie_12cl_resnet34-unet", RGBIE, "flair-12",
             revision="b46b81694e5f9da4aaa2b8d7d8327dcd6c9e829f", size=97_957_843,
             sha256="e28ac3605f26fac130eb2ad5fed1b546b7ea639db2795bda128b12c9d2b23981"),
        _inc("rgb_15cl_resnet34-fpn", RGBIE[:3], "flair-15", arch="fpn",
             revision="be7f6fbfe9e7623cc2e61a98dcce312ecb158385", size=92_789_265,
             sha256="8166bcf8da2388748930a128a0c99c7a65db97bfa8e086e6178458fdd162c93a"),
        _inc("rgb_15cl_resnet34-deeplabv3", RGBIE[:3], "flair-15", arch="deeplabv3",
             revision="90679be8e6ad79dab97294a91570c14cf54333d2", size=104_221_495,
             sha256="b872ab0a4940bf1344e194df6e9a71b1f1847d5771ae450459cabacd42a05541"),
        _inc("rgb_15cl_mitb5-unet", RGBIE[:3], "flair-15", encoder="mit_b5",
             revision="d6710c33e69a97a12b8f4a9268ee52be03c6e320", size=339_344_766,
             sha256="bbb59e59e8390362825bb29face698be89b6426bbaf03b0943cece70de9250f9"),
    )
}

DEFAULT_MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"


# --- FLAIR-HUB aerial-only land-cover models (IGNF/FLAIR-HUB_LC-A_*) ----------------------------------
# IGN's FLAIR-HUB models taking aerial imagery only (reference/FLAIR-HUB-MODELS.md): <repo>.safetensors,
# a timm encoder with smp 0.4.0's UPerNet (or smp's U-Net), 19 channels in FLAIR-HUB's class order:
# channel i predicts FLAIR code HUB_CHANNEL_CODES[i]; channels 15-18 (weight 0 in training, which the
# file's loss weights record) are masked when a run resolves the model (model_resolution.active_classes).
# No revision, size or sha256 is published for them: unpinned, each download is verified against the
# sha256 the hub announces for the file (its LFS ETag), trust on first use.

# FLAIR-HUB LC channel i -> FLAIR-1 code (matched by class name; "undefined" -> 19 "other").
HUB_CHANNEL_CODES = (1, 18, 13, 3, 2, 4, 5, 14, 10, 11, 12, 9, 7, 6, 8, 15, 17, 16, 19)
HUB_UNTRAINED = (15, 16, 17, 18)  # clear cut, ligneous, mixed, undefined: weight 0 in training
IR_BANDS = ("NIR", "R", "G")  # bands 4, 1, 2 of IGN's RGBI imagery
RGB_BANDS = ("R", "G", "B")
# FLAIR-HUB's statistics (configs/config_zonal_detection.yaml); they differ from FLAIR-INC's.
IR_NORMALISATION = Normalisation("custom", (106.59, 105.66, 111.35), (39.78, 52.23, 45.62))
RGB_NORMALISATION = Normalisation("custom", (105.66, 111.35, 102.18), (52.23, 45.62, 44.30))
HUB_TILE, HUB_MARGIN = 2048, 512  # FLAIR-HUB zonal detection's defaults: the UPerNet pools over the whole tile
HUB_UNVERIFIED = "size and hash not published: verified on first download"


def _hub(code: str, encoder: str, arch: str = UPERNET_SMP04, notes: str = "") -> ModelEntry:
    ir = code.startswith("IR_")
    name = f"FLAIR-HUB_LC-A_{code}"
    spec = _spec(name, IR_BANDS if ir else RGB_BANDS, "flair-15", arch, f"tu-{encoder}", HUB_CHANNEL_CODES,
                 IR_NORMALISATION if ir else RGB_NORMALISATION, tile_size=HUB_TILE, margin=HUB_MARGIN,
                 grid="flair-hub")
    return ModelEntry(spec=spec, repo_id=f"IGNF/{name}", filename=f"{name}.safetensors",
                      notes="; ".join(n for n in (notes, HUB_UNVERIFIED) if n))


ZOO.update({e.name: e for e in (
    _hub("RGB_swintiny-upernet", "swin_tiny_patch4_window7_224"),
    _hub("RGB_swinsmall-upernet", "swin_small_patch4_window7_224"),
    _hub("RGB_swinbase-upernet", "swin_base_patch4_window12_384"),
    _hub("RGB_swinlarge-upernet", "swin_large_patch4_window12_384"),
    _hub("IR_swinbase-upernet", "swin_base_patch4_window12_384"),
    _hub("IR_swinlarge-upernet", "swin_large_patch4_window12_384"),
    _hub("IR_convnextv2tiny-upernet", "convnextv2_tiny", notes="mIoU 62.73, OA 76.43 (model card)"),
    _hub("IR_convnextv2base-upernet", "convnextv2_base", notes="mIoU 63.77, OA 77.03 (model card)"),
    _hub("IR_convnextv2base-unet", "convnextv2_base", arch="unet"),
)})


def get_entry(name: str) -> ModelEntry:
    """The zoo entry called ``name`` (the HF repo name, with or without ``IGNF/``)."""
    key = name.split("/", 1)[1] if name.startswith("IGNF/") else name
    if key not in ZOO:
        raise FlairError(f"unknown model {name!r}: the zoo has {', '.join(ZOO)}")
    return ZOO[key]


def entry_for_file(path: Path) -> ModelEntry | None:
    """The zoo entry whose file has this name, if any (used for local copies of IGNF files)."""
    return next((e for e in ZOO.values() if e.filename == Path(path).name), None)


def confirmed() -> list[ModelEntry]:
    """The entries pinned to the commit that uploaded their file, verified by its sha256 and size."""
    return [e for e in ZOO.values() if e.confirmed and e.sha256 is not None]


def unconfirmed() -> list[ModelEntry]:
    """The entries whose file was never seen at their revision: they may fail to download."""
    return [e for e in ZOO.values() if not e.confirmed]


def describe(entry: ModelEntry) -> str:
    """One line on ``entry`` for lists and logs: model, bands, classes, how its file is pinned."""
    pinned = f"revision {entry.revision[:12]} pinned" if entry.revision != "main" else \
        "revision not pinned (hub's current file)"
    check = ("sha256 pinned" if entry.sha256 else "sha256 checked against the hub's") if entry.confirmed else \
        "file NOT CONFIRMED at this revision (may fail to download)"
    return (f"{entry.name}: {entry.arch}/{entry.encoder}, bands {','.join(entry.bands)}, "
            f"classes {entry.palette}, {pinned}, {check}, licence {entry.licence}"
            + (f" ({entry.notes})" if entry.notes else ""))
