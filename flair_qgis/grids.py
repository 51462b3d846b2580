"""Whether two rasters lie on the same pixel grid, and the windows where they overlap."""

from __future__ import annotations

from rasterio.windows import Window

from .errors import FlairError

TOLERANCE = 1e-3  # of a pixel


def same_crs(a, b, bounds=None, pixel: float = 1.0) -> bool:
    """Whether rasterio CRSs ``a`` and ``b`` give the same coordinates, as GDAL and QGIS judge it:
    equal definitions, or (for an unnamed but equivalent definition, e.g. a Lambert-93 from a
    proj string or an old WKT without its EPSG code) points of ``bounds`` (left, bottom, right,
    top in ``a``; a 1 km square at its false origin when not given) that land within a
    thousandth of a ``pixel`` of themselves when carried from ``a`` to ``b``.
    """
    if a is None or b is None:
        return a is None and b is None
    if a == b:
        return True
    if a.is_geographic != b.is_geographic or a.linear_units != b.linear_units:
        return False
    from rasterio.errors import CRSError
    from rasterio.warp import transform

    left, bottom, right, top = bounds if bounds is not None else (0.0, 0.0, 1000.0, 1000.0)
    xs = [left, right, left, right, (left + right) / 2]
    ys = [bottom, bottom, top, top, (bottom + top) / 2]
    try:
        tx, ty = transform(a, b, xs, ys)
    except (CRSError, ValueError, RuntimeError):
        return False
    limit = TOLERANCE * pixel
    return all(abs(x - u) <= limit and abs(y - v) <= limit for x, y, u, v in zip(xs, ys, tx, ty))


def output_crs(crs, bounds=None, pixel: float = 1.0):
    """The CRS an output is written in: the EPSG CRS that ``crs`` is equivalent to (the code GDAL
    finds for it, checked with ``same_crs`` over ``bounds``), e.g. EPSG:2154 for an unnamed
    Lambert-93 WKT or PROJ string; else ``crs`` itself. QGIS reads an unnamed Lambert-93 as
    another of the CRSs it matches (EPSG:9794) and then asks for a datum transformation against
    EPSG:2154 layers; GDAL lists the EPSG code first. Every writer of rasters and vectors uses it."""
    if crs is None:
        return None
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        code = crs.to_epsg(confidence_threshold=70)
        candidate = CRS.from_epsg(code) if code else None
    except CRSError:
        return crs
    if candidate is None or not same_crs(crs, candidate, bounds, pixel):
        return crs
    return candidate


def crs_names(a, b) -> tuple[str, str]:
    """Names of two different CRSs that differ when printed: their usual names (EPSG:2154, or the
    PROJ string of an unnamed one), else their PROJ strings, else their WKT."""
    def short(crs) -> str:
        name = crs.to_string()
        return name if len(name) <= 40 else (crs.to_proj4() or name)

    for describe in (short, lambda c: c.to_proj4(), lambda c: c.to_wkt()):
        name_a, name_b = describe(a), describe(b)
        if name_a != name_b:
            return name_a, name_b
    return a.to_wkt(), b.to_wkt()


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
    if a.crs is not None and not same_crs(a.crs, b.crs, a.bounds, min(abs(a.transform.a), abs(a.transform.e))):
        name_a, name_b = crs_names(a.crs, b.crs)
        raise FlairError(f"{a.name} is in {name_a} and {b.name} in {name_b}: the rasters are on different "
                         f"grids; {fix}")
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
