"""QGIS 3.22 to QGIS 4 (Qt5 and Qt6) in one place: attribute fields typed with ``QMetaType.Type``.

QGIS 3.38 and later (and every Qt6 build) take ``QMetaType.Type`` for a field's type; ``QVariant.Type``,
which QGIS 3.22–3.36 require, is gone from PyQt6. The algorithms name field types with
``QMetaType.Type`` only; this module alone turns them into what an older QGIS accepts."""

from qgis.core import Qgis, QgsField
from qgis.PyQt.QtCore import QMetaType

# The field types the algorithms write (QMetaType names: QString, not String).
INT = QMetaType.Type.Int
LONG = QMetaType.Type.LongLong
DOUBLE = QMetaType.Type.Double
STRING = QMetaType.Type.QString

FIELDS_TAKE_QMETATYPE = Qgis.QGIS_VERSION_INT >= 33800


def field(name: str, kind: QMetaType.Type, length: int = 0) -> QgsField:
    """A ``QgsField`` of type ``kind`` (``INT``, ``LONG``, ``DOUBLE``, ``STRING``), ``length``
    characters wide where it is given, on any QGIS from 3.22."""
    if FIELDS_TAKE_QMETATYPE:
        return QgsField(name, kind, len=length)
    # Qt5 only (QGIS < 3.38): QVariant::Type shares QMetaType::Type's numbers for these types.
    from qgis.PyQt.QtCore import QVariant

    return QgsField(name, QVariant.Type(int(kind)), len=length)
