"""How much of a pure misregistration MIN_AREA removes, on real label shapes (README, "Land-cover change").

Data: the 60 real label patches of ``../shared/data/fnau-parking`` (512×512 px at 0.2 m, IGN BD ORTHO
zone, 1 = parking lot, 2 = other). Their classes are not FLAIR's: here 1 is read as FLAIR code 3
(impervious surface, artificialised) and 2 as 10 (herbaceous vegetation), to get real outlines between
artificialised and other land. "After" is the same patch moved by 1 (then 2) pixels east and south, as
two campaigns misregistered by 0.2–0.4 m would be: every change found is a false one. For each
MIN_AREA, the share of that false change that remains, and the share of the real parking-lot regions
(4-connected) smaller than MIN_AREA, which a real change of that size would be lost with.

    .venv/bin/python bench/change_min_area.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import shapes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LABELS = ROOT.parent / "shared" / "data" / "fnau-parking" / "train" / "labels"
THRESHOLDS = (0, 1, 2, 5, 10, 20, 50)  # m²


def main() -> None:
    from flair_qgis.change import ChangeOptions, compare

    files = sorted(LABELS.glob("*.tif"))
    remaining = {(s, t): 0.0 for s in (1, 2) for t in THRESHOLDS}
    region_areas = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            with rasterio.open(path) as src:
                labels, profile = src.read(1), src.profile
            codes = np.where(labels == 1, 3, 10).astype(np.uint8)
            for geometry, _ in shapes((labels == 1).astype(np.uint8), mask=labels == 1, connectivity=4):
                ring = np.asarray(geometry["coordinates"][0])
                outer = 0.5 * abs(np.dot(ring[:-1, 0], ring[1:, 1]) - np.dot(ring[1:, 0], ring[:-1, 1]))
                holes = sum(0.5 * abs(np.dot(np.asarray(h)[:-1, 0], np.asarray(h)[1:, 1])
                                      - np.dot(np.asarray(h)[1:, 0], np.asarray(h)[:-1, 1]))
                            for h in geometry["coordinates"][1:])
                region_areas.append((outer - holes) * 0.04)
            before = Path(tmp) / "before.tif"
            with rasterio.open(before, "w", **{**profile, "nodata": 0}) as dst:
                dst.write(codes[None])
            for shift in (1, 2):
                after = Path(tmp) / f"after{shift}.tif"
                moved = np.zeros_like(codes)
                moved[shift:, shift:] = codes[:-shift, :-shift]  # content moved east and south, edges nodata
                with rasterio.open(after, "w", **{**profile, "nodata": 0}) as dst:
                    dst.write(moved[None])
                for t in THRESHOLDS:
                    result = compare(ChangeOptions(before, after, min_area=t))
                    remaining[shift, t] += sum(x.area_m2 for x in result.transitions if x.from_code != x.to_code)
    areas = np.array(region_areas)
    print(f"{len(files)} patches, {len(areas)} parking-lot regions (median {np.median(areas):.1f} m²)")
    print("| MIN_AREA (m²) | false change left, 1 px shift | 2 px shift | real regions smaller |")
    print("|---|---|---|---|")
    for t in THRESHOLDS:
        print(f"| {t} | {remaining[1, t]:.0f} m² ({100 * remaining[1, t] / remaining[1, 0]:.0f} %) | "
              f"{remaining[2, t]:.0f} m² ({100 * remaining[2, t] / remaining[2, 0]:.0f} %) | "
              f"{100 * (areas < t).mean():.0f} % |")


if __name__ == "__main__":
    main()
