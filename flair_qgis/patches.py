"""Training patches read as a torch Dataset: normalised image tensors and class-index labels,
cropped and augmented reproducibly (the pairs come from :mod:`.patch_files`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from . import raster_io
from .labels import IGNORE, map_labels
from .normalisation import Normalisation
from .patch_files import Pair


class PatchDataset(Dataset):
    """Patches as (image float32 C×H×W normalised, labels int64 H×W) tensors.

    With ``augment``, each patch is flipped and rotated by a multiple of 90° (the eight symmetries
    of the square; flips only for non-square crops); with ``crop``, a ``crop``×``crop`` window is
    cut at a random place (``balanced``: around a pixel of a class drawn among those present, which
    shows rare classes as often as common ones). The randomness comes from (seed, epoch, index)
    alone, so that an epoch is the same whatever the order or the process it is read in (resuming
    relies on this).
    """

    def __init__(self, pairs: Sequence[Pair], bands: Sequence[int], normalisation: Normalisation,
                 lut: np.ndarray, augment: bool = False, crop: int | None = None, seed: int = 0,
                 balanced: bool = False) -> None:
        self.pairs = list(pairs)
        self.bands = list(bands)
        self.normalisation = normalisation
        self.lut = lut
        self.augment = augment
        self.crop = crop
        self.seed = seed
        self.balanced = balanced
        self.epoch = 0

    def _crop_corner(self, labels: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
        """Top-left corner of the crop: anywhere, or (``balanced``) around a pixel of a class drawn
        uniformly among those in the patch, so that rare classes are not cropped away most of the time."""
        h, w = labels.shape
        size = self.crop or 0
        present = np.unique(labels[labels != IGNORE]) if self.balanced else np.array([])
        if len(present) > 1:
            target = present[int(rng.integers(0, len(present)))]
            rows, cols = np.nonzero(labels == target)
            k = int(rng.integers(0, len(rows)))
            r = int(np.clip(rows[k] - size // 2 + int(rng.integers(-size // 4, size // 4 + 1)), 0, h - size))
            c = int(np.clip(cols[k] - size // 2 + int(rng.integers(-size // 4, size // 4 + 1)), 0, w - size))
            return r, c
        return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw image (bands first, file dtype) and class indices of patch ``index``."""
        pair = self.pairs[index]
        with raster_io.open_raster(pair.image) as src:
            image = src.read(self.bands)
        with raster_io.open_raster(pair.label) as src:
            labels = map_labels(src.read(1), self.lut, src.nodata)
        return image, labels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, labels = self.read(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop is not None and (image.shape[1] > self.crop or image.shape[2] > self.crop):
            r, c = self._crop_corner(labels, rng)
            image = image[:, r:r + self.crop, c:c + self.crop]
            labels = labels[r:r + self.crop, c:c + self.crop]
        if self.augment:
            flip_v, flip_h, turns = rng.integers(0, 2), rng.integers(0, 2), int(rng.integers(0, 4))
            if flip_v:
                image, labels = image[:, ::-1], labels[::-1]
            if flip_h:
                image, labels = image[:, :, ::-1], labels[:, ::-1]
            if turns and image.shape[1] == image.shape[2]:
                image, labels = np.rot90(image, turns, axes=(1, 2)), np.rot90(labels, turns)
        x = self.normalisation.apply(np.ascontiguousarray(image))
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(labels))
