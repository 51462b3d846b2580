"""FLAIR segmentation core: model zoo, checkpoints, tiled inference. No QGIS import here.

The data path: raster (``raster_io``) → tile grid (``tiling``) → normalised batches
(``normalisation``) → model (``zoo`` + ``checkpoints``) → stitched windows → output file and
style (``palette``), driven by ``engine.segment``. ``config`` reads FLAIR-1 YAML files and
``cli`` is the ``python -m flair_qgis`` command line.
"""

__version__ = "0.1.0"
