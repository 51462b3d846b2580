"""Builds the land-cover change example of the README from one real label patch of
``../shared/data/fnau-parking`` (tile_3325, 512×512 px at 0.2 m, Lambert-93; 1 = parking lot, 2 = other).

- ``landcover_2018.tif``: the labels as a FLAIR map (parking lot → 3 impervious surface, other →
  10 herbaceous vegetation; 0 = nodata), as this plugin writes them.
- ``landcover_2024_flair_detect.tif``: a made-up second date, written as IGN's flair-detect writes
  maps (0-based indices, no nodata): the same labels misregistered by one pixel (0.2 m east and
  south), the smaller parking lot returned to grass, and a 6 m × 10 m building (code 1) put on grass.
- ``halves.gpkg``: two zones, the west and east halves of the patch (field ``nom``).

    .venv/bin/python examples/make_change_example.py build/change_example
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import shapes

PATCH = Path(__file__).resolve().parent.parent.parent / "shared/data/fnau-parking/train/labels/tile_3325.tif"


def main(out: Path) -> None:
    from osgeo import ogr, osr

    out.mkdir(parents=True, exist_ok=True)
    with rasterio.open(PATCH) as src:
        labels, profile = src.read(1), src.profile
    before = np.where(labels == 1, 3, 10).astype(np.uint8)
    after = np.full_like(before, 10)
    after[1:, 1:] = before[:-1, :-1]  # one pixel east and south
    regions = [(g, v) for g, v in shapes((after == 3).astype(np.uint8), mask=after == 3, connectivity=4)]
    smallest = min(regions, key=lambda r: len(r[0]["coordinates"][0]))[0]
    from rasterio.features import rasterize

    after[rasterize([smallest], out_shape=after.shape, default_value=1).astype(bool)] = 10
    grass = np.argwhere(after[:-50, :-30] == 10)
    r, c = next((r, c) for r, c in grass if (after[r:r + 50, c:c + 30] == 10).all())
    after[r:r + 50, c:c + 30] = 1
    with rasterio.open(out / "landcover_2018.tif", "w", **{**profile, "nodata": 0}) as dst:
        dst.write(before[None])
    with rasterio.open(out / "landcover_2024_flair_detect.tif", "w", **{**profile, "nodata": None}) as dst:
        dst.write((after - 1)[None])
    srs = osr.SpatialReference()
    srs.ImportFromWkt(profile["crs"].to_wkt())
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(out / "halves.gpkg"))
    layer = source.CreateLayer("halves", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("nom", ogr.OFTString))
    t = profile["transform"]
    left, top, right, bottom = t.c, t.f, t.c + 512 * t.a, t.f + 512 * t.e
    middle = (left + right) / 2
    for name, (x0, x1) in (("west", (left, middle)), ("east", (middle, right))):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("nom", name)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0} {bottom},{x1} {bottom},{x1} {top},{x0} {top},{x0} {bottom}))"))
        layer.CreateFeature(feature)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/change_example"))
