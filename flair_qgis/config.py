"""FLAIR-1 ``flair-detect`` YAML configurations, read into :class:`SegmentOptions`.

Accepted keys (FLAIR-1 README): output_path, output_name, input_img_path, bands (or channels),
img_pixels_detection, margin, output_type, n_classes, model_weights, batch_size, use_gpu,
model_name, encoder_name, num_worker, write_dataframe, norma_task (or norm_type / norm_means /
norm_stds at the top level). Our additions: ``model`` (a zoo entry) and ``device``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .engine import SegmentOptions
from .errors import FlairError
from .normalisation import Normalisation

DETECT_KEYS = {
    "output_path", "output_name", "input_img_path", "bands", "channels", "img_pixels_detection",
    "margin", "output_type", "n_classes", "model_weights", "batch_size", "use_gpu", "model_name",
    "encoder_name", "num_worker", "write_dataframe", "norma_task", "norm_type", "norm_means",
    "norm_stds", "model", "device",
}
IGNORED_KEYS = {"num_worker": "reading runs in-process", "write_dataframe": "no tile table is written"}


def read_yaml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FlairError(f"cannot read the configuration {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise FlairError(f"configuration {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise FlairError(f"configuration {path} must be a mapping of keys to values")
    return data


def _path(value: Any, config_dir: Path) -> Path:
    """A path as flair-detect reads it (relative to the working folder), falling back to the
    configuration file's folder when only that one exists."""
    p = Path(str(value)).expanduser()
    if not p.is_absolute() and not p.exists() and (config_dir / p).exists():
        return config_dir / p
    return p


def _normalisation(conf: dict[str, Any]) -> Normalisation | None:
    task = conf.get("norma_task")
    if isinstance(task, list) and task:
        task = task[0]
    norm = dict(task) if isinstance(task, dict) else {}
    for key in ("norm_type", "norm_means", "norm_stds"):
        if key in conf:
            norm[key] = conf[key]
    if not norm.get("norm_type"):
        return None
    return Normalisation(str(norm["norm_type"]), tuple(float(v) for v in norm.get("norm_means") or ()),
                         tuple(float(v) for v in norm.get("norm_stds") or ()))


def detect_options(path: Path | str, warn: Any = print) -> SegmentOptions:
    """Read a flair-detect configuration; unknown keys are reported, not fatal."""
    path = Path(path)
    conf = read_yaml(path)
    base = path.resolve().parent
    for key in sorted(set(conf) - DETECT_KEYS):
        warn(f"{path.name}: unknown key {key!r} ignored")
    for key, why in IGNORED_KEYS.items():
        if conf.get(key):
            warn(f"{path.name}: {key} has no effect here ({why})")
    missing = [k for k in ("input_img_path", "output_path", "output_name") if not conf.get(k)]
    if not conf.get("model") and not conf.get("model_weights"):
        missing.append("model_weights (or model)")
    if missing:
        raise FlairError(f"configuration {path} lacks {', '.join(missing)}")
    name = str(conf["output_name"])
    if not name.lower().endswith((".tif", ".tiff")):
        name += ".tif"
    device = conf.get("device") or ("auto" if conf.get("use_gpu", True) else "cpu")
    bands = conf.get("bands", conf.get("channels"))
    try:
        return SegmentOptions(
            input=_path(conf["input_img_path"], base),
            output=_path(conf["output_path"], base) / name,
            model=conf.get("model"),
            checkpoint=_path(conf["model_weights"], base) if conf.get("model_weights") else None,
            bands=[int(b) for b in bands] if bands else None,
            tile_size=int(conf["img_pixels_detection"]) if conf.get("img_pixels_detection") else None,
            margin=int(conf["margin"]) if conf.get("margin") is not None else None,
            batch_size=int(conf.get("batch_size", 4)),
            device=str(device),
            output_type=str(conf.get("output_type", "argmax")),
            normalisation=_normalisation(conf),
            arch=conf.get("model_name"),
            encoder=conf.get("encoder_name"),
            n_classes=int(conf["n_classes"]) if conf.get("n_classes") else None,
        )
    except (TypeError, ValueError) as e:
        raise FlairError(f"configuration {path} has a value of the wrong type: {e}") from None
