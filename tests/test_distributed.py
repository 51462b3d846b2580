"""Sharded zone runs: a zone cut into blocks on its tile grid, run on a local Dask cluster of two
worker processes (loopback) or in this process, equals a single-process run pixel for pixel;
a killed worker, an interrupted job and a corrupt shard cost recomputation, never a wrong pixel."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

import shard_tasks
from conftest import TINY_ENCODER, make_raster, random_image, tiny_model
from flair_qgis.checkpoints import save_checkpoint
from flair_qgis.cli import main
from flair_qgis.distributed import ZoneOptions, build_vrt, plan_blocks, run_zone
from flair_qgis.engine import segment
from flair_qgis.segment_options import SegmentRequest
from flair_qgis.errors import Cancelled, FlairError
from flair_qgis.progress import Progress
from flair_qgis.tiling import tile_grid
from test_tiling import clip_grid
from flair_qgis.zoo import get_entry

HEIGHT, WIDTH, BLOCK = 250, 310, 96  # 64/16 tiles step 32 px: blocks of 3 steps, 12 of them, not all full
ORIGIN = (650000.0, 6860000.0)
ROWS, COLS = (0, 120, 250), (0, 170, 310)  # four files of unequal sizes


@dataclass
class Zone:
    folder: Path
    vrt: Path
    ckpt: Path
    expected: np.ndarray
    reference: Path


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def _write_tiles(folder: Path, img: np.ndarray, skip: tuple[tuple[int, int], ...] = ()) -> Path:
    folder.mkdir(parents=True)
    for i, (r0, r1) in enumerate(zip(ROWS, ROWS[1:])):
        for j, (c0, c1) in enumerate(zip(COLS, COLS[1:])):
            if (i, j) not in skip:
                make_raster(folder / f"tile_{i}{j}.tif", np.ascontiguousarray(img[:, r0:r1, c0:c1]),
                            origin=(ORIGIN[0] + c0 * 0.2, ORIGIN[1] - r0 * 0.2))
    return folder


@pytest.fixture(scope="module")
def zone(tmp_path_factory) -> Zone:
    """Four GeoTIFFs forming a 310×250 px zone, their VRT, a tiny 64/16 model, and the
    single-process output over the whole VRT."""
    base = tmp_path_factory.mktemp("zone")
    img = random_image(HEIGHT, WIDTH, seed=11)
    folder = _write_tiles(base / "tiles", img)
    vrt = build_vrt(sorted(folder.glob("*.tif")), base / "mosaic.vrt")
    spec = replace(get_entry("FLAIR-INC_rgb_15cl_resnet34-unet").spec, encoder=TINY_ENCODER,
                   tile_size=64, margin=16)
    ckpt = save_checkpoint(base / "tiny.pt", tiny_model(), spec)
    reference = segment(SegmentRequest.of(vrt, base / "single.tif", checkpoint=ckpt)).output
    return Zone(folder, vrt, ckpt, _read(reference), reference)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, on loopback."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.CRITICAL) as c:
        yield c


@pytest.fixture
def client(cluster):
    from distributed import Client

    with Client(cluster.scheduler_address) as c:
        yield c


def _options(zone: Zone, out: Path, source: Path | None = None, **kw) -> SegmentRequest:
    return SegmentRequest.of(source or zone.vrt, out, checkpoint=zone.ckpt, **kw)


class _Log:
    """Progress that records what it is told."""

    def __init__(self, stop_after_blocks: int | None = None) -> None:
        self.lines: list[str] = []
        self.fractions: list[float] = []
        self.stop_after = stop_after_blocks

    @property
    def blocks(self) -> int:
        return sum(line.startswith("block ") for line in self.lines)

    def progress(self) -> Progress:
        return Progress(fraction=self.fractions.append, log=self.lines.append, warn=self.lines.append,
                        cancelled=lambda: self.stop_after is not None and self.blocks >= self.stop_after)


# --- the plan ----------------------------------------------------------------------------------

@pytest.mark.parametrize("width,height,size,margin,block", [(310, 250, 64, 16, 96), (1000, 700, 512, 128, 512),
                                                            (97, 33, 64, 16, 64), (5000, 4100, 512, 128, None)])
def test_blocks_cover_the_zone_once_on_tile_edges_so_no_tile_is_computed_twice(width, height, size, margin, block):
    blocks = plan_blocks(width, height, size, margin, block)
    cover = np.zeros((height, width), np.int32)
    for b in blocks:
        cover[b.row:b.row + b.height, b.col:b.col + b.width] += 1
    assert (cover == 1).all()
    grid = tile_grid(width, height, size, margin)
    assert sum(len(clip_grid(grid, *b.window)) for b in blocks) == len(grid)
    step = size - 2 * margin
    full = block or 16 * step
    assert all(b.width <= full and b.height <= full for b in blocks)
    # whole blocks, but next to the right and top edges (where the grid's last tiles are moved back)
    assert all(b.width == full for b in blocks if b.col + b.width < width - step)
    assert all(b.height == full for b in blocks if b.row > step)


# --- a local cluster of two worker processes ---------------------------------------------------

def test_two_worker_processes_write_exactly_the_single_process_output(zone, cluster, client, tmp_path):
    log = _Log()
    result = run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif"), cluster=cluster.scheduler_address,
                                  block_size=BLOCK, cog=True), log.progress())
    assert result.blocks == 12 and len(result.computed) == 12 and not result.skipped
    np.testing.assert_array_equal(_read(result.vrt), zone.expected)
    np.testing.assert_array_equal(_read(result.cog), zone.expected)
    with rasterio.open(result.cog) as cog, rasterio.open(zone.reference) as ref, rasterio.open(result.vrt) as vrt:
        for out in (cog, vrt):
            assert (out.crs, out.transform, out.nodata) == (ref.crs, ref.transform, ref.nodata)
            assert out.colormap(1)[1] == ref.colormap(1)[1] and out.tags(1) == ref.tags(1)
        assert cog.overviews(1) and cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert result.style.name == "out.qml" and 'type="paletted"' in result.style.read_text()
    # both worker processes took blocks, and each loaded the model once for all of its blocks
    workers = {r["worker"] for r in result.records.values()}
    assert len(workers) == 2
    assert sorted(client.run(shard_tasks.model_loads).values()) == [1, 1]
    # per-block progress with an ETA, fractions rising to the end
    assert log.blocks == 12 and all("ETA" in line for line in log.lines if line.startswith("block "))
    assert log.fractions == sorted(log.fractions) and log.fractions[-1] == 1.0
    assert any(line.startswith("Dask scheduler") for line in log.lines)


def test_a_worker_killed_mid_block_has_its_block_recomputed_and_the_output_is_identical(zone, cluster, client,
                                                                                         tmp_path):
    before = set(client.run(os.getpid).values())
    result = run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif"), cluster=cluster.scheduler_address,
                                  block_size=BLOCK), Progress(), task=shard_tasks.kill_mid_block_once)
    marker = tmp_path / shard_tasks.KILL_MARKER
    assert marker.exists(), "no worker was killed"
    killed = int(marker.read_text())
    assert killed in before
    np.testing.assert_array_equal(_read(result.vrt), zone.expected)
    assert len(result.computed) == 12
    assert not list(result.shards.glob(".*tmp*")), "the killed worker's half-written shard was left"
    client.wait_for_workers(2, timeout=60)
    assert killed not in set(client.run(os.getpid).values())  # the nanny started a new process


def test_an_interrupted_job_started_again_skips_its_finished_shards(zone, cluster, tmp_path):
    options = ZoneOptions(_options(zone, tmp_path / "out.tif"), cluster=cluster.scheduler_address, block_size=BLOCK)
    log = _Log(stop_after_blocks=4)
    with pytest.raises(Cancelled):
        run_zone(options, log.progress())
    shards = tmp_path / "out.shards"
    manifest = json.loads((shards / "manifest.json").read_text())
    finished = set(manifest["shards"])
    assert 4 <= len(finished) < 12
    stamps = {n: (shards / f"{n}.tif").stat().st_mtime_ns for n in finished}
    assert not (tmp_path / "out.vrt").exists()

    result = run_zone(options)
    assert set(result.skipped) == finished
    assert set(result.computed) == set(b.name for b in plan_blocks(WIDTH, HEIGHT, 64, 16, BLOCK)) - finished
    assert {n: (shards / f"{n}.tif").stat().st_mtime_ns for n in finished} == stamps  # not written again
    np.testing.assert_array_equal(_read(result.vrt), zone.expected)


def test_detect_command_line_runs_a_folder_of_tiles_on_a_cluster(zone, cluster, tmp_path, capsys):
    conf = tmp_path / "detect.yaml"
    conf.write_text(yaml.safe_dump({"input_img_path": str(zone.folder), "output_path": str(tmp_path / "out"),
                                    "output_name": "landcover", "model_weights": str(zone.ckpt)}))
    rc = main(["detect", "--conf", str(conf), "--cluster", cluster.scheduler_address,
               "--block-size", str(BLOCK), "--cog"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = tmp_path / "out" / "landcover.tif"
    assert captured.out.strip() == str(out)
    np.testing.assert_array_equal(_read(out), zone.expected)
    assert "ETA" in captured.err and "Dask scheduler" in captured.err and "dashboard" in captured.err
    assert (tmp_path / "out" / "landcover.qml").exists() and (tmp_path / "out" / "landcover.vrt").exists()


# --- in this process ---------------------------------------------------------------------------

def test_a_folder_of_tiles_in_process_equals_the_single_run_and_a_corrupt_shard_is_recomputed(zone, tmp_path):
    options = ZoneOptions(_options(zone, tmp_path / "out.tif", source=zone.folder), block_size=BLOCK)
    first = run_zone(options)
    np.testing.assert_array_equal(_read(first.vrt), zone.expected)
    shards = first.shards
    corrupt, missing, truncated = (shards / f"{n}.tif" for n in first.computed[3:6])
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one bit pattern off: only the checksum sees it
    corrupt.write_bytes(bytes(data))
    missing.unlink()
    truncated.write_bytes(truncated.read_bytes()[:100])
    stamps = {p: p.stat().st_mtime_ns for p in shards.glob("r*.tif")}

    again = run_zone(options)
    assert sorted(again.computed) == sorted(p.stem for p in (corrupt, missing, truncated))
    assert len(again.skipped) == 9
    for p, t in stamps.items():
        if p not in (corrupt, truncated):
            assert p.stat().st_mtime_ns == t
    np.testing.assert_array_equal(_read(again.vrt), zone.expected)


def test_a_folder_run_asked_for_a_tif_writes_a_geotiff_there(zone, tmp_path, capsys):
    """The command line's folder run writes the ``.tif`` it was asked for, a real tiled GeoTIFF with
    the classes' colours (the VRT over the shards beside it), not only ``landcover.vrt``."""
    conf = tmp_path / "detect.yaml"
    conf.write_text(yaml.safe_dump({"input_img_path": str(zone.folder), "output_path": str(tmp_path / "out"),
                                    "output_name": "landcover", "model_weights": str(zone.ckpt)}))
    rc = main(["detect", "--conf", str(conf), "--block-size", str(BLOCK)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = tmp_path / "out" / "landcover.tif"
    assert captured.out.strip() == str(out)
    with rasterio.open(out) as tif, rasterio.open(zone.reference) as ref:
        assert tif.driver == "GTiff" and tif.profile["tiled"] and tif.compression is not None
        assert (tif.transform, tif.crs, tif.nodata) == (ref.transform, ref.crs, ref.nodata)
        assert tif.colormap(1)[1] == ref.colormap(1)[1] and tif.tags()["FLAIR_CLASSES"] == ref.tags()["FLAIR_CLASSES"]
        np.testing.assert_array_equal(tif.read(), zone.expected)
    assert (tmp_path / "out" / "landcover.vrt").exists() and (tmp_path / "out" / "landcover.qml").exists()
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_failed_run_on_an_empty_folder_leaves_no_shards_folder(zone, tmp_path, capsys):
    empty = tmp_path / "tiles"
    empty.mkdir()
    conf = tmp_path / "detect.yaml"
    conf.write_text(yaml.safe_dump({"input_img_path": str(empty), "output_path": str(tmp_path / "out"),
                                    "output_name": "landcover", "model_weights": str(zone.ckpt)}))
    assert main(["detect", "--conf", str(conf)]) == 2
    assert "holds no raster files" in capsys.readouterr().err
    assert not (tmp_path / "out" / "landcover.shards").exists()
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    # a shards folder that was there before (an earlier run's) is left as it was
    kept = tmp_path / "out" / "landcover.shards"
    kept.mkdir(parents=True)
    (kept / "manifest.json").write_text("{}")
    assert main(["detect", "--conf", str(conf)]) == 2
    assert (kept / "manifest.json").read_text() == "{}"


def test_changed_settings_recompute_every_shard(zone, tmp_path):
    run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif"), block_size=BLOCK))
    log = _Log()
    again = run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif", bands=[1, 2, 3]), block_size=BLOCK),
                     log.progress())
    assert len(again.computed) == 12 and not again.skipped
    assert any("other settings" in line for line in log.lines)


def test_gaps_between_tiles_are_nodata_and_not_computed(zone, tmp_path):
    img = random_image(HEIGHT, WIDTH, seed=11)
    folder = _write_tiles(tmp_path / "tiles", img, skip=((0, 1),))  # top-right file missing
    result = run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif", source=folder), block_size=BLOCK))
    out = _read(result.vrt)[0]
    with rasterio.open(result.shards / "zone.vrt") as src:
        assert src.count == 4 and src.colorinterp[3].name == "alpha"
    assert (out[:120, 170:] == 0).all()
    assert (out[120:] > 0).all() and (out[:, :170] > 0).all()
    assert sum(r["computed"] for r in result.records.values()) < sum(r["tiles"] for r in result.records.values())


def test_tiles_that_do_not_share_one_grid_are_refused(tmp_path):
    folder = tmp_path / "tiles"
    folder.mkdir()
    make_raster(folder / "a.tif", random_image(40, 40))
    make_raster(folder / "b.tif", random_image(40, 40), origin=(ORIGIN[0] + 8.1, ORIGIN[1]))
    with pytest.raises(FlairError, match="not on the pixel grid"):
        build_vrt(sorted(folder.glob("*.tif")), tmp_path / "z.vrt")
    make_raster(folder / "b.tif", random_image(40, 40), res=0.5)
    with pytest.raises(FlairError, match="pixel size differs"):
        build_vrt(sorted(folder.glob("*.tif")), tmp_path / "z.vrt")


def test_a_zone_at_another_resolution_is_sharded_on_one_view_at_the_models(zone, tmp_path):
    """Each block resampled on its own would lay its own tile grid: the blocks are cut from one
    view of the whole zone at 0.2 m, and equal the single run on the model's grid."""
    src = make_raster(tmp_path / "coarse.tif", random_image(180, 230, seed=5), res=0.25)
    single = segment(_options(zone, tmp_path / "single.tif", source=src, output_grid="model")).output
    log = _Log()
    result = run_zone(ZoneOptions(_options(zone, tmp_path / "out.tif", source=src), block_size=BLOCK), log.progress())
    assert result.blocks > 4 and any("view of the zone at 0.2 m" in line for line in log.lines)
    np.testing.assert_array_equal(_read(result.vrt), _read(single))
    with rasterio.open(result.vrt) as a, rasterio.open(single) as b:
        assert (a.transform, a.crs) == (b.transform, b.crs)


@pytest.mark.qgis
def test_processing_segment_with_a_cluster_writes_the_sharded_mosaic_as_a_styled_cog(zone, cluster, provider,
                                                                                      tmp_path):
    import processing

    out = tmp_path / "landcover.tif"
    result = processing.run("flair:segment", {"INPUT": str(zone.vrt), "CHECKPOINT": str(zone.ckpt),
                                              "CLUSTER": cluster.scheduler_address, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    np.testing.assert_array_equal(_read(out), zone.expected)
    with rasterio.open(out) as cog:
        assert cog.overviews(1) and cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert (tmp_path / "landcover.qml").exists() and (tmp_path / "landcover.shards" / "manifest.json").exists()
