"""Finding image/label pairs in the layouts users have, and reporting what is wrong with the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_raster
from flair_qgis.errors import FlairError
from flair_qgis.normalisation import Normalisation
from flair_qgis.labels import IGNORE, label_lookup
from flair_qgis.patch_files import check_pairs, find_pairs, split_pairs
from flair_qgis.patches import PatchDataset
from synthetic import origin, synthetic_patch, write_flair, write_images_labels


def kinds(found) -> dict[str, list[str]]:
    """Problem kind → names of the files it lists (over every problem of that kind)."""
    out: dict[str, list[str]] = {}
    for p in found.problems:
        out[p.kind] = sorted(out.get(p.kind, []) + [Path(f).name for f in p.files])
    return out


def test_flair_layout_pairs_by_id_at_any_depth_across_folders(tmp_path):
    write_flair(tmp_path / "aerial" / "D006_2020", 3)
    # FLAIR keeps images and masks under different roots: move the masks away
    shutil.move(tmp_path / "aerial" / "D006_2020" / "Z1" / "msk", tmp_path / "labels_root")

    found = find_pairs([tmp_path / "aerial", tmp_path / "labels_root"])

    assert [(p.image.name, p.label.name) for p in found.pairs] == [
        (f"IMG_{i:06d}.tif", f"MSK_{i:06d}.tif") for i in range(3)]
    assert found.problems == []


def test_images_labels_layout_pairs_same_names(tmp_path):
    write_images_labels(tmp_path / "site_a", 2)
    write_images_labels(tmp_path / "site_b" / "deeper", 2, first=10)

    found = find_pairs([tmp_path])

    assert [p.image.name for p in found.pairs] == ["tile_0000.tif", "tile_0001.tif", "tile_0010.tif", "tile_0011.tif"]
    assert all(p.label.parent.name == "labels" and p.label.name == p.image.name for p in found.pairs)


def test_flair1_csv_list_without_header_relative_to_its_folder(tmp_path):
    write_flair(tmp_path / "data", 3)
    rows = [f"Z1/img/IMG_{i:06d}.tif,Z1/msk/MSK_{i:06d}.tif" for i in (2, 0)]
    (tmp_path / "data" / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    found = find_pairs([tmp_path / "data" / "train.csv"])

    assert [p.image.name for p in found.pairs] == ["IMG_000000.tif", "IMG_000002.tif"]
    assert all(p.image.is_file() and p.label.is_file() for p in found.pairs)


def test_csv_listing_missing_files_names_them(tmp_path):
    write_flair(tmp_path, 1)
    (tmp_path / "list.csv").write_text(
        f"{tmp_path}/Z1/img/IMG_000000.tif,{tmp_path}/Z1/msk/MSK_000000.tif\n"
        f"{tmp_path}/Z1/img/IMG_000009.tif,{tmp_path}/Z1/msk/MSK_000009.tif\n", encoding="utf-8")

    found = find_pairs([tmp_path / "list.csv"])

    assert len(found.pairs) == 1
    assert kinds(found) == {"missing": ["IMG_000009.tif", "MSK_000009.tif"]}
    assert "2 file(s) listed in" in str(found.problems[0]) and "IMG_000009.tif" in str(found.problems[0])


def test_unpaired_files_are_reported_by_name(tmp_path):
    write_flair(tmp_path / "flair", 3)
    (tmp_path / "flair" / "Z1" / "msk" / "MSK_000001.tif").unlink()
    (tmp_path / "flair" / "Z1" / "img" / "IMG_000002.tif").unlink()
    write_images_labels(tmp_path / "mine", 2)
    (tmp_path / "mine" / "labels" / "tile_0000.tif").rename(tmp_path / "mine" / "labels" / "tile_0099.tif")

    found = find_pairs([tmp_path])

    assert [p.image.name for p in found.pairs] == ["IMG_000000.tif", "tile_0001.tif"]
    assert kinds(found) == {"unpaired-image": ["IMG_000001.tif", "tile_0000.tif"],
                            "unpaired-label": ["MSK_000002.tif", "tile_0099.tif"]}


def test_nothing_to_pair_is_an_error_saying_which_layouts_are_understood(tmp_path):
    make_raster(tmp_path / "mosaic.tif", np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(FlairError, match="no image/label pairs found .* img/IMG_<id>.tif with msk/MSK_<id>.tif"):
        find_pairs([tmp_path])
    with pytest.raises(FlairError, match="does not exist"):
        find_pairs([tmp_path / "nowhere"])


def test_size_crs_grid_and_band_mismatches_leave_pairs_out_and_name_them(tmp_path):
    write_images_labels(tmp_path, 5)
    image, labels = synthetic_patch(0)
    make_raster(tmp_path / "labels" / "tile_0001.tif", labels[:, :32], origin=origin(1, 64))      # size
    make_raster(tmp_path / "labels" / "tile_0002.tif", labels, crs="EPSG:32631", origin=origin(2, 64))  # CRS
    make_raster(tmp_path / "labels" / "tile_0003.tif", labels, origin=(1000.0, 2000.0))           # grid
    make_raster(tmp_path / "images" / "tile_0004.tif", image[:2], origin=origin(4, 64))           # bands

    found = check_pairs(find_pairs([tmp_path]), bands=[1, 2, 3], codes=[1, 2, 3])

    assert [p.image.name for p in found.pairs] == ["tile_0000.tif"]
    assert kinds(found) == {"size": ["tile_0001.tif"], "crs": ["tile_0002.tif"], "grid": ["tile_0003.tif"],
                            "bands": ["tile_0004.tif"]}
    messages = " | ".join(str(p) for p in found.problems)
    assert "sizes differ" in messages and "CRSs differ" in messages and "fewer than 3 band(s)" in messages
    found.raise_fatal()  # left out, not fatal


def test_label_values_outside_the_classes_are_fatal_and_list_the_files(tmp_path):
    write_images_labels(tmp_path, 3)
    _, labels = synthetic_patch(1)
    labels[0, :4, :4] = 7
    make_raster(tmp_path / "labels" / "tile_0001.tif", labels, origin=origin(1, 64))

    found = check_pairs(find_pairs([tmp_path]), bands=[1, 2, 3], codes=[1, 2, 3])

    assert kinds(found) == {"classes": ["tile_0001.tif"]}
    with pytest.raises(FlairError, match=r"label value\(s\) 7 are not among the declared classes \(1, 2, 3\) in 1 "
                                         r"label file\(s\).*tile_0001.tif"):
        found.raise_fatal()


def test_the_labels_nodata_value_is_not_a_class_value(tmp_path):
    write_images_labels(tmp_path, 1)
    _, labels = synthetic_patch(0)
    labels[0, :10] = 0
    make_raster(tmp_path / "labels" / "tile_0000.tif", labels, nodata=0)

    found = check_pairs(find_pairs([tmp_path]), bands=[1, 2, 3], codes=[1, 2, 3])

    assert found.problems == [] and 0 not in found.class_pixels
    assert sum(found.class_pixels.values()) == 64 * 64 - 10 * 64


def test_seeded_split_is_reproducible_and_disjoint(tmp_path):
    pairs = find_pairs([write_flair(tmp_path, 10)]).pairs
    train, val = split_pairs(pairs, 0.3, seed=5)
    assert (train, val) == split_pairs(pairs, 0.3, seed=5)
    assert len(val) == 3 and not set(train) & set(val) and set(train) | set(val) == set(pairs)
    assert split_pairs(pairs, 0.3, seed=6) != (train, val)


def test_dataset_maps_codes_to_channels_ignores_nodata_and_weight_zero_classes(tmp_path):
    write_images_labels(tmp_path, 1)
    _, labels = synthetic_patch(0)
    labels[0, 0, :5] = 0
    make_raster(tmp_path / "labels" / "tile_0000.tif", labels, nodata=0)
    pairs = find_pairs([tmp_path]).pairs
    norm = Normalisation("scaling")

    x, y = PatchDataset(pairs, [1, 2, 3], norm, label_lookup([1, 2, 3], ignored=[3]))[0]

    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 64, 64) and float(x.max()) <= 1.0
    expected = np.select([labels[0] == 1, labels[0] == 2], [0, 1], IGNORE)
    np.testing.assert_array_equal(y.numpy(), expected)


def test_augmentation_is_a_symmetry_of_the_square_and_depends_only_on_seed_epoch_index(tmp_path):
    write_images_labels(tmp_path, 2)
    pairs = find_pairs([tmp_path]).pairs
    lut = label_lookup([1, 2, 3])
    plain = PatchDataset(pairs, [1, 2, 3], Normalisation("without"), lut)
    aug = PatchDataset(pairs, [1, 2, 3], Normalisation("without"), lut, augment=True, seed=3)
    x0, y0 = plain[1]
    seen = set()
    for epoch in range(12):
        aug.set_epoch(epoch)
        x, y = aug[1]
        again = aug[1]
        assert torch.equal(x, again[0]) and torch.equal(y, again[1])
        candidates = [(k, f) for k in range(4) for f in (False, True)]
        match = [(k, f) for k, f in candidates
                 if torch.equal(torch.rot90(y0.flip(-1) if f else y0, k, (-2, -1)), y)
                 and torch.equal(torch.rot90(x0.flip(-1) if f else x0, k, (-2, -1)), x)]
        assert match, "the augmented patch is not a flip/rotation of the patch"
        seen.add(match[0])
    assert len(seen) >= 4


def test_random_crops_are_cut_at_the_same_place_in_image_and_labels(tmp_path):
    write_images_labels(tmp_path, 1)
    pairs = find_pairs([tmp_path]).pairs
    ds = PatchDataset(pairs, [1, 2, 3], Normalisation("without"), label_lookup([1, 2, 3]), crop=32, seed=1)
    x_full, y_full = PatchDataset(pairs, [1, 2, 3], Normalisation("without"), label_lookup([1, 2, 3]))[0]

    x, y = ds[0]

    assert tuple(x.shape) == (3, 32, 32) and tuple(y.shape) == (32, 32)
    hits = [(r, c) for r in range(33) for c in range(33) if torch.equal(x_full[:, r:r + 32, c:c + 32], x)]
    assert len(hits) == 1 and torch.equal(y_full[hits[0][0]:hits[0][0] + 32, hits[0][1]:hits[0][1] + 32], y)


def test_balanced_crops_show_a_rare_class_as_often_as_the_common_one(tmp_path):
    write_images_labels(tmp_path, 1)
    _, labels = synthetic_patch(0, codes=(1,))
    labels[0, 60:64, 60:64] = 3  # 16 px of water in a corner
    make_raster(tmp_path / "labels" / "tile_0000.tif", labels)
    pairs = find_pairs([tmp_path]).pairs

    def share_with_water(balanced: bool) -> float:
        ds = PatchDataset(pairs, [1, 2, 3], Normalisation("without"), label_lookup([1, 2, 3]), crop=32, seed=2,
                          balanced=balanced)
        hits = 0
        for epoch in range(60):
            ds.set_epoch(epoch)
            hits += bool((ds[0][1] == 2).any())
        return hits / 60

    assert share_with_water(balanced=False) < 0.1
    assert share_with_water(balanced=True) > 0.35
