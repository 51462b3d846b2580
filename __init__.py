"""FLAIR for QGIS: IGN's FLAIR land-cover segmentation as a QGIS Processing provider."""


def classFactory(iface):  # noqa: N802 - QGIS's name
    """Called by QGIS (and by qgis_process, with no interface) to load the plugin."""
    from .flair_qgis.triton_guard import block_triton

    block_triton()  # before anything imports torch: triton's LLVM crashes a desktop on Mesa's
    from .plugin import FlairPlugin

    return FlairPlugin(iface)
