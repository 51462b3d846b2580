"""Thin Processing wrappers around the ``flair_qgis`` core: parameters in, one core call, outputs out."""
