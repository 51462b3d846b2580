"""A stand-in for IGN's flair-detect inference loop, to measure against on this machine.

It does what flair-detect does per tile (IGNF-MODELS.md): a boundless rasterio read of each
512 px tile, float64 normalisation, a DataLoader, a float32 forward pass in the default memory
layout, a softmax, and one write per tile from the main loop — but it writes each centre
exactly in place (flair-detect's one-pixel shift is a defect we do not reproduce), so its output
is flair-detect's *intended* output, the one our reference mode must agree with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window
from torch.utils.data import DataLoader, Dataset

from flair_qgis.model_spec import ModelSpec
from flair_qgis.tiling import tile_grid


class _Tiles(Dataset):
    def __init__(self, path: Path, tiles, bands, spec: ModelSpec) -> None:
        self.path, self.tiles, self.bands, self.spec = path, tiles, bands, spec
        self.src = None

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, i: int):
        if self.src is None:
            self.src = rasterio.open(self.path)
        t = self.tiles[i]
        img = self.src.read(self.bands, window=Window(t.col, t.row, t.size, t.size), boundless=True,
                            fill_value=0)
        return torch.from_numpy(self.spec.normalisation.apply(img)), i


def run(path: Path, out: Path, model: torch.nn.Module, spec: ModelSpec, batch_size: int = 4,
        num_workers: int = 0) -> None:
    with rasterio.open(path) as src:
        tiles = tile_grid(src.width, src.height, spec.tile_size, spec.margin)
        profile = src.profile | {"count": 1, "dtype": "uint8", "compress": "lzw", "tiled": True,
                                 "blockxsize": 512, "blockysize": 512, "nodata": None}
    codes = np.array([c.code for c in spec.classes], dtype=np.uint8)
    inactive = torch.tensor([not a for a in spec.active])
    loader = DataLoader(_Tiles(path, tiles, list(range(1, spec.in_channels + 1)), spec),
                        batch_size=batch_size, num_workers=num_workers)
    with rasterio.open(out, "w", **profile) as dst:
        for x, index in loader:
            with torch.no_grad():
                logits = model(x)
            probs = torch.softmax(logits.masked_fill(inactive[None, :, None, None], float("-inf")), 1).numpy()
            for p, i in zip(probs, index.tolist()):
                t = tiles[i]
                rows, cols = t.crop
                classes = codes[p.argmax(0)[rows, cols]]
                dst.write(classes[None], window=Window(t.out_col, t.out_row, t.out_width, t.out_height))
