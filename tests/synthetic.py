"""Small synthetic training patches whose classes are learnable (each class has its own colour,
plus noise), written as georeferenced GeoTIFFs in the patch layouts users have."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import make_raster

COLOURS = {1: (70, 150, 60), 2: (200, 70, 60), 3: (60, 70, 200)}


def synthetic_patch(seed: int, size: int = 64, codes=(1, 2, 3), paint: dict | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(image 3×size×size uint8, labels 1×size×size uint8): rectangles of codes[1:] on codes[0];
    ``paint`` gives some codes another class's colour (a class that cannot be told apart)."""
    rng = np.random.default_rng(seed)
    labels = np.full((size, size), codes[0], dtype=np.uint8)
    for code in codes[1:]:
        for _ in range(int(rng.integers(1, 3))):
            h, w = rng.integers(size // 6, size // 2, 2)
            r, c = rng.integers(0, size - h), rng.integers(0, size - w)
            labels[r:r + h, c:c + w] = code
    palette = {**COLOURS, **(paint or {})}
    colours = np.array([palette.get(v, (128, 128, 128)) for v in range(max(palette) + 1)], dtype=np.float64)
    image = colours[labels].transpose(2, 0, 1) + rng.normal(0, 20, (3, size, size))
    return np.clip(image, 0, 255).astype(np.uint8), labels[None]


def origin(i: int, size: int) -> tuple[float, float]:
    return 650000.0 + (i % 50) * size * 0.2, 6860000.0 - (i // 50) * size * 0.2


def write_flair(folder: Path, n: int, size: int = 64, first: int = 0, codes=(1, 2, 3), paint=None) -> Path:
    """FLAIR layout: folder/Z1/img/IMG_<id>.tif and folder/Z1/msk/MSK_<id>.tif."""
    for i in range(first, first + n):
        image, labels = synthetic_patch(i, size, codes, paint)
        (folder / "Z1" / "img").mkdir(parents=True, exist_ok=True)
        (folder / "Z1" / "msk").mkdir(parents=True, exist_ok=True)
        make_raster(folder / "Z1" / "img" / f"IMG_{i:06d}.tif", image, origin=origin(i, size))
        make_raster(folder / "Z1" / "msk" / f"MSK_{i:06d}.tif", labels, origin=origin(i, size))
    return folder


def write_images_labels(folder: Path, n: int, size: int = 64, first: int = 0, codes=(1, 2, 3),
                        paint=None) -> Path:
    """images/ + labels/ with the same file names."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        image, labels = synthetic_patch(i, size, codes, paint)
        make_raster(folder / "images" / f"tile_{i:04d}.tif", image, origin=origin(i, size))
        make_raster(folder / "labels" / f"tile_{i:04d}.tif", labels, origin=origin(i, size))
    return folder
