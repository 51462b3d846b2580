"""Cutting patch pairs from a raster and its labels into FLAIR's img/msk layout, and burning
polygons onto the image's grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from conftest import make_raster, random_image
from flair_qgis.errors import FlairError
from flair_qgis.export import ExportOptions, export_patches, patch_starts, rasterize_shapes
from flair_qgis.patch_files import check_pairs, find_pairs


@pytest.fixture
def scene(tmp_path):
    """A 200×150 px RGB raster and its labels (codes 1-3, 0 = unlabelled in the left 60 columns)."""
    image = random_image(150, 200, seed=4)
    labels = np.random.default_rng(5).integers(1, 4, (1, 150, 200)).astype(np.uint8)
    labels[:, :, :60] = 0
    return (make_raster(tmp_path / "ortho.tif", image), make_raster(tmp_path / "labels.tif", labels, nodata=0),
            image, labels)


def test_patch_starts_cover_the_length_and_the_last_one_ends_on_the_edge():
    assert patch_starts(200, 64, 64) == [0, 64, 128, 136]
    assert patch_starts(192, 64, 48) == [0, 48, 96, 128]
    assert patch_starts(64, 64, 64) == [0] and patch_starts(63, 64, 64) == []


def test_pairs_hold_the_source_pixels_on_their_own_georeferenced_grid(scene, tmp_path):
    ortho, labels_path, image, labels = scene
    out = tmp_path / "patches"

    result = export_patches(ExportOptions(ortho, labels_path, out, patch_size=64, skip_empty=False))

    starts = [(r, c) for r in patch_starts(150, 64, 64) for c in patch_starts(200, 64, 64)]
    assert len(result.pairs) == len(starts) == 12 and result.skipped == 0
    assert [p.image.name for p in result.pairs] == [f"IMG_{i:06d}.tif" for i in range(1, 13)]
    with rasterio.open(ortho) as src:
        for pair, (r, c) in zip(result.pairs, starts):
            with rasterio.open(pair.image) as img, rasterio.open(pair.label) as msk:
                np.testing.assert_array_equal(img.read(), image[:, r:r + 64, c:c + 64])
                np.testing.assert_array_equal(msk.read(1), labels[0, r:r + 64, c:c + 64])
                assert img.transform == msk.transform == src.window_transform(Window(c, r, 64, 64))
                assert img.crs == src.crs and msk.nodata == 0 and msk.dtypes[0] == "uint8"
    found = check_pairs(find_pairs([out]), [1, 2, 3], [1, 2, 3])
    assert len(found.pairs) == 12 and found.problems == []
    assert [p.image for p in find_pairs([result.csv]).pairs] == [p.image for p in found.pairs]


def test_patches_without_labels_are_skipped_on_request(scene, tmp_path):
    ortho, labels_path, *_ = scene

    result = export_patches(ExportOptions(ortho, labels_path, tmp_path / "p", patch_size=50, skip_empty=True))

    # columns 0 (0-49) and 1 (50-99: 10 labelled columns) of 4; rows 3: the first column of patches is empty
    assert (len(result.pairs), result.skipped) == (9, 3)


def test_overlap_extent_and_numbering_after_an_earlier_export(scene, tmp_path):
    ortho, labels_path, image, _ = scene
    out = tmp_path / "p"
    export_patches(ExportOptions(ortho, labels_path, out, patch_size=64, skip_empty=False))
    with rasterio.open(ortho) as src:
        x0, y0 = src.xy(10, 70, offset="ul")  # row 10, column 70: the extent's top-left corner
    extent = (x0, y0 - 100 * 0.2, x0 + 120 * 0.2, y0)  # 120×100 px

    result = export_patches(ExportOptions(ortho, labels_path, out, patch_size=64, overlap=32, extent=extent))

    # 3 × 3 patches, the last row and column moved back to end on the extent's edge
    assert [p.image.name for p in result.pairs] == [f"IMG_{i:06d}.tif" for i in range(13, 22)]
    with rasterio.open(result.pairs[-1].image) as last:
        np.testing.assert_array_equal(last.read(), image[:, 10 + 36:10 + 100, 70 + 56:70 + 120])
    lines = result.csv.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 21 and lines[-1].endswith("MSK_000021.tif")


def test_labels_covering_part_of_the_image_on_the_same_grid(tmp_path):
    image = random_image(128, 128)
    ortho = make_raster(tmp_path / "ortho.tif", image)
    part = make_raster(tmp_path / "labels.tif", np.full((1, 64, 96), 2, np.uint8),
                       origin=(650000.0 + 32 * 0.2, 6860000.0))

    result = export_patches(ExportOptions(ortho, part, tmp_path / "p", patch_size=64))

    assert len(result.pairs) == 2
    with rasterio.open(result.pairs[1].image) as img:
        np.testing.assert_array_equal(img.read(), image[:, 0:64, 64:128])


def test_labels_on_another_grid_or_too_small_an_area_are_refused(tmp_path):
    ortho = make_raster(tmp_path / "ortho.tif", random_image(128, 128))
    shifted = make_raster(tmp_path / "shifted.tif", np.ones((1, 128, 128), np.uint8), origin=(650000.05, 6860000.0))
    with pytest.raises(FlairError, match="fraction of a pixel"):
        export_patches(ExportOptions(ortho, shifted, tmp_path / "p", patch_size=64))
    with pytest.raises(FlairError, match="smaller than one 256×256 px patch"):
        export_patches(ExportOptions(ortho, ortho, tmp_path / "p", patch_size=256))
    with pytest.raises(FlairError, match="overlap"):
        export_patches(ExportOptions(ortho, ortho, tmp_path / "p", patch_size=64, overlap=64))


def test_polygons_are_burnt_onto_the_image_grid_later_ones_winning(tmp_path):
    ortho = make_raster(tmp_path / "ortho.tif", random_image(100, 100))
    x0, y0 = 650000.0, 6860000.0

    def box(c0, r0, c1, r1):  # pixel columns/rows → a polygon in map coordinates
        xs, ys = (x0 + c0 * 0.2, x0 + c1 * 0.2), (y0 - r0 * 0.2, y0 - r1 * 0.2)
        return {"type": "Polygon", "coordinates": [[(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1]),
                                                    (xs[0], ys[0])]]}

    out = rasterize_shapes([(box(10, 10, 50, 30), 2), (box(40, 20, 60, 60), 7)], ortho, tmp_path / "burnt.tif")

    with rasterio.open(out) as src, rasterio.open(ortho) as like:
        assert src.transform == like.transform and src.crs == like.crs and src.nodata == 0
        burnt = src.read(1)
    expected = np.zeros((100, 100), np.uint8)
    expected[10:30, 10:50] = 2
    expected[20:60, 40:60] = 7
    np.testing.assert_array_equal(burnt, expected)
