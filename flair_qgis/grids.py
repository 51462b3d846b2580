"""Whether two rasters lie on the same pixel grid, and the windows where they overlap."""

from __future__ import annotations

from rasterio.windows import Window

from .errors import FlairError

TOLERANCE = 1e-3  # of a pixel


def aligned_windows(a, b) -> tuple[Window, Window]:
    """The windows of ``a`` and ``b`` (open rasterio datasets) that cover the same ground.

    The rasters must share their CRS and pixel size, and their pixel edges must line up (a whole
    number of pixels apart); then their overlap is used. Anything else is refused with a message
    that says how to put one on the other's grid.
    """
    fix = ("resample one onto the other's grid first (QGIS: Raster → Projections → Warp, with the "
           "other raster's CRS, pixel size and extent; or gdalwarp -tap)")
    if (a.crs is None) != (b.crs is None):
        lacking = a.name if a.crs is None else b.name
        raise FlairError(f"{lacking} has no CRS while the other raster has one: assign it (Layer "
                         "Properties → Source, or gdal_edit.py -a_srs)")
    if a.crs is not None and a.crs != b.crs:
        raise FlairError(f"{a.name} is in {a.crs.to_string()} and {b.name} in {b.crs.to_string()}: "
                         f"the rasters are on different grids; {fix}")
    ta, tb = a.transform, b.transform
    if ta.b or ta.d or tb.b or tb.d:
        raise FlairError(f"{a.name if ta.b or ta.d else b.name} is rotated: {fix}")
    if abs(ta.a - tb.a) > TOLERANCE * abs(ta.a) or abs(ta.e - tb.e) > TOLERANCE * abs(ta.e):
        raise FlairError(f"{a.name} has {abs(ta.a):g}×{abs(ta.e):g} pixels and {b.name} "
                         f"{abs(tb.a):g}×{abs(tb.e):g}: the rasters are on different grids; {fix}")
    dc, dr = (tb.c - ta.c) / ta.a, (tb.f - ta.f) / ta.e
    if abs(dc - round(dc)) > TOLERANCE or abs(dr - round(dr)) > TOLERANCE:
        raise FlairError(f"the pixels of {b.name} are shifted by a fraction of a pixel from those of "
                         f"{a.name} ({dc - round(dc):+.3f}, {dr - round(dr):+.3f} px): {fix}")
    dc, dr = round(dc), round(dr)
    c0, r0 = max(0, dc), max(0, dr)
    c1, r1 = min(a.width, dc + b.width), min(a.height, dr + b.height)
    if c1 <= c0 or r1 <= r0:
        raise FlairError(f"{a.name} and {b.name} do not overlap")
    return Window(c0, r0, c1 - c0, r1 - r0), Window(c0 - dc, r0 - dr, c1 - c0, r1 - r0)
