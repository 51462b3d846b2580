"""What a segmentation is asked to do, in four small parts: what is read (:class:`ReadOptions`),
which model (:class:`ModelChoice`), how it runs (:class:`RunOptions`) and what is written
(:class:`WriteOptions`); a :class:`SegmentRequest` holds the four (see :func:`.engine.segment`).

``ReadOptions``: ``input`` (a raster; a folder of tiles for a sharded run), ``bands`` (the input's
bands for the model's, default its first non-alpha ones), ``sources`` (the layers the model's other
bands come from: IGN BD ORTHO IRC for NIR, an elevation band or a DSM + DTM pair, seen on the
input's grid, see :mod:`.band_sources`; ``bands`` then lists the input's bands for R, G, B, and NIR
when no IRC layer is given), ``window`` (col, row, width, height in input pixels: the output covers
that part only, computed on the whole raster's tile grid, so its pixels equal a full run's),
``mask_geometries`` (GeoJSON-like polygons in the input's CRS: the output is limited to their
inside, and tiles wholly outside are not computed), ``value_range`` (low, high mapped onto 0–255
for imagery that is not 8-bit; else each band's 2–98 % percentiles unless its values already lie
within 0–255; ``stretch`` holds the mapping once decided) and ``resample`` (an input whose pixel
size differs from the model's by more than 10 % is segmented on a view at the model's).

``ModelChoice``: ``name`` (a zoo name), ``checkpoint`` (a local file), or both (local weights of a
zoo model); ``arch``/``encoder``/``n_classes`` describe a bare checkpoint that carries no metadata
(defaults: unet, resnet34, its head size); ``normalisation`` overrides the model's;
``active_codes`` (class codes) the classes it may predict (see :mod:`.model_resolution`). Tiling:
``preset`` is ``reference`` (the model's tile size and margin, flair-detect's 512/128) or ``fast``
(tiles twice as large, same margin); explicit ``tile_size``/``margin`` win. ``tile_grid`` is
``model`` (None: the model's grid, flair-detect's for IGN's models, following the raster's own
size) or ``map-anchored`` (tiles at fixed multiples of their step in the CRS: rasters of the same
ground on the same pixel grid get the same tiles and pixels, e.g. two dates of a land take).

``RunOptions``: ``device``; ``backend`` (``auto``: OpenVINO on the CPU when installed, PyTorch on
CUDA; ``torch``; ``openvino``, CPU only, see :mod:`.openvino_backend`); ``batch_size`` (None:
automatic, from the free GPU memory; 4 on the CPU); ``precision`` (``auto``: fp16 autocast on
CUDA, fp32 on the CPU; ``fp32``, ``fp16``, ``bf16``); ``tta`` (the four flips averaged, 4× the
compute); ``stitch`` (``crop``: each tile's centre, as flair-detect; ``blend``: the overlapping
tiles' probabilities averaged with a smooth window, slower, seamless); ``readers`` (reading
threads; default 1 on the CPU, 4 with CUDA).

``WriteOptions``: ``output`` (a GeoTIFF), ``output_type`` (``argmax`` or ``class_prob``),
``write_style`` (a QML beside an argmax map) and ``output_grid`` (a resampled input's map put back
on the input's grid, ``input``, or left at the model's, ``model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .band_sources import BandSources
from .normalisation import Normalisation, Stretch


@dataclass(slots=True)
class ReadOptions:
    """What is read (see the module's doc)."""

    input: Path
    bands: list[int] | None = None
    sources: BandSources | None = None  # IRC / elevation / DSM+DTM layers besides INPUT
    window: tuple[int, int, int, int] | None = None
    mask_geometries: list[dict] | None = None
    value_range: tuple[float, float] | None = None
    stretch: Stretch | None = None
    resample: bool = True


@dataclass(slots=True)
class ModelChoice:
    """Which model, and the tiles it sees (see the module's doc)."""

    name: str | None = None
    checkpoint: Path | None = None
    arch: str | None = None
    encoder: str | None = None
    n_classes: int | None = None
    normalisation: Normalisation | None = None
    active_codes: list[int] | None = None
    tile_size: int | None = None
    margin: int | None = None
    preset: str | None = None
    tile_grid: str | None = None  # None/"model": the model's; "map-anchored": fixed in map coordinates


@dataclass(slots=True)
class RunOptions:
    """How it runs (see the module's doc)."""

    device: str = "auto"
    backend: str = "auto"
    batch_size: int | None = 4  # None: automatic (from the free GPU memory; 4 on the CPU)
    precision: str = "auto"
    tta: bool = False
    stitch: str = "crop"
    readers: int | None = None


@dataclass(slots=True)
class WriteOptions:
    """What is written (see the module's doc)."""

    output: Path
    output_type: str = "argmax"
    write_style: bool = True
    output_grid: str = "input"


# a flat setting's part and its name there (the model's zoo name is ``model``, as in the YAML key)
_PARTS = {"read": ReadOptions, "model": ModelChoice, "run": RunOptions, "write": WriteOptions}
_RENAMED = {("model", "model"): "name"}


@dataclass(slots=True)
class SegmentRequest:
    """One segmentation: what is read, which model, how it runs, what is written."""

    read: ReadOptions
    write: WriteOptions
    model: ModelChoice = field(default_factory=ModelChoice)
    run: RunOptions = field(default_factory=RunOptions)

    @classmethod
    def of(cls, input: Path | str, output: Path | str, **settings: Any) -> SegmentRequest:
        """A request from flat settings, each routed to its part by name (``model`` is the zoo
        name, :attr:`ModelChoice.name`), for scripts and tests: ``SegmentRequest.of(ortho,
        "map.tif", model="FLAIR-INC_rgbi_15cl_resnet34-unet", batch_size=8)``."""
        parts: dict[str, dict[str, Any]] = {"read": {"input": Path(input)}, "model": {}, "run": {},
                                            "write": {"output": Path(output)}}
        for key, value in settings.items():
            part = next((p for p, kind in _PARTS.items()
                         if _RENAMED.get((p, key), key) in {f.name for f in fields(kind)}), None)
            if part is None or key in ("input", "output"):
                raise TypeError(f"SegmentRequest.of() got an unexpected setting {key!r}")
            parts[part][_RENAMED.get((part, key), key)] = value
        return cls(read=ReadOptions(**parts["read"]), write=WriteOptions(**parts["write"]),
                   model=ModelChoice(**parts["model"]), run=RunOptions(**parts["run"]))

    def changed(self, **settings: Any) -> SegmentRequest:
        """A copy with flat settings changed (named as in :meth:`of`)."""
        return SegmentRequest.of(**{**self.settings(), **settings})

    def settings(self) -> dict[str, Any]:
        """Every setting by its flat name (the inverse of :meth:`of`; the zoo name as ``model``)."""
        flat: dict[str, Any] = {}
        for part in _PARTS:
            options = getattr(self, part)
            for f in fields(options):
                key = next((k for (p, k), name in _RENAMED.items() if p == part and name == f.name), f.name)
                flat[key] = getattr(options, f.name)
        return flat
