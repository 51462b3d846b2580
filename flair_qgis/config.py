"""FLAIR-1 YAML configurations: ``flair-detect`` ones read into a
:class:`~flair_qgis.segment_options.SegmentRequest`, and
``flair --conf`` ones (training, metrics) read into :class:`TrainConfig`.

flair-detect keys (FLAIR-1 README): output_path, output_name, input_img_path, bands (or channels),
img_pixels_detection, margin, output_type, n_classes, model_weights, batch_size, use_gpu,
model_name, encoder_name, num_worker, write_dataframe, norma_task (or norm_type / norm_means /
norm_stds at the top level). Our additions: ``model`` (a zoo entry), ``device``, ``tile_grid``
(``model`` or ``map-anchored``, see :mod:`.segment_options`), ``backend`` (auto, torch, openvino),
and the layers besides the input (:class:`~flair_qgis.band_sources.BandSources`): ``irc_path``
(+ ``irc_band``), ``elevation_path`` (+ ``elevation_band``), ``dsm_path`` + ``dtm_path``.
flair --conf keys: see :data:`TRAIN_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .band_sources import BandSources
from .errors import FlairError
from .normalisation import Normalisation
from .segment_options import ModelChoice, ReadOptions, RunOptions, SegmentRequest, WriteOptions
from .train_options import TrainClass, TrainOptions, make_classes

DETECT_KEYS = {
    "output_path", "output_name", "input_img_path", "bands", "channels", "img_pixels_detection",
    "margin", "output_type", "n_classes", "model_weights", "batch_size", "use_gpu", "model_name",
    "encoder_name", "num_worker", "write_dataframe", "norma_task", "norm_type", "norm_means",
    "norm_stds", "model", "device", "tile_grid", "irc_path", "irc_band", "elevation_path", "elevation_band",
    "dsm_path", "dtm_path", "backend",
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


def _band_sources(conf: dict[str, Any], base: Path) -> BandSources | None:
    """The IRC / elevation / DSM + DTM layers of a detect configuration, if any."""
    paths = {k: _path(conf[f"{k}_path"], base) if conf.get(f"{k}_path") else None
             for k in ("irc", "elevation", "dsm", "dtm")}
    if not any(paths.values()):
        return None
    return BandSources(irc=paths["irc"], irc_band=int(conf.get("irc_band") or 1), elevation=paths["elevation"],
                       elevation_band=int(conf.get("elevation_band") or 1), dsm=paths["dsm"], dtm=paths["dtm"])


def detect_options(path: Path | str, warn: Any = print) -> SegmentRequest:
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
        read = ReadOptions(input=_path(conf["input_img_path"], base), bands=[int(b) for b in bands] if bands else None)
        output = _path(conf["output_path"], base) / name
        name_, checkpoint = conf.get("model"), _path(conf["model_weights"], base) if conf.get("model_weights") else None
        tile_size = int(conf["img_pixels_detection"]) if conf.get("img_pixels_detection") else None
        margin = int(conf["margin"]) if conf.get("margin") is not None else None
        run = RunOptions(device=str(device), backend=str(conf.get("backend") or "auto"),
                         batch_size=int(conf.get("batch_size", 4)))
        write = WriteOptions(output=output, output_type=str(conf.get("output_type", "argmax")))
        model = ModelChoice(name=name_, checkpoint=checkpoint, tile_size=tile_size, margin=margin,
                            normalisation=_normalisation(conf), arch=conf.get("model_name"),
                            encoder=conf.get("encoder_name"),
                            n_classes=int(conf["n_classes"]) if conf.get("n_classes") else None,
                            tile_grid=str(conf["tile_grid"]) if conf.get("tile_grid") else None)
        read.sources = _band_sources(conf, base)
        return SegmentRequest(read=read, write=write, model=model, run=run)
    except (TypeError, ValueError) as e:
        raise FlairError(f"configuration {path} has a value of the wrong type: {e}") from None


# --- flair --conf: training and metrics ------------------------------------------------------

# FLAIR-1 ``flair --conf`` keys (configs/flair-1-config.yaml, nested in sections or not), plus ours.
TRAIN_KEYS = {
    "out_folder", "out_model_name", "train_csv", "val_csv", "test_csv", "ckpt_model_path",
    "path_metadata_aerial", "train", "train_load_ckpt", "init_weights_only_from_ckpt",
    "resume_training_from_ckpt", "predict", "metrics", "delete_preds", "model_provider", "org_model",
    "encoder_decoder", "model_architecture", "encoder_name", "use_augmentation", "use_metadata", "channels",
    "norm_type", "norm_means", "norm_stds", "norma_task", "seed", "batch_size", "learning_rate", "num_epochs",
    "use_weights", "classes", "georeferencing_output", "accelerator", "num_nodes", "gpus_per_node", "strategy",
    "num_workers", "ckpt_save_also_last", "ckpt_verbose", "ckpt_weights_only", "ckpt_monitor",
    "ckpt_monitor_mode", "ckpt_earlystopping_patience", "cp_csv_and_conf_to_output", "enable_progress_bar",
    "progress_rate",
    # ours
    "model", "device", "train_folders", "val_folders", "test_folders", "val_fraction", "optimizer", "scheduler",
    "weight_decay", "crop_size", "balanced_crops", "band_names", "tile_size", "margin",
}
# Accepted and without effect here (one process, one device, no patch predictions written):
# path_metadata_aerial, georeferencing_output, delete_preds, strategy, num_workers,
# enable_progress_bar, progress_rate, ckpt_verbose. Several nodes or GPUs are reported.
SECTION_VALUES = {"classes", "norma_task", "model_provider"}  # mappings that are values, not sections


@dataclass
class TrainConfig:
    """What a ``flair --conf`` file asks for: training (``options``), and/or metrics of the trained
    model (or of ``checkpoint``) on the ``test`` patches."""

    options: TrainOptions | None
    test: list[Path]
    checkpoint: Path | None
    out_folder: Path
    name: str
    copy: list[Path]
    bands: list[int] | None = None


def flatten(conf: dict[str, Any]) -> dict[str, Any]:
    """FLAIR-1's sections (paths, tasks, train_tasks, hyperparams, …) merged into one level."""
    flat: dict[str, Any] = {}
    for key, value in conf.items():
        if isinstance(value, dict) and key not in SECTION_VALUES:
            flat.update(flatten(value))
        else:
            flat[key] = value
    return flat


def _provider(conf: dict[str, Any], name: str) -> tuple[str | None, str | None]:
    """(arch, encoder) from ``model_provider``/``encoder_decoder`` (``resnet34_unet``) or the older
    ``model_architecture``/``encoder_name``."""
    provider = conf.get("model_provider")
    pair = conf.get("encoder_decoder")
    if isinstance(provider, dict):
        used = [k for k, v in provider.items() if isinstance(v, dict) and v.get("use")]
        if used and used[0] != "SegmentationModelsPytorch":
            raise FlairError(f"{name}: model_provider {used[0]} is not supported here; use SegmentationModelsPytorch")
        smp_conf = provider.get("SegmentationModelsPytorch") or {}
        pair = smp_conf.get("encoder_decoder", pair) if isinstance(smp_conf, dict) else pair
    elif provider not in (None, "", "SegmentationModelsPytorch"):
        raise FlairError(f"{name}: model_provider {provider} is not supported here; use SegmentationModelsPytorch")
    if pair:
        encoder, _, arch = str(pair).rpartition("_")
        if not encoder:
            raise FlairError(f"{name}: encoder_decoder {pair!r} must read encodername_decodername, e.g. resnet34_unet")
        return arch, encoder
    return conf.get("model_architecture"), conf.get("encoder_name")


def _sources(value: Any, base: Path) -> list[Path]:
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    return [_path(v, base) for v in items if v]


def _classes(value: Any, name: str) -> tuple[TrainClass, ...] | None:
    """``classes: {code: [weight, name(, colour)]}`` as FLAIR-1 writes them."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FlairError(f"{name}: classes must map each code to [weight, name] (or [weight, name, colour])")
    rows = []
    for code, spec in value.items():
        spec = spec if isinstance(spec, list) else [1, spec]
        if len(spec) < 2:
            raise FlairError(f"{name}: class {code} must be [weight, name]")
        rows.append((code, spec[1], spec[0], spec[2] if len(spec) > 2 else None))
    return make_classes(rows)


def train_config(path: Path | str, warn: Any = print) -> TrainConfig:
    """Read a FLAIR-1 ``flair --conf`` file (see TRAIN_KEYS); unknown keys are reported."""
    path = Path(path)
    conf = flatten(read_yaml(path))
    base = path.resolve().parent
    for key in sorted(set(conf) - TRAIN_KEYS):
        warn(f"{path.name}: unknown key {key!r} ignored")
    for key in ("num_nodes", "gpus_per_node"):
        if int(conf.get(key) or 1) > 1:
            warn(f"{path.name}: {key} is {conf[key]}, but training runs on one device here")
    if conf.get("use_metadata"):
        warn(f"{path.name}: use_metadata is not supported here; training without metadata")
    if conf.get("predict") and not conf.get("metrics"):
        warn(f"{path.name}: predict writes no patch predictions here; set metrics: true to evaluate the test patches")
    name = str(conf.get("out_model_name") or "model")
    out = _path(conf.get("out_folder") or ".", base) / name
    ckpt = _path(conf["ckpt_model_path"], base) if conf.get("ckpt_model_path") else None
    init_only = conf.get("init_weights_only_from_ckpt") or conf.get("train_load_ckpt")
    resume = conf.get("resume_training_from_ckpt")
    if (init_only or resume) and ckpt is None:
        raise FlairError(f"{path.name}: {'resume_training_from_ckpt' if resume else 'init_weights_only_from_ckpt'} "
                         "is set but ckpt_model_path is empty")
    if init_only and resume:
        raise FlairError(f"{path.name}: set init_weights_only_from_ckpt or resume_training_from_ckpt, not both")
    test = _sources(conf.get("test_csv"), base) + _sources(conf.get("test_folders"), base)
    lists = _sources(conf.get("train_csv"), base) + _sources(conf.get("val_csv"), base) + test
    copy = ([p for p in lists if p.suffix.lower() == ".csv"] + [path]) if conf.get("cp_csv_and_conf_to_output") else []
    options = None
    if conf.get("train", True):
        arch, encoder = _provider(conf, path.name)
        monitor = str(conf.get("ckpt_monitor") or "val_miou").lower()
        accelerator = {"gpu": "cuda", "cuda": "cuda", "cpu": "cpu"}.get(str(conf.get("accelerator", "")).lower(),
                                                                        "auto")
        try:
            options = TrainOptions(
                train=_sources(conf.get("train_csv"), base) + _sources(conf.get("train_folders"), base),
                val=_sources(conf.get("val_csv"), base) + _sources(conf.get("val_folders"), base),
                out_folder=out, name=name,
                val_fraction=float(conf.get("val_fraction", 0.2)),
                classes=_classes(conf.get("classes"), path.name),
                bands=[int(b) for b in conf["channels"]] if conf.get("channels") else None,
                band_names=tuple(conf["band_names"]) if conf.get("band_names") else None,
                normalisation=_normalisation(conf),
                arch=str(arch or "unet"), encoder=str(encoder or "resnet34"),
                init_model=conf.get("model"),
                init_checkpoint=ckpt if init_only else None,
                resume=ckpt if resume else None,
                epochs=int(conf.get("num_epochs", 20)),
                batch_size=int(conf.get("batch_size", 8)),
                learning_rate=float(conf["learning_rate"]) if conf.get("learning_rate") else None,
                optimizer=str(conf.get("optimizer", "adamw")).lower(),
                weight_decay=float(conf.get("weight_decay", 1e-4)),
                scheduler=str(conf.get("scheduler", "cosine")).lower(),
                use_class_weights=bool(conf.get("use_weights", True)),
                augment=bool(conf.get("use_augmentation", True)),
                crop_size=int(conf["crop_size"]) if conf.get("crop_size") else None,
                balanced_crops=bool(conf.get("balanced_crops", True)),
                patience=int(conf.get("ckpt_earlystopping_patience", 10) or 0),
                monitor="val_loss" if monitor == "val_loss" else "val_miou",
                seed=int(conf.get("seed", 2022)),
                device=str(conf.get("device") or accelerator),
                save_last=bool(conf.get("ckpt_save_also_last", True)),
                resumable=not conf.get("ckpt_weights_only", False),
                tile_size=int(conf["tile_size"]) if conf.get("tile_size") else None,
                margin=int(conf["margin"]) if conf.get("margin") is not None else None,
            )
        except (TypeError, ValueError) as e:
            raise FlairError(f"configuration {path} has a value of the wrong type: {e}") from None
        mode = str(conf.get("ckpt_monitor_mode") or "").lower()
        if mode and mode != ("min" if options.monitor == "val_loss" else "max"):
            warn(f"{path.name}: ckpt_monitor_mode {mode} ignored: {options.monitor} is "
                 f"{'minimised' if options.monitor == 'val_loss' else 'maximised'}")
        if not options.train and options.resume is None:
            raise FlairError(f"configuration {path} lacks train_csv (or train_folders)")
    elif not (conf.get("metrics") and test):
        raise FlairError(f"configuration {path}: train is false and there are no metrics to compute "
                         "(set metrics: true and test_csv)")
    if conf.get("metrics") and not test:
        warn(f"{path.name}: metrics is set but test_csv is empty: no test metrics")
    if options is None and ckpt is None:
        raise FlairError(f"configuration {path}: train is false, so ckpt_model_path must name the model to evaluate")
    bands = [int(b) for b in conf["channels"]] if conf.get("channels") else None
    return TrainConfig(options, test if conf.get("metrics") else [], ckpt, out, name, copy, bands)
