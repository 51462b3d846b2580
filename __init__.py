"""FLAIR for QGIS: IGN's FLAIR land-cover segmentation as a QGIS Processing provider."""


def classFactory(iface):  # noqa: N802 - QGIS's name
    """Called by QGIS (and by qgis_process, with no interface) to load the plugin."""
    from .plugin import FlairPlugin

    return FlairPlugin(iface)
