"""The model a run uses, as a handle: its spec at once, its PyTorch module only when something asks.

:func:`resolve` decides the spec with :func:`.model_resolution.resolve_model` once per checkpoint file
(its sha256 and name) and model choice, and remembers it in the plugin's cache
(:mod:`.plugin_cache`) with the lines it logged. A later run of the same file and choice replays
those lines and knows its spec without reading the file: a run whose model is already compiled for
OpenVINO (:mod:`.openvino_backend`) then never imports PyTorch. The weights are read (and checked)
by :meth:`ModelSource.module`, the first time a backend needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import __version__, plugin_cache
from .errors import FlairError
from .model_resolution import resolve_model, zoo_file
from .model_spec import ModelSpec
from .progress import Progress
from .zoo import get_entry

if TYPE_CHECKING:
    from torch import nn

RECORD = 1  # the layout of a remembered resolution: bumped when it changes


@dataclass
class ModelSource:
    """A model's spec, the device it runs on (``cpu``, ``cuda``, ``cuda:0``), what identifies its weights
    (``identity``: the checkpoint file's sha256, None for a module given in memory) and how to get
    its PyTorch module (built and loaded once, when first asked for)."""

    spec: ModelSpec
    device: str
    identity: str | None
    load: Callable[[], "nn.Module"]
    _module: "nn.Module | None" = field(default=None, repr=False)

    @property
    def on_cpu(self) -> bool:
        return self.device == "cpu"

    def module(self) -> "nn.Module":
        if self._module is None:
            self._module = self.load()
        return self._module

    @classmethod
    def of_module(cls, model: "nn.Module", spec: ModelSpec) -> "ModelSource":
        """A module already in memory (its weights hashed when a backend needs an identity)."""
        device = next(model.parameters()).device
        return cls(spec, str(device), None, lambda: model, model)


def resolve(choice, device: str, progress: Progress) -> ModelSource:
    """The model ``choice`` (a :class:`.segment_options.ModelChoice`) names, on ``device``: its spec
    remembered or resolved; its weights not read yet when remembered."""
    if choice.checkpoint is None and not choice.name:
        raise FlairError("no model given: choose a zoo model or a checkpoint file")
    path = Path(choice.checkpoint) if choice.checkpoint is not None else zoo_file(get_entry(choice.name), progress)
    if not path.is_file():
        return _resolved(choice, None, device, progress)  # resolve_model says what is wrong with it
    sha256 = plugin_cache.file_sha256(path)
    key = plugin_cache.key_of(RECORD, __version__, sha256, path.name, choice.name, choice.checkpoint is None,
                              choice.arch, choice.encoder, choice.n_classes,
                              choice.normalisation.as_dict() if choice.normalisation else None,
                              list(choice.active_codes) if choice.active_codes else None)
    record = plugin_cache.read_record("models", key)
    spec = _spec_of(record)
    if spec is None:
        lines: list[tuple[str, str]] = []
        told = Progress(progress.fraction, progress.cancelled, lambda m: _tell(progress.log, lines, "log", m),
                        lambda m: _tell(progress.warn, lines, "warn", m))
        source = _resolved(choice, path, device, told)
        plugin_cache.write_record("models", key, {"spec": source.spec.as_dict(), "lines": lines,
                                                  "checkpoint": str(path)})
        source.identity = sha256
        return source
    for kind, line in record["lines"]:
        (progress.warn if kind == "warn" else progress.log)(line)
    return ModelSource(spec, device, sha256, lambda: _load(path, spec, device))


def _resolved(choice, path: Path | None, device: str, progress: Progress) -> ModelSource:
    """Resolved from the file itself (read with PyTorch), weights loaded."""
    from .checkpoints import load_weights

    zoo = choice.checkpoint is None
    ckpt, spec = resolve_model(choice.name, None if zoo else choice.checkpoint, progress, arch=choice.arch,
                               encoder=choice.encoder, n_classes=choice.n_classes,
                               normalisation=choice.normalisation, active_codes=choice.active_codes,
                               fetched=path if zoo else None)
    model = load_weights(ckpt, spec, device)
    return ModelSource(spec, device, None, lambda: model, model)


def _load(path: Path, spec: ModelSpec, device: str) -> "nn.Module":
    from .checkpoints import load_weights, read_checkpoint

    return load_weights(read_checkpoint(path), spec, device)


def _spec_of(record: dict | None) -> ModelSpec | None:
    """The spec of a remembered resolution, None when there is none or it is not readable."""
    lines = record.get("lines") if record else None
    if not isinstance(lines, list) or not all(isinstance(x, list) and len(x) == 2 and all(isinstance(t, str) for t in x)
                                              for x in lines):
        return None
    try:
        return ModelSpec.from_dict(record["spec"])
    except (FlairError, KeyError, TypeError):
        return None


def _tell(say: Callable[[str], None], lines: list[tuple[str, str]], kind: str, message: str) -> None:
    lines.append((kind, message))
    say(message)
