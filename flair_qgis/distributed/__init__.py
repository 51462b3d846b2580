"""Sharded zone runs: one zone (a VRT, a raster, or a folder of orthophoto tiles) cut into blocks
on the whole zone's tile grid, each block segmented as its own task — in this process, on a local
cluster of worker processes, or on a Dask cluster of many machines — into its own GeoTIFF shard.

zone → blocks (aligned on the tile grid) → one task per block: ``segment_with(window=block)`` on
a model each worker loads once → shard + sha256 → manifest → VRT of the shards (+ optional COG).

A block is segmented with its request's ``read.window``
(:class:`~flair_qgis.segment_options.ReadOptions`): the tiles that own its pixels are those of
the whole zone's grid, read with their halo from the zone itself, so the shards put together
equal, pixel for pixel, a single run over the whole zone. Shards are written under a temporary
name and renamed when complete; the manifest (JSON, replaced atomically) records each finished
shard's sha256, so that a job started again with the same settings skips the shards that are
complete and verified and recomputes only the others. A worker that dies mid-block has its block
recomputed elsewhere by Dask's scheduler.

Every machine must see the zone, the model file and the output folder at the same paths (a shared
file system); zoo models are fetched into each machine's own HuggingFace cache.
"""

from ..errors import Cancelled
from .blocks import Block, Manifest, plan_blocks
from .run import ZoneOptions, ZoneResult, run_zone, zone_paths
from .workers import MODEL_LOADS, BlockJob, cached_model, run_block
from ..mosaics import assemble_vrt, build_vrt, write_cog, zone_files, zone_raster

__all__ = ["Block", "BlockJob", "Manifest", "MODEL_LOADS", "ZoneOptions", "ZoneResult", "assemble_vrt", "build_vrt",
           "cached_model", "plan_blocks", "run_block", "run_zone", "write_cog", "zone_files", "zone_paths",
           "zone_raster", "Cancelled"]
