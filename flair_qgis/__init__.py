"""FLAIR segmentation core: model zoo, checkpoints, tiled inference. No QGIS import here.

The data path: raster (``raster_io``) → tile grid (``tiling``) → normalised batches
(``normalisation``) → model (``zoo`` + ``checkpoints``) → stitched windows → output file and
style (``palette``), driven by ``engine.segment``. ``config`` reads FLAIR-1 YAML files and
``cli`` is the ``python -m flair_qgis`` command line.
"""

__version__ = "0.1.0"

import os as _os

# GDAL's block cache defaults to 5 % of the RAM (1.2 GB on a 24 GB machine) and fills as a zone is
# read, so peak memory grew with the raster up to that: cap it (read once, when rasterio's GDAL first
# starts; a GDAL_CACHEMAX set by the user wins). Windowed reads need only a few blocks at a time.
_os.environ.setdefault("GDAL_CACHEMAX", "256")
