"""flair_qgis.change_regions (labelling on arrays) against the polygonising implementation it
replaced, kept here as the reference: identical pixels on random and hand-made masks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from affine import Affine
from rasterio.features import rasterize, shapes

from flair_qgis.change_regions import Regions


def _ring_area(ring) -> float:
    xy = np.asarray(ring, dtype=np.float64)
    return 0.5 * abs(float(np.dot(xy[:-1, 0], xy[1:, 1]) - np.dot(xy[1:, 0], xy[:-1, 1])))


def reference_small_regions(changed: np.ndarray, min_pixels: int, cut) -> np.ndarray:
    """The former implementation: polygonise the change mask, measure each polygon, rasterize the small ones."""
    if min_pixels <= 1 or not changed.any():
        return np.zeros(changed.shape, dtype=bool)
    height, width = changed.shape
    small = []
    for geometry, _ in shapes(changed.astype(np.uint8), mask=changed, connectivity=4):
        rings = geometry["coordinates"]
        area = _ring_area(rings[0]) - sum(_ring_area(r) for r in rings[1:])
        if area >= min_pixels:
            continue
        xs = [x for x, _ in rings[0]]
        ys = [y for _, y in rings[0]]
        if (cut[0] and min(ys) == 0) or (cut[1] and max(ys) == height) or (cut[2] and min(xs) == 0) or \
                (cut[3] and max(xs) == width):
            continue
        small.append(geometry)
    if not small:
        return np.zeros(changed.shape, dtype=bool)
    return rasterize(small, out_shape=changed.shape, transform=Affine.identity(), fill=0, default_value=1,
                     dtype=np.uint8).astype(bool)


def small_regions(changed: np.ndarray, min_pixels: int, cut, inner=None) -> np.ndarray:
    """What flair:change reverts in one array (over ``inner`` when given), by flair_qgis.change_regions."""
    return Regions(changed, min_pixels, cut).small_pixels(inner)


CUTS = list(itertools.product((False, True), repeat=4))


@pytest.mark.parametrize("seed", range(12))
def test_random_masks_match_the_polygonising_reference(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 60, 2))
    density = (0.1, 0.3, 0.5, 0.6, 0.8)[seed % 5]
    changed = rng.random(shape) < density
    for min_pixels in (0, 1, 2, 3, 5, 9, 40):
        for cut in (CUTS[seed % 16], CUTS[(seed * 7 + 3) % 16]):
            got = small_regions(changed, min_pixels, cut)
            assert got.dtype == bool and got.shape == changed.shape
            assert np.array_equal(got, reference_small_regions(changed, min_pixels, cut)), (min_pixels, cut)


def test_hand_made_masks_match_the_reference_and_the_hand_count():
    changed = np.zeros((9, 12), dtype=bool)
    changed[0, 0] = True                    # 1 px in the top-left corner
    changed[2:5, 2:5] = True                # a 3×3 ring around an unchanged pixel: 8 px
    changed[3, 3] = False
    changed[6, 6] = changed[7, 7] = True    # two pixels touching diagonally: two regions of 1 px
    changed[1:8, 10] = True                 # a 7 px line, not touching the right edge
    changed[8, 0:3] = True                  # 3 px along the bottom edge
    changed[3, 8] = True                    # 1 px alone
    for min_pixels, cut in itertools.product((2, 4, 8, 9, 10), CUTS):
        assert np.array_equal(small_regions(changed, min_pixels, cut),
                              reference_small_regions(changed, min_pixels, cut)), (min_pixels, cut)
    got = small_regions(changed, 8, (True, True, True, True))
    expected = np.zeros_like(changed)
    expected[6, 6] = expected[7, 7] = expected[1:8, 10] = expected[3, 8] = True  # not the 8 px ring, not edges
    assert np.array_equal(got, expected)
    got = small_regions(changed, 9, (False, False, False, False))
    assert got[0, 0] and got[8, 0:3].all() and got[2, 2] and not got[3, 3]


def test_a_region_inside_another_regions_hole_is_judged_by_its_own_size():
    changed = np.zeros((9, 9), dtype=bool)
    changed[1:8, 1:8] = True
    changed[2:7, 2:7] = False              # a 24 px ring
    changed[4, 4] = True                   # 1 px inside its hole
    got = small_regions(changed, 5, (True, True, True, True))
    assert got.sum() == 1 and got[4, 4]
    assert np.array_equal(got, reference_small_regions(changed, 5, (True, True, True, True)))


def test_nothing_changed_or_no_minimum_reverts_nothing():
    assert not small_regions(np.zeros((4, 4), dtype=bool), 10, (False,) * 4).any()
    assert not small_regions(np.ones((4, 4), dtype=bool), 1, (False,) * 4).any()


def test_the_inner_window_is_the_same_pixels():
    rng = np.random.default_rng(5)
    changed = rng.random((40, 50)) < 0.4
    inner = (slice(7, 31), slice(3, 44))
    for cut in CUTS[::5]:
        assert np.array_equal(small_regions(changed, 6, cut, inner), reference_small_regions(changed, 6, cut)[inner])


@pytest.mark.parametrize("block", [7, 16, 64])
def test_change_tables_and_map_equal_the_reference_on_the_whole_raster(tmp_path, block):
    """compare() with blocks and halos: the same transitions and change map as the polygonising
    reference applied to the whole raster at once (no block edge)."""
    import rasterio

    from conftest import make_raster
    from flair_qgis.change import ChangeOptions, compare

    rng = np.random.default_rng(block)
    before = rng.integers(1, 4, (1, 45, 60), dtype=np.uint8)
    after = before.copy()
    flip = rng.random(before.shape) < 0.25
    after[flip] = rng.integers(1, 4, int(flip.sum()), dtype=np.uint8)
    b = make_raster(tmp_path / "b.tif", before, nodata=0)
    a = make_raster(tmp_path / "a.tif", after, nodata=0)
    area = 0.2 * 0.2
    result = compare(ChangeOptions(b, a, min_area=5 * area - 1e-9, block=block, change_codes=tmp_path / "c.tif"))

    changed = before[0] != after[0]
    expected_after = np.where(reference_small_regions(changed, 5, (False,) * 4), before[0], after[0])
    expected = np.bincount((before[0].astype(np.int64) * 20 + expected_after).ravel(), minlength=400)
    got = np.zeros(400, dtype=np.int64)
    for t in result.transitions:
        got[t.from_code * 20 + t.to_code] = t.pixels
    assert np.array_equal(got, expected)
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(1), before[0].astype(np.uint16) * 100 + expected_after)


@pytest.mark.parametrize("thin,max_undecided", [(1, 1000), (2, 1000), (3, 2), (1, 0)])
@pytest.mark.parametrize("block,min_pixels", [(9, 5), (16, 12), (23, 30)])
def test_blocks_read_with_a_thin_halo_judge_the_regions_reaching_past_it_as_the_full_halo_does(
        tmp_path, monkeypatch, thin, max_undecided, block, min_pixels):
    """A block is read with a thin halo; the regions still under the minimum at its edge are judged
    again on a window around each (or, past MAX_UNDECIDED of them, the block is read with the full
    halo): the tables and the map are those of the polygonising reference on the whole raster."""
    import rasterio

    from conftest import make_raster
    from flair_qgis import change
    from flair_qgis.change import ChangeOptions, compare

    monkeypatch.setattr(change, "THIN_HALO", thin)
    monkeypatch.setattr(change, "MAX_UNDECIDED", max_undecided)
    rng = np.random.default_rng(block * 100 + min_pixels)
    before = rng.integers(1, 4, (1, 70, 83), dtype=np.uint8)
    after = before.copy()
    flip = rng.random(before.shape) < 0.15
    after[flip] = rng.integers(1, 4, int(flip.sum()), dtype=np.uint8)
    for _ in range(60):  # slivers of every length, across block edges: some under the minimum, some not
        r, c, n = int(rng.integers(0, 70)), int(rng.integers(0, 83)), int(rng.integers(2, 2 * min_pixels))
        sliver = (0, slice(r, r + 1), slice(c, c + n)) if rng.random() < 0.5 else (0, slice(r, r + n), slice(c, c + 1))
        after[sliver] = before[sliver] % 3 + 1
    b = make_raster(tmp_path / "b.tif", before, nodata=0)
    a = make_raster(tmp_path / "a.tif", after, nodata=0)
    area = 0.2 * 0.2
    result = compare(ChangeOptions(b, a, min_area=min_pixels * area - 1e-9, block=block,
                                   change_codes=tmp_path / "c.tif"))

    changed = before[0] != after[0]
    small = reference_small_regions(changed, min_pixels, (False,) * 4)
    assert small.any() and (changed & ~small).any()  # regions of both kinds
    expected_after = np.where(small, before[0], after[0])
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(1), before[0].astype(np.uint16) * 100 + expected_after)
    assert result.reverted_pixels == int(small.sum())
