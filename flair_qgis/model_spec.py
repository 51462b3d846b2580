"""What a model is and expects (:class:`ModelSpec`), and building it with random weights.

A leaf of the model modules: the registry (:mod:`.zoo`) holds one spec per model, checkpoints are
read and loaded as one. torch is imported only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import FlairError
from .normalisation import Normalisation
from .palette import ClassInfo, classes_from_lists, palette

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and expects: everything inference needs besides the weights.

    ``classes`` has one entry per output channel of the head, in channel order; ``active`` says
    which channels may win the argmax (the others are masked, like IGN's switched-off classes).
    ``grid`` is the tile grid of the model's reference tool (``flair-detect`` or ``flair-hub``).
    """

    arch: str
    encoder: str
    bands: tuple[str, ...]
    classes: tuple[ClassInfo, ...]
    active: tuple[bool, ...]
    normalisation: Normalisation
    tile_size: int = 512
    margin: int = 128
    resolution: float = 0.2
    name: str = ""
    grid: str = "flair-detect"

    @property
    def in_channels(self) -> int:
        return len(self.bands)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def build(self, device: "torch.device | str | None" = None) -> "nn.Module":
        """This model with random weights (its file's weights are loaded by :func:`.checkpoints.load_weights`)."""
        return build_model(self.arch, self.encoder, self.in_channels, self.n_classes, device)

    @property
    def active_classes(self) -> tuple[ClassInfo, ...]:
        return tuple(c for c, a in zip(self.classes, self.active) if a)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "arch": self.arch, "encoder": self.encoder, "bands": list(self.bands),
            "classes": [c.as_list() for c in self.classes], "active": list(self.active),
            "normalisation": self.normalisation.as_dict(), "tile_size": self.tile_size,
            "margin": self.margin, "resolution": self.resolution, "grid": self.grid,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        try:
            classes = classes_from_lists(d["classes"])
            return cls(arch=d["arch"], encoder=d["encoder"], bands=tuple(d["bands"]), classes=classes,
                       active=tuple(d.get("active", [True] * len(classes))),
                       normalisation=Normalisation.from_dict(d["normalisation"]),
                       tile_size=int(d.get("tile_size", 512)), margin=int(d.get("margin", 128)),
                       resolution=float(d.get("resolution", 0.2)), name=str(d.get("name", "")),
                       grid=str(d.get("grid", "flair-detect")))
        except (KeyError, TypeError, ValueError) as e:
            raise FlairError(f"the checkpoint's metadata is incomplete or malformed ({e!r})") from None


def default_classes(n: int) -> tuple[ClassInfo, ...]:
    """Classes for a head of ``n`` channels with no metadata: FLAIR codes, or the 13-class baseline."""
    if n == 13:
        return palette("flair-13")
    flair = palette("flair-19")
    if n <= len(flair):
        return flair[:n]
    return flair + tuple(ClassInfo(i + 1, f"class {i + 1}", "#808080") for i in range(len(flair), n))


def build_model(arch: str, encoder: str, in_channels: int, n_classes: int,
                device: "torch.device | str | None" = None) -> "nn.Module":
    """An smp model with random weights (no ImageNet download: ``encoder_weights=None``), or smp 0.4.0's
    UPerNet for FLAIR-HUB models (``arch`` ``upernet-smp0.4``)."""
    import segmentation_models_pytorch as smp
    import torch

    from .flair_hub import UPERNET_SMP04, build_flair_hub_model

    if arch == UPERNET_SMP04:
        if device is not None:
            with torch.device(device):
                return build_flair_hub_model(arch, encoder, in_channels, n_classes)
        return build_flair_hub_model(arch, encoder, in_channels, n_classes)

    try:
        if device is not None:
            with torch.device(device):
                return smp.create_model(arch, encoder, encoder_weights=None, in_channels=in_channels,
                                        classes=n_classes)
        return smp.create_model(arch, encoder, encoder_weights=None, in_channels=in_channels,
                                classes=n_classes)
    except (KeyError, ValueError) as e:
        raise FlairError(f"cannot build model {arch}/{encoder}: {e}") from None
