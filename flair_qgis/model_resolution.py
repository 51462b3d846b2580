"""Which model a run uses: the checkpoint to load and the :class:`ModelSpec` it is loaded as.

A zoo name, a local checkpoint, or both (local weights of a zoo model's architecture). The
classes a model may predict (its *active* classes) come from what the file says, in this order:

1. the user's list (``active_codes``);
2. a FLAIR-for-QGIS checkpoint's own spec;
3. the zoo entry's classes, only when the file *is* that zoo file (its name, or its sha256);
4. the file's ``criterion.weight`` (FLAIR-1/IGNF checkpoints: 0 for the classes not trained);
5. every class of the head.

A zoo entry chosen only to describe a local file's architecture never masks its classes.

A checkpoint without metadata that is an IGN model file runs as that zoo model, whatever model was
chosen with it (flair:segment always passes one): recognised by IGN's file name, its sha256, IGN's
model name within its file name, or — when the chosen model's layers are not its own — its layers
(:func:`recognise`; the log says how).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .choices import TILE_GRIDS, check_choice
from .errors import FlairError
from .plugin_cache import file_sha256
from .hf_download import fetch
from .model_spec import ModelSpec, default_classes
from .normalisation import Normalisation
from .progress import Progress
from .zoo import RGBIE, ZOO, ModelEntry, entry_for_file, get_entry

if TYPE_CHECKING:  # the checkpoints (PyTorch) are imported when a file is read: a remembered model needs none
    from .checkpoints import Checkpoint

PRESETS = ("reference", "fast")


def resolve_model(model: str | None, checkpoint: Path | None, progress: Progress | None = None, *,
                  arch: str | None = None, encoder: str | None = None, n_classes: int | None = None,
                  normalisation: Normalisation | None = None,
                  active_codes: Sequence[int] | None = None,
                  fetched: Path | None = None) -> tuple[Checkpoint, ModelSpec]:
    """The checkpoint to load and the spec it is loaded as.

    Args:
        model: a zoo name; downloaded when ``checkpoint`` is ``None``, else the architecture of a
            bare checkpoint.
        checkpoint: a local weights file (IGNF ``.pth``, FLAIR-1 ``.ckpt``, smp or our own).
        arch, encoder, n_classes: describe a bare checkpoint with no zoo model (unet, resnet34,
            its head size by default).
        normalisation: replaces the model's normalisation.
        active_codes: class codes the model may predict (``None``: decided from the file).
        fetched: the zoo model's file, already fetched by :func:`zoo_file` (not fetched nor logged again).
    """
    from .checkpoints import read_checkpoint

    progress = progress or Progress()
    if checkpoint is None and not model:
        raise FlairError("no model given: choose a zoo model or a checkpoint file")
    if checkpoint is None:
        entry = get_entry(model or "")
        ckpt = read_checkpoint(fetched or zoo_file(entry, progress))
        spec, why, rule = entry.spec, f"zoo model {entry.name}", OWN
    else:
        checkpoint = Path(checkpoint)
        ckpt = read_checkpoint(checkpoint)
        chosen = get_entry(model) if model else None
        entry, how = chosen, ""
        if ckpt.spec is None:
            found = recognise(checkpoint, ckpt, chosen, by_layers=not (arch or encoder))
            if found is not None:
                entry, how = found
                progress.log(f"Checkpoint {checkpoint.name} recognised as zoo model {entry.name} by {how}"
                             + (f", instead of model {chosen.name}" if chosen is not None and entry is not chosen
                                else ""))
        elif not model:
            entry = entry_for_file(checkpoint)
        if ckpt.spec is not None:
            spec, why, rule = ckpt.spec, f"{checkpoint.name}'s own metadata", OWN
            if model:
                progress.log(f"{checkpoint.name} describes its own model; ignoring model {model}")
        elif entry is not None and (how in SAME_FILE or (how and entry.grid == "flair-hub")
                                    or (not how and is_zoo_file(checkpoint, entry))):
            spec, rule = entry.spec, OWN
            why = (f"{checkpoint.name} is zoo model {entry.name}'s file" if how in SAME_FILE or not how
                   else f"zoo model {entry.name}")
            progress.log(f"Checkpoint {checkpoint.name} read as zoo model {entry.name}")
        else:
            if entry is not None:
                progress.log(f"Checkpoint {checkpoint.name} read with zoo model {entry.name}'s architecture "
                             f"({entry.arch}/{entry.encoder}, bands {', '.join(entry.bands)})")
                spec = replace(entry.spec, name=checkpoint.stem)
                if not (entry.channel_codes and ckpt.extra.get("layout") == "flair-hub"):  # FLAIR-HUB: its own order
                    spec = replace(spec, classes=default_classes(ckpt.n_classes or spec.n_classes))
            else:
                spec = bare_spec(ckpt, arch, encoder, n_classes, normalisation)
            why, rule = "", FROM_WEIGHTS
    if (ckpt.spec is not None or entry is not None) and (arch or encoder):
        progress.log("arch/encoder settings apply to bare checkpoints only; the model's own are used")
    if n_classes is not None and n_classes != spec.n_classes:
        raise FlairError(f"n_classes is {n_classes} but model {spec.name or spec.arch} has "
                         f"{spec.n_classes} output classes: set n_classes to {spec.n_classes} or remove it")
    if normalisation is not None:
        spec = replace(spec, normalisation=normalisation)
    spec, why = active_classes(spec, ckpt, rule, why, active_codes)
    progress.log(describe_active(spec, why))
    return ckpt, spec


def zoo_file(entry: ModelEntry, progress: Progress) -> Path:
    """``entry``'s weights file, fetched (downloaded once, verified) and named in the log."""
    progress.log(f"Model {entry.name} ({entry.repo_id}@{entry.revision[:12]})")
    return fetch(entry, progress)


OWN, FROM_WEIGHTS = "own", "weights"  # where a spec's active classes come from (before the file's loss masks)


def active_classes(spec: ModelSpec, ckpt: Checkpoint, rule: str, why: str,
                   active_codes: Sequence[int] | None = None) -> tuple[ModelSpec, str]:
    """``spec`` with the classes the model may predict, and why: the one place they are decided.

    ``rule`` :data:`OWN` keeps the spec's own (its metadata, or the zoo entry of the file);
    :data:`FROM_WEIGHTS` takes the file's loss weights (every class when it has none). Then a
    FLAIR-HUB file's loss weights mask the classes it was not trained on; ``active_codes`` (the
    user's list) overrides them all.
    """
    if rule == FROM_WEIGHTS:
        spec, why = _active_from_weights(ckpt, replace(spec, active=(True,) * spec.n_classes))
    weights = ckpt.class_weights
    if ckpt.extra.get("layout") == "flair-hub" and weights and len(weights) == spec.n_classes:
        masked = replace(spec, active=tuple(a and w > 0 for a, w in zip(spec.active, weights)))
        if masked.active != spec.active:
            why += f", less the classes {ckpt.path.name}'s loss weights switch off"
        spec = masked
    if active_codes:
        spec, why = with_active_codes(spec, active_codes), "as asked"
    return spec, why


SAME_FILE = ("its file name", "its sha256")  # how a file is recognised as a zoo model's own file


def recognise(path: Path, ckpt: Checkpoint, chosen: ModelEntry | None = None,
              by_layers: bool = True) -> tuple[ModelEntry, str] | None:
    """The zoo model a checkpoint file without metadata is, and how that was seen: IGN's file name, its
    sha256 (a renamed copy), IGN's model name within its file name, or its layers (``by_layers``).

    A file whose layers are ``chosen``'s keeps ``chosen`` (only a zoo file's own name or hash
    overrides it): a fine-tuned copy is run with the model the user chose.
    """
    from .checkpoints import same_layers

    entry = entry_for_file(path)
    if entry is not None:
        return entry, SAME_FILE[0]
    hub = ckpt.extra.get("layout") == "flair-hub"
    kind = [e for e in ZOO.values() if (e.grid == "flair-hub") == hub]
    size = path.stat().st_size
    sized = [e for e in kind if e.sha256 and e.size == size]  # pinned files of this size (hashed once)
    digest = file_sha256(path) if sized else None
    entry = next((e for e in sized if e.sha256 == digest), None)
    if entry is not None:
        return entry, SAME_FILE[1]
    if chosen is not None and same_layers(ckpt, chosen.arch, chosen.encoder):
        return None
    named = sorted((e for e in kind if e.name in path.name), key=lambda e: len(e.name), reverse=True)
    if named:
        return named[0], "IGN's model name in its file name"
    if not by_layers:
        return None
    fits = [e for e in kind if len(e.bands) == ckpt.in_channels and e.head_classes == (ckpt.n_classes or 19)]
    pairs = [p for p in dict.fromkeys((e.arch, e.encoder) for e in fits) if same_layers(ckpt, *p)]
    fits = [e for e in fits if (e.arch, e.encoder) in pairs]
    if len(fits) > 1 and ckpt.class_weights:  # FLAIR-INC 15 and 12 classes: the classes its loss trained
        trained = tuple(w != 0 for w in ckpt.class_weights)
        fits = [e for e in fits if e.spec.active == trained] or fits
    if len({(e.bands, e.normalisation, e.channel_codes) for e in fits}) > 1:  # FLAIR-HUB IR and RGB twins
        words = set(re.split(r"[^a-z0-9]+", path.stem.lower()))
        fits = [e for e in fits if _band_word(e) in words] or fits
    if len({(e.bands, e.normalisation, e.channel_codes) for e in fits}) > 1:
        raise FlairError(f"checkpoint {path.name} has the layers of zoo models {' and '.join(e.name for e in fits)}, "
                         f"which take different bands ({' / '.join(','.join(e.bands) for e in fits)}): choose the "
                         "one it is as the model, with this file as the checkpoint")
    if not fits:
        return None
    layers = f"{fits[0].arch}/{fits[0].encoder}, {len(ckpt.state_dict)} weight tensors"
    also = f"; also those of {', '.join(e.name for e in fits[1:])}" if len(fits) > 1 else ""
    return fits[0], f"its layers ({layers}{also})"


def _band_word(entry: ModelEntry) -> str:
    """The bands word of a zoo name: ``ir``, ``rgb``, ``rgbie``…"""
    return entry.name.split("_")[2 if entry.name.startswith("FLAIR-HUB_") else 1].lower()


def is_zoo_file(path: Path, entry: ModelEntry) -> bool:
    """Whether ``path`` is ``entry``'s weights file: its name, or (size first, then sha256) its content."""
    if path.name == entry.filename:
        return True
    if entry.sha256 is None or (entry.size is not None and path.stat().st_size != entry.size):
        return False
    return file_sha256(path) == entry.sha256


def _active_from_weights(ckpt: Checkpoint, spec: ModelSpec) -> tuple[ModelSpec, str]:
    """``spec`` with the classes whose ``criterion.weight`` is 0 switched off, if the file has one."""
    weights = ckpt.class_weights
    key = "loss weights" if ckpt.extra.get("layout") == "flair-hub" else "criterion.weight"
    if not weights:
        return spec, f"every class of the {spec.n_classes}-class head: {ckpt.path.name} says none is off"
    if len(weights) != spec.n_classes:
        return spec, (f"every class of the {spec.n_classes}-class head ({ckpt.path.name}'s {key} "
                      f"has {len(weights)} values, not one per class)")
    active = tuple(float(w) != 0.0 for w in weights)
    if not any(active):
        return spec, f"every class of the head ({ckpt.path.name}'s {key} is all zeros)"
    return replace(spec, active=active), f"{ckpt.path.name}'s {key}, 0 for the classes not trained"


def with_active_codes(spec: ModelSpec, codes: Sequence[int]) -> ModelSpec:
    """``spec`` with exactly the classes of ``codes`` active; unknown codes are refused."""
    known = [c.code for c in spec.classes]
    unknown = sorted(set(int(c) for c in codes) - set(known))
    if unknown:
        raise FlairError(f"active classes: code(s) {', '.join(map(str, unknown))} are not classes of model "
                         f"{spec.name or spec.arch}, whose codes are {_ranges(known)}")
    wanted = set(int(c) for c in codes)
    return replace(spec, active=tuple(c.code in wanted for c in spec.classes))


def describe_active(spec: ModelSpec, why: str) -> str:
    """The log line naming the active classes and where they come from."""
    off = [f"{c.code} {c.name}" for c, a in zip(spec.classes, spec.active) if not a]
    on = [c.code for c in spec.active_classes]
    return (f"Active classes ({why}): {len(on)} of {spec.n_classes}, codes {_ranges(on)}"
            + (f"; never predicted: {', '.join(off)}" if off else ""))


def _ranges(codes: Sequence[int]) -> str:
    """``1–13, 18`` for [1, 2, …, 13, 18]."""
    parts: list[str] = []
    for code in sorted(codes):
        if parts and parts[-1][1] == code - 1:
            parts[-1] = (parts[-1][0], code)
        else:
            parts.append((code, code))  # type: ignore[arg-type]
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in parts)  # type: ignore[misc]


def with_tiling(spec: ModelSpec, preset: str | None = None, tile_size: int | None = None,
                margin: int | None = None, grid: str | None = None) -> ModelSpec:
    """``spec`` with the tile size and margin asked for: ``preset`` (``fast`` doubles the model's
    tile size), then explicit values; and the tile grid asked for (``None`` or ``model``: the
    model's own, flair-detect's for IGN's models, which every preset keeps)."""
    if preset is not None and preset not in PRESETS:
        raise FlairError(f"unknown preset {preset!r}: use {' or '.join(PRESETS)}")
    size = spec.tile_size * 2 if preset == "fast" else spec.tile_size
    spec = replace(spec, grid=spec.grid if grid in (None, "model") else check_choice("tile grid", grid, TILE_GRIDS))
    return replace(spec, tile_size=tile_size or size, margin=spec.margin if margin is None else margin)


def bare_spec(ckpt: Checkpoint, arch: str | None = None, encoder: str | None = None, n_classes: int | None = None,
              normalisation: Normalisation | None = None) -> ModelSpec:
    """A spec for weights without metadata, from the given settings and the weights' shapes."""
    n_in = ckpt.in_channels or 3
    n_cls = n_classes or ckpt.n_classes or 19
    roles = RGBIE[:n_in] if n_in <= len(RGBIE) else tuple(f"band {i + 1}" for i in range(n_in))
    if normalisation is None and n_in > len(RGBIE):
        raise FlairError(f"checkpoint {ckpt.path.name} takes {n_in} bands, more than FLAIR's five: "
                         "give the normalisation (norm_means/norm_stds) for each band")
    norm = normalisation or Normalisation.for_bands(roles)
    classes = default_classes(n_cls)
    return ModelSpec(arch=arch or "unet", encoder=encoder or "resnet34", bands=roles,
                     classes=classes, active=(True,) * len(classes), normalisation=norm,
                     name=ckpt.path.stem)
