"""The ``CODES`` parameter shared by every algorithm that reads class rasters: how their values are
read (FLAIR codes, or the 0-based indices of IGN's flair-detect and of FLAIR-HUB). The decision
itself is the core's (``flair_qgis.class_codes``)."""

from qgis.core import QgsProcessingParameterEnum

from ..flair_qgis.class_codes import AUTO, CONVENTIONS
from ..i18n import tr

KEY = "CODES"


def codes_parameter(description: str | None = None) -> QgsProcessingParameterEnum:
    """The ``CODES`` enum (auto, flair, zero_based, zero_based_hub), default auto, with its help."""
    parameter = QgsProcessingParameterEnum(KEY, description or tr("Class values"), options=list(CONVENTIONS),
                                           defaultValue=AUTO, usesStaticStrings=True)
    parameter.setHelp(tr(
        "How the class raster's values are read. 'flair': FLAIR codes 1–19 (1 = building … 19 = other), "
        "0 = nodata, as this plugin and the FLAIR-1 labels write them. 'zero_based': 0-based indices of IGN's "
        "flair-detect (0 = building … 18 = other, no nodata; index i is FLAIR code i + 1). 'zero_based_hub': "
        "0-based indices of FLAIR-HUB's zonal detection, whose order differs (0 = building, 1 = greenhouse, "
        "2 = swimming pool, 3 = impervious surface …). 'auto': this plugin's maps are recognised by their "
        "tags or colour table; a raster that holds 0 and declares no nodata is read as 'zero_based' "
        "(flair-detect's order, said in the log: choose 'zero_based_hub' for a FLAIR-HUB map). Each raster is "
        "decided on its own."))
    return parameter
