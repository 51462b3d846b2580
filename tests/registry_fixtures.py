"""Registry entries for the tests: a zoo model's entry renamed, re-pinned or given a tiny encoder."""

from __future__ import annotations

from dataclasses import fields, replace

from flair_qgis.model_spec import ModelSpec
from flair_qgis.zoo import ModelEntry

SPEC_FIELDS = frozenset(f.name for f in fields(ModelSpec))


def entry_like(entry: ModelEntry, **changes: object) -> ModelEntry:
    """``entry`` with ``changes``: the spec's fields (``name``, ``arch``, ``encoder``…) go to its spec, the
    others (``repo_id``, ``filename``, ``revision``, ``sha256``…) to the entry."""
    spec = {k: changes.pop(k) for k in list(changes) if k in SPEC_FIELDS}
    return replace(entry, spec=replace(entry.spec, **spec), **changes)  # type: ignore[arg-type]
