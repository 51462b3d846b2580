"""Rows of the algorithms' attribute tables (the CSV, GeoPackage … a user opens)."""

from qgis.core import QgsFeature, QgsFeatureSink

SIGNIFICANT_DIGITS = 12  # pixels × pixel area carries binary noise in the 16th digit: 235 × 0.04 m² = 9.40000000000001


def tidy(value):
    """``value`` as written: a float to :data:`SIGNIFICANT_DIGITS` significant digits, anything else as it is."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if isinstance(value, float) else value


def add_rows(sink, fields, rows) -> None:
    """Add ``rows`` (attribute values in ``fields``' order) to ``sink`` as features without geometry."""
    for row in rows:
        feature = QgsFeature(fields)
        feature.setAttributes([tidy(v) for v in row])
        sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
