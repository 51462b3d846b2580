"""A model's bands taken from several layers, by the model's band roles (R, G, B, NIR, Elevation).

IGN delivers its orthophotos as separate products: BD ORTHO in natural colour (R, G, B), BD ORTHO
IRC in false colour (NIR, R, G) and heights as surface and terrain models (DSM, DTM). The main
``INPUT`` gives R, G, B (and NIR when it has a 4th band and no IRC layer is given), the ``irc``
layer gives NIR (its band 1 by default), and the elevation comes from a ready FLAIR elevation
band or is computed from a DSM + DTM pair as FLAIR encodes it::

    E = clip(round((DSM - DTM) / 0.20 m), 0, 255)   (uint8; .5 rounds up, as GDAL casts)

Every source is seen on INPUT's grid (same CRS required: resampled, never shifted; bilinear where
its grid differs, an exact copy where it is the same) through small VRT files that GDAL writes in a
temporary folder (:mod:`.vrt`): the engine reads their stack like any raster, and no pixel of the
zone is copied. A folder of tiles (IGN's 5 km JPEG 2000 or GeoTIFF tiles) is read through a mosaic
VRT of its files (:mod:`.mosaics`).
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import rasterio
from rasterio.enums import ColorInterp, MaskFlags

from . import vrt
from .errors import FlairError
from .grids import same_crs
from .mosaics import zone_raster
from .progress import Progress
from .raster_io import alpha_nir_hint

HEIGHT_STEP = 0.2  # metres per unit of FLAIR's 8-bit elevation band (FLAIR-INC model card)
RESAMPLING = "bilinear"  # for imagery and heights on another grid than INPUT's
_ROLE_NAMES = {"r": "R", "red": "R", "g": "G", "green": "G", "b": "B", "blue": "B", "nir": "NIR", "i": "NIR",
               "ir": "NIR", "pir": "NIR", "e": "Elevation", "elevation": "Elevation", "ndsm": "Elevation"}
_ROLES = {"R", "G", "B", "NIR", "Elevation"}
_NOT_NIR = {"r", "red", "rouge", "g", "green", "vert", "b", "blue", "bleu", "alpha", "gray", "grey"}
_OVERLAP_TOLERANCE = 1e-6  # relative: rasters that only touch along an edge do not overlap


@dataclass(frozen=True)
class BandSources:
    """The layers besides INPUT: an infrared layer (``irc``, NIR in ``irc_band``), and either a
    ready FLAIR elevation band (``elevation``, ``elevation_band``) or a ``dsm`` + ``dtm`` pair in
    metres. Each path is a raster file, a VRT or a folder of tiles."""

    irc: Path | None = None
    irc_band: int = 1
    elevation: Path | None = None
    elevation_band: int = 1
    dsm: Path | None = None
    dtm: Path | None = None

    @property
    def given(self) -> bool:
        return any(p is not None for p in (self.irc, self.elevation, self.dsm, self.dtm))

    def layers(self) -> dict[str, Path]:
        """The layers given, by parameter name."""
        named = {"IRC": self.irc, "ELEVATION": self.elevation, "DSM": self.dsm, "DTM": self.dtm}
        return {k: Path(v) for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class BandRef:
    """Where one model band comes from: ``kind`` is ``input``, ``irc``, ``elevation`` (a band of a
    raster) or ``height`` (computed from the DSM and DTM, ``path``/``band`` unused)."""

    role: str
    kind: str
    path: Path
    band: int


def role_name(role: str) -> str:
    """A band role in the zoo's spelling (R, G, B, NIR, Elevation), or as given when unknown."""
    return _ROLE_NAMES.get(role.strip().lower(), role)


# --- checks ---------------------------------------------------------------------------------------

def _open(path: Path, what: str) -> rasterio.DatasetReader:
    if not Path(path).exists():
        raise FlairError(f"{what} raster {path} does not exist: check the path")
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioError as e:
        raise FlairError(f"{what} raster {path} cannot be read as a raster ({e}): check that it opens in QGIS "
                         "(a JPEG 2000 file needs GDAL's JP2OpenJPEG driver)") from None


def check(input_path: Path, sources: BandSources | None, progress: Progress | None = None) -> None:
    """Refuse, before any model is loaded, sources that cannot be put on INPUT's grid: a DSM
    without a DTM (or the reverse), both an elevation band and a DSM/DTM, another CRS than
    INPUT's, no overlap with INPUT, a band number the layer lacks, an IRC band that says it is
    not near-infrared. Folders of tiles must already be mosaics (see :func:`mosaics`)."""
    if sources is None or not sources.given:
        return
    progress = progress or Progress()
    if (sources.dsm is None) != (sources.dtm is None):
        have, lack = ("DSM", "DTM") if sources.dsm is not None else ("DTM", "DSM")
        raise FlairError(f"a {have} was given without a {lack}: the elevation band is the height above "
                         f"ground, DSM − DTM; give both (e.g. LiDAR HD or RGE ALTI), or neither")
    if sources.elevation is not None and sources.dsm is not None:
        raise FlairError("both an elevation band (ELEVATION) and a DSM/DTM pair were given: give one of them")
    with _open(input_path, "input") as ref:
        for name, path in sources.layers().items():
            with _open(path, name) as src:
                _check_grid(name, src, ref)
                if name == "IRC":
                    _check_band(name, src, sources.irc_band)
                    check_nir_band(src, sources.irc_band, progress)
                elif name == "ELEVATION":
                    _check_band(name, src, sources.elevation_band)
                share = _covered_share(src, ref)
                if share < 1 - 1e-3:
                    progress.warn(f"{name} {path} covers {100 * share:.1f} % of INPUT only: its band reads 0 "
                                  "elsewhere")


def check_early(input_path: Path, sources: BandSources | None, progress: Progress | None = None) -> None:
    """:func:`check` for inputs and sources that may be folders of tiles (looked at through
    temporary mosaics), run once per request: by :func:`.segment_checks.check_request`, and by a
    sharded run before it creates anything."""
    if sources is None or not sources.given:
        return
    work = Path(tempfile.mkdtemp(prefix="flair-sources-"))
    try:
        check(zone_raster(input_path, work, vrt_name="input_mosaic.vrt"), mosaics(sources, work), progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_band(name: str, src: rasterio.DatasetReader, band: int) -> None:
    if not 1 <= band <= src.count:
        raise FlairError(f"{name} {src.name} has {src.count} band(s), there is no band {band}: choose a band "
                         f"between 1 and {src.count}")


def _check_grid(name: str, src: rasterio.DatasetReader, ref: rasterio.DatasetReader) -> None:
    if src.crs is None:
        raise FlairError(f"{name} {src.name} has no CRS: assign it INPUT's ({_crs_name(ref.crs)}), e.g. "
                         "gdal_edit.py -a_srs EPSG:2154 FILE")
    pixel = min(abs(src.transform.a), abs(src.transform.e))
    if ref.crs is not None and not same_crs(src.crs, ref.crs, src.bounds, pixel):
        raise FlairError(f"{name} {src.name} is in {_crs_name(src.crs)} but INPUT {ref.name} is in "
                         f"{_crs_name(ref.crs)}: reproject {name} to INPUT's CRS first (gdalwarp -t_srs)")
    if abs(src.transform.b) > 1e-12 or abs(src.transform.d) > 1e-12:
        raise FlairError(f"{name} {src.name} is rotated: warp it to a north-up grid first (gdalwarp)")
    if _covered_share(src, ref) <= _OVERLAP_TOLERANCE:
        b, r = src.bounds, ref.bounds
        raise FlairError(f"{name} {src.name} does not overlap INPUT {ref.name} ({name} covers x {b.left:.1f}–"
                         f"{b.right:.1f}, y {b.bottom:.1f}–{b.top:.1f}; INPUT x {r.left:.1f}–{r.right:.1f}, "
                         f"y {r.bottom:.1f}–{r.top:.1f}): give the {name} tiles of INPUT's area")


def _crs_name(crs: Any) -> str:
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    name = crs.to_dict().get("proj") if epsg is None else None
    return f"EPSG:{epsg}" if epsg else f"{name or crs.to_string()[:60]}"


def _covered_share(src: rasterio.DatasetReader, ref: rasterio.DatasetReader) -> float:
    """The share of INPUT's area that ``src`` covers."""
    a, b = src.bounds, ref.bounds
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.top, b.top) - max(a.bottom, b.bottom)
    area = (b.right - b.left) * (b.top - b.bottom)
    return max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0


def check_nir_band(src: rasterio.DatasetReader, band: int, progress: Progress) -> None:
    """Refuse an infrared band whose description or colour interpretation says it is not NIR;
    where the file says nothing (IGN's IRC JPEG 2000 tiles), trust it and say so."""
    desc = (src.descriptions[band - 1] or "").strip()
    interp = src.colorinterp[band - 1]
    words = desc.lower().replace("-", " ").replace("_", " ")
    if desc:
        if "nir" in words.split() or "infra" in words or "pir" in words.split():
            return
        if words in _NOT_NIR:
            raise FlairError(f"IRC {src.name}: band {band} is described as '{desc}', not near-infrared. IGN's BD "
                             "ORTHO IRC holds NIR, R, G (NIR = band 1): give that layer, or the band that holds NIR")
    if "nir" in interp.name.lower():
        return
    if interp in (ColorInterp.green, ColorInterp.blue, ColorInterp.alpha):
        raise FlairError(f"IRC {src.name}: band {band} is marked as {interp.name} (colour interpretation), not "
                         "near-infrared. IGN's BD ORTHO IRC holds NIR, R, G (NIR = band 1): give that layer, or "
                         "the band that holds NIR")
    said = f"described as '{desc}'" if desc else f"marked {interp.name}"
    progress.log(f"IRC {src.name}: band {band} ({said}) is taken as near-infrared, as in IGN's BD ORTHO IRC "
                 "(NIR, R, G); the file does not name its bands")


# --- roles -----------------------------------------------------------------------------------------

def plan(roles: tuple[str, ...], input_src: rasterio.DatasetReader, sources: BandSources | None,
         input_bands: list[int] | None = None, model: str = "") -> list[BandRef]:
    """Where each of the model's band roles comes from. INPUT's bands (``input_bands``, default its
    non-alpha bands) are R, G, B[, NIR[, Elevation]]; the sources given take precedence."""
    sources = sources or BandSources()
    usable = input_bands or [i + 1 for i, ci in enumerate(input_src.colorinterp) if ci != ColorInterp.alpha]
    path = Path(input_src.name)
    offer: dict[str, BandRef] = {}
    for role, band in zip(("R", "G", "B", "NIR", "Elevation"), usable):
        offer[role] = BandRef(role, "input", path, band)
    if sources.irc is not None:
        offer["NIR"] = BandRef("NIR", "irc", Path(sources.irc), sources.irc_band)
    if sources.elevation is not None:
        offer["Elevation"] = BandRef("Elevation", "elevation", Path(sources.elevation), sources.elevation_band)
    elif sources.dsm is not None and sources.dtm is not None:
        offer["Elevation"] = BandRef("Elevation", "height", Path(sources.dsm), 1)
    wanted = [role_name(r) for r in roles]
    missing = [r for r in wanted if r not in offer]
    if missing:
        raise FlairError(_missing_message(model, wanted, missing, input_src, usable))
    return [offer[r] for r in wanted]


def _missing_message(model: str, wanted: list[str], missing: list[str], src: rasterio.DatasetReader,
                     usable: list[int]) -> str:
    alpha, name = " besides its alpha band" if len(usable) < src.count else "", f" {model}" if model else ""
    if len(usable) < len(wanted):
        head = (f"the model takes {len(wanted)} bands ({', '.join(wanted)}) but INPUT {src.name} has only "
                f"{len(usable)}{alpha}; the model{name} needs")
    else:  # enough bands, read as R, G, B…: not the ones named
        head = (f"the model takes {len(wanted)} bands ({', '.join(wanted)}) and INPUT {src.name} has "
                f"{len(usable)}{alpha}, read as {', '.join(('R', 'G', 'B', 'NIR')[:len(usable)])}: not "
                f"{', '.join(missing)}; the model{name} needs")
    fixes, hint = [], alpha_nir_hint(src, tuple(wanted)) if "NIR" in missing else ""  # RGBI, NIR tagged alpha
    if hint:
        fixes.append(f"NIR: {hint}; or give IRC (IGN BD ORTHO IRC, NIR as band 1)")
    elif "NIR" in missing:
        fixes.append("NIR: give IRC (IGN BD ORTHO IRC, NIR as band 1) or a 4-band INPUT (R, G, B, NIR)"
                     + ("; if INPUT is itself a false-colour IRC ortho (NIR, R, G), choose its bands "
                        f"{', '.join(str(b) for b in usable[:len(wanted)])} (BANDS) in the model's order"
                        if wanted[0] == "NIR" and len(usable) >= len(wanted) else ""))
    if "Elevation" in missing:
        fixes.append("Elevation: give DSM and DTM (e.g. LiDAR HD or RGE ALTI), or a FLAIR elevation band (ELEVATION)")
    other = [r for r in missing if r not in ("NIR", "Elevation")]
    if other:
        fixes.append(f"{', '.join(other)} from INPUT: use a raster that has these bands, or a model "
                     "made for the bands it has")
    return f"{head} {'; '.join(fixes)}"


# --- the view on INPUT's grid ---------------------------------------------------------------------

@dataclass(frozen=True)
class BandView:
    """What the engine reads for the model's bands: ``path`` (INPUT, or a VRT on INPUT's grid
    stacking every source's band) and its ``bands`` (None: the engine's default, INPUT's first
    non-alpha bands). ``stacked`` says whether ``path`` is that VRT."""

    path: Path
    bands: list[int] | None
    stacked: bool = False


@contextmanager
def on_input_grid(input_path: Path, bands: list[int] | None, sources: BandSources | None,
                  roles: tuple[str, ...], model: str, progress: Progress) -> Iterator[BandView]:
    """Where the model's bands are read (checked already: see :func:`check_early`): INPUT's
    ``bands`` as they are when INPUT alone holds them in the default order; INPUT's bands picked by
    role (e.g. NIR, R, G of an RGBI raster); or a VRT on INPUT's grid stacking the bands of every
    source, removed afterwards."""
    input_path = Path(input_path)
    if not (sources and sources.given):
        if bands or not all(role_name(r) in _ROLES for r in roles):
            yield BandView(input_path, bands)  # the user chose the bands, or the model's are not FLAIR roles
            return
        with _open(input_path, "input") as src:
            yield _input_bands(input_path, bands, plan(roles, src, None, None, model), src, progress)
        return
    work = Path(tempfile.mkdtemp(prefix="flair-sources-"))
    try:
        sources = mosaics(sources, work)
        with _open(input_path, "input") as src:
            refs = plan(roles, src, sources, bands, model)
            unused = [name for name, kind in (("IRC", "irc"), ("ELEVATION", "elevation"), ("DSM and DTM", "height"))
                      if name.split()[0] in sources.layers() and all(r.kind != kind for r in refs)]
            if unused:
                progress.warn(f"the model takes {', '.join(role_name(r) for r in roles)}: {' and '.join(unused)} "
                              "not used")
            if all(r.kind == "input" for r in refs):
                yield _input_bands(input_path, bands, refs, src, progress)
                return
            stacked = write_stack(refs, src, sources, work / "bands.vrt")
            progress.log("Bands " + ", ".join(f"{r.role} from {_describe(r, sources)}" for r in refs)
                         + f", on INPUT's grid ({src.width}×{src.height} px)")
        yield BandView(stacked, list(range(1, len(refs) + 1)), stacked=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _input_bands(input_path: Path, given: list[int] | None, refs: list[BandRef], src: rasterio.DatasetReader,
                 progress: Progress) -> BandView:
    """INPUT's bands ``refs``: as ``given`` when these are its first non-alpha bands (the engine's
    default), else named."""
    bands = [r.band for r in refs]
    if bands == [i + 1 for i, ci in enumerate(src.colorinterp) if ci != ColorInterp.alpha][:len(bands)]:
        return BandView(input_path, given)
    progress.log(f"Using bands {bands} of INPUT as {', '.join(r.role for r in refs)}")
    return BandView(input_path, bands)


def _describe(ref: BandRef, sources: BandSources) -> str:
    if ref.kind == "height":
        return f"DSM {sources.dsm} − DTM {sources.dtm} (20 cm steps)"
    return f"{ref.kind.upper() if ref.kind != 'input' else 'INPUT'} band {ref.band}"


def mosaics(sources: BandSources, work: Path) -> BandSources:
    """``sources`` with each folder of tiles replaced by a mosaic VRT of its raster files."""
    def mosaic(name: str, path: Path | None) -> Path | None:
        return None if path is None else zone_raster(path, work, name=name, vrt_name=f"{name.lower()}_mosaic.vrt")

    return replace(sources, irc=mosaic("IRC", sources.irc), elevation=mosaic("ELEVATION", sources.elevation),
                   dsm=mosaic("DSM", sources.dsm), dtm=mosaic("DTM", sources.dtm))


def write_stack(refs: list[BandRef], ref: rasterio.DatasetReader, sources: BandSources, path: Path) -> Path:
    """A VRT on ``ref``'s grid whose bands are ``refs``, each source laid on that grid by GDAL (see
    :func:`.vrt.on_grid`), beside ``path``. INPUT's mask (nodata, alpha) is the VRT's mask: a pixel
    counts where one of INPUT's bands has data."""
    grid = vrt.Grid(ref.width, ref.height, ref.transform.to_gdal(), ref.crs.to_wkt() if ref.crs else "")

    def part(name: object) -> Path:
        return path.with_name(f"{path.stem}_{name}.vrt")

    bands = []
    for i, r in enumerate(refs, start=1):
        if r.kind == "height":
            assert sources.dsm is not None and sources.dtm is not None
            band = write_elevation(Path(sources.dsm), Path(sources.dtm), grid, part("elevation"))
        else:
            band = vrt.on_grid(r.path, r.band, grid, part(i), RESAMPLING)
        bands.append((band, r.role))
    input_bands = [r.band for r in refs if r.kind == "input"] or [1]
    mask = None
    if any(MaskFlags.all_valid not in ref.mask_flag_enums[b - 1] for b in input_bands):
        # valid where any of INPUT's bands has data, as for INPUT alone: the sum of their masks, clamped
        mask = vrt.derived(part("mask"), grid, "sum", [(Path(ref.name), f"mask,{b}", 1.0) for b in input_bands],
                           "Byte", "UInt16")
    return vrt.stack(path, grid, bands, mask)


def write_elevation(dsm: Path, dtm: Path, grid: vrt.Grid, path: Path) -> Path:
    """A one-band uint8 VRT on ``grid`` holding FLAIR's elevation encoding of DSM − DTM: both laid
    (bilinear) on the grid, scaled by 1 / 0.20 m and differenced in float64 by GDAL's ``diff``
    pixel function, then cast to 8 bits as GDAL casts (nearest, .5 up; clamped to 0–255, so ground
    below the terrain model reads 0 and heights above 51 m read 255)."""
    heights = [(vrt.on_grid(p, 1, grid, path.with_name(f"{path.stem}_{name}.vrt"), RESAMPLING), "1", 1.0 / HEIGHT_STEP)
               for name, p in (("dsm", dsm), ("dtm", dtm))]
    return vrt.derived(path, grid, "diff", heights, "Byte", "Float64", "Elevation")
