"""OpenVINO inference on the CPU: the PyTorch module converted once, kept compiled in the cache.

:func:`predictor_for` picks the backend for a run (``auto``: OpenVINO on the CPU when it is installed,
PyTorch on CUDA) and returns a predictor with :class:`~flair_qgis.prediction.Predictor`'s interface.
The model is converted with ``openvino.convert_model`` to static shapes (request batch, bands, tile,
tile) once per (weights' sha256, bands, tile, batch, OpenVINO version) and saved as IR (xml + bin)
under :func:`cache_dir`; a later run reads the IR without converting. Whatever fails on the way
(OpenVINO missing or too old, a layer it cannot convert, a compile or inference error) falls back to
PyTorch with one log line saying why; a corrupt cached model is rebuilt; a cache that cannot be
written is skipped with a warning.

Each batch is split over :data:`REQUESTS` asynchronous requests run on as many streams (measured the
fastest on a 2-core CPU); a partial batch is padded to the compiled shape. The pipeline starts the next
batch before it takes a batch's result (:meth:`OpenVinoPredictor.submit`), so the streams stay busy
while it stitches, also with one tile per batch (FLAIR-HUB's 2048 px tiles on the CPU).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import dependencies, files
from .choices import BACKENDS, check_choice
from .errors import FlairError
from .progress import Progress

CACHE_ENV = "FLAIR_CACHE_DIR"  # the plugin's cache folder (default ~/.cache/flair_qgis)
BACKEND_ENV = "FLAIR_BACKEND"  # what ``auto`` means on the CPU when set to ``torch`` or ``openvino``
REQUESTS = 2  # asynchronous requests (and CPU streams) a batch is split over
FORMAT = 1  # the cache layout: bumped when what is stored changes


def cache_dir() -> Path:
    """Where compiled models are kept: ``$FLAIR_CACHE_DIR/openvino``, else
    ``$XDG_CACHE_HOME/flair_qgis/openvino`` (``~/.cache/flair_qgis/openvino``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "openvino"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flair_qgis" / "openvino"


def device_for(backend: str, device: str) -> str:
    """The DEVICE the model is loaded on for ``backend``: OpenVINO runs on the CPU, so ``auto``
    means ``cpu`` with it and ``cuda`` is refused."""
    check_choice("backend", backend, BACKENDS)
    if backend == "openvino":
        if device.lower() in ("cuda", "gpu"):
            raise FlairError("BACKEND openvino runs on the CPU, but DEVICE is cuda: choose DEVICE cpu or auto "
                             "with BACKEND openvino, or BACKEND auto or torch to run on the GPU")
        return "cpu"
    return device


def version_tuple(text: str) -> tuple[int, ...]:
    """``2026.4.1-19330-abc`` → (2026, 4, 1)."""
    return tuple(int(v) for v in re.findall(r"\d+", text.split("-", 1)[0])[:3])


def load() -> tuple[Any, str | None]:
    """(the ``openvino`` module, None), or (None, why it cannot be used)."""
    try:
        import openvino as ov
    except Exception as e:  # noqa: BLE001 - missing, or a broken install: PyTorch is used either way
        return None, f"OpenVINO cannot be imported ({type(e).__name__}: {e})"
    version = getattr(ov, "__version__", "0")
    requirement = next((r for r in dependencies.read_requirements() if r.key == "openvino"), None)
    if requirement is not None and requirement.too_old(".".join(map(str, version_tuple(version)))):
        return None, (f"OpenVINO {version.split('-')[0]} is too old (needs {requirement.minimum} or newer; "
                      f"{dependencies.INSTALL_ALGORITHM} installs the tested one)")
    return ov, None


def devices() -> list[str]:
    """The devices OpenVINO sees, with their names (``CPU: AMD EPYC …``), for flair:diagnostics."""
    ov, why = load()
    if ov is None:
        return [why or "OpenVINO unavailable"]
    try:
        core = ov.Core()
        names = core.available_devices
    except Exception as e:  # noqa: BLE001 - reported, not raised: this is for a bug report
        return [f"none ({type(e).__name__}: {e})"]
    out = []
    for name in names:
        try:
            out.append(f"{name}: {core.get_property(name, 'FULL_DEVICE_NAME')}")
        except Exception:  # noqa: BLE001 - a device without that property is still listed
            out.append(name)
    return out


def weights_digest(model) -> str:
    """The sha256 of the module's weights and buffers (names, shapes, dtypes, values): the identity of
    the checkpoint it was loaded from, also for a model given in memory."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return digest.hexdigest()


def cache_key(weights: str, spec, tile: int, batch: int, version: str) -> str:
    text = json.dumps([FORMAT, weights, spec.arch, spec.encoder, spec.in_channels, spec.n_classes, tile, batch,
                       version])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def request_batch(batch: int) -> int:
    """The batch of one compiled request: the run's batch split over :data:`REQUESTS` requests."""
    return max(1, -(-batch // REQUESTS))


def cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Windows, macOS
        return os.cpu_count() or 1


def compile_config(precision: str) -> dict[str, str]:
    """fp32 unless asked otherwise (OpenVINO would take bf16 by itself on CPUs that have it)."""
    hint = {"bf16": "bf16", "fp16": "f16"}.get(precision, "f32")
    return {"NUM_STREAMS": str(REQUESTS), "INFERENCE_NUM_THREADS": str(cpu_threads()),
            "INFERENCE_PRECISION_HINT": hint}


class OpenVinoPredictor:
    """:class:`~flair_qgis.prediction.Predictor`'s interface on an OpenVINO compiled model; an error
    while inferring switches to ``fallback`` (the PyTorch predictor) for the rest of the run.

    :meth:`submit` starts a batch and returns at once, so that the pipeline normalises and starts
    the next batch, and stitches the previous one, while the requests run (OpenVINO's own threads).
    A batch takes idle inference requests (created when none is idle: two batches in flight use
    2 × :data:`REQUESTS`), each copies its input when started, so the normalised batch's buffer is
    reused at once.
    """

    def __init__(self, ov, compiled, fallback, batch: int, progress: Progress):
        self.spec, self.device, self.argmax, self.tta = fallback.spec, fallback.device, fallback.argmax, fallback.tta
        self.fallback, self.batch, self.progress = fallback, batch, progress
        self.inactive = ~np.array(self.spec.active, dtype=bool)
        self.codes = np.array([c.code for c in self.spec.classes], dtype=np.uint8)
        self.new_request = compiled.create_infer_request
        self.idle: list = []  # inference requests not running
        self._buffer: np.ndarray | None = None  # the normalised batch, padded to whole requests
        self._failed: str | None = None

    # -- the Predictor interface --------------------------------------------------------------
    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        return self.submit(tiles)()

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        return self._guarded(self._probabilities, self.fallback.probabilities, tiles)

    def submit(self, tiles: np.ndarray):
        """Start predicting ``tiles`` (class codes or probabilities × 255, as ``self(tiles)``) and
        return a callable that waits for the result."""
        if self.tta or not self.argmax or self._failed is not None:
            result = self._guarded(self._predict, self.fallback, tiles)
            return lambda: result
        try:
            collect = self._start(self._normalised(tiles), len(tiles))
        except RuntimeError as e:
            return self._failing(e, tiles)

        def result() -> np.ndarray:
            try:
                return collect(self._codes_of)
            except RuntimeError as e:
                return self._failing(e, tiles)()
        return result

    # -----------------------------------------------------------------------------------------
    def _fail(self, error: RuntimeError) -> None:
        if self._failed is None:
            text = str(error).strip()
            self._failed = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
            self.progress.warn(f"OpenVINO failed while inferring ({self._failed}): using PyTorch for the "
                               "rest of the run")

    def _failing(self, error: RuntimeError, tiles: np.ndarray):
        self._fail(error)
        result = self.fallback(tiles)
        return lambda: result

    def _guarded(self, run, fallback, tiles: np.ndarray) -> np.ndarray:
        if self._failed is None:
            try:
                return run(tiles)
            except RuntimeError as e:
                self._fail(e)
        return fallback(tiles)

    def _normalised(self, tiles: np.ndarray) -> np.ndarray:
        """``tiles`` normalised into a reused float32 buffer of whole requests (the padding rows zeros)."""
        n, b = len(tiles), self.batch
        rows = -(-n // b) * b
        if self._buffer is None or self._buffer.shape != (rows,) + tiles.shape[1:]:
            self._buffer = np.zeros((rows,) + tiles.shape[1:], np.float32)
        self.spec.normalisation.apply(tiles, out=self._buffer[:n])
        self._buffer[n:] = 0  # static shapes: the last partial request is padded, never with another batch's tiles
        return self._buffer

    def _start(self, x: np.ndarray, n: int):
        """Start one request per :attr:`batch` rows of ``x`` (whole requests, of which the first ``n``
        rows are tiles); returns ``collect(f)``: waits for them and concatenates ``f`` of the tiles'
        output rows (a view of each request's memory)."""
        b = self.batch
        started = []
        for start in range(0, len(x), b):
            request = self.idle.pop() if self.idle else self.new_request()
            request.start_async({0: x[start:start + b]})  # copied into the request: x is free again
            started.append((request, min(b, n - start)))

        def collect(f) -> np.ndarray:
            try:
                parts = []
                for request, count in started:
                    request.wait()
                    parts.append(f(request.get_output_tensor(0).data[:count]))
                return np.concatenate(parts) if len(parts) > 1 else parts[0]
            finally:
                for request, _ in started:
                    try:
                        request.wait()  # none is left running when one failed
                    except RuntimeError:
                        pass
                self.idle.extend(request for request, _ in started)
        return collect

    def _codes_of(self, logits: np.ndarray) -> np.ndarray:
        """Class codes (N×1×t×t uint8) of one request's output (a view of its memory)."""
        if self.inactive.any():
            logits = logits.copy()
            logits[:, self.inactive] = -np.inf
        return self.codes[logits.argmax(axis=1)][:, None]

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The model's output (N×classes×t×t float32) for normalised tiles ``x`` (N×bands×t×t)."""
        n, b = len(x), self.batch
        if n % b:
            x = np.concatenate([x, np.zeros((b - n % b,) + x.shape[1:], np.float32)])
        return self._start(np.ascontiguousarray(x, np.float32), n)(np.copy)

    def _scores(self, x: np.ndarray, flip: tuple[int, ...] = ()) -> np.ndarray:
        """Masked logits, N×classes×t×t (``flip``: the axes of x flipped before, and back after)."""
        if flip:
            x = np.flip(x, flip)
        scores = self.logits(x)
        scores[:, self.inactive] = -np.inf
        return np.flip(scores, flip) if flip else scores

    def _softmax(self, scores: np.ndarray) -> np.ndarray:
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e

    def _class_probs(self, tiles: np.ndarray) -> np.ndarray:
        """Probabilities, N×classes×t×t float32 (averaged over the four flips with ``tta``)."""
        x = self.spec.normalisation.apply(tiles)
        if not self.tta:
            return self._softmax(self._scores(x))
        return sum(self._softmax(self._scores(x, f)) for f in ((), (2,), (3,), (2, 3))) / 4

    def _probabilities(self, tiles: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._class_probs(tiles).transpose(0, 2, 3, 1))

    def _predict(self, tiles: np.ndarray) -> np.ndarray:
        if self.argmax:
            scores = self._class_probs(tiles) if self.tta else self._scores(self.spec.normalisation.apply(tiles))
            return self.codes[scores.argmax(axis=1)][:, None]
        return np.rint(self._class_probs(tiles) * 255.0).astype(np.uint8)


def _read_cached(ov, core, folder: Path):
    """The cached model of ``folder``, or None when there is none; raises when it is corrupt."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    sizes = json.loads(manifest.read_text(encoding="utf-8"))["sizes"]
    for name, size in sizes.items():
        if (folder / name).stat().st_size != size:
            raise ValueError(f"{name} has {(folder / name).stat().st_size} bytes instead of {size}")
    return core.read_model(str(folder / "model.xml"))


def _convert(ov, model, spec, batch: int, tile: int):
    """Trace ``model`` once on a (batch, bands, tile, tile) input and convert it to static shapes.

    The trace is not checked by a second run (it would rebuild a size-dependent encoder, and costs a
    forward pass): an encoder built for another input size (:class:`~flair_qgis.upernet.UPerNet`'s
    Swin) is rebuilt for the tile first, which is what the forward pass would do.
    """
    import torch

    model = model.float().eval()
    if getattr(model, "_sized", False) and tuple(getattr(model, "_size", ())) != (tile, tile):
        model.resize_encoder((tile, tile))
    example = torch.zeros(batch, spec.in_channels, tile, tile)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer warnings: nothing the user can act on
        traced = torch.jit.trace(model, example, check_trace=False, strict=False)
        converted = ov.convert_model(traced, example_input=example)
    converted.reshape([batch, spec.in_channels, tile, tile])
    return converted


def _save(ov, converted, folder: Path) -> None:
    """Save the IR into ``folder`` whole: written to a temporary folder, renamed when complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = files.temporary_folder(folder, ".ov")
    try:
        ov.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)
        sizes = {name: (tmp / name).stat().st_size for name in ("model.xml", "model.bin")}
        (tmp / "manifest.json").write_text(json.dumps({"sizes": sizes}), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():  # not another process's copy (a worker's): a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compiled_model(ov, model, spec, batch: int, tile: int, precision: str, progress: Progress):
    """The compiled model from the cache, converted (and cached) first when it is not there."""
    core = ov.Core()
    folder = cache_dir() / cache_key(weights_digest(model), spec, tile, batch, ov.__version__)
    started = time.perf_counter()
    try:
        cached = _read_cached(ov, core, folder)
    except Exception as e:  # noqa: BLE001 - whatever is wrong with it, it is rebuilt
        progress.warn(f"the cached OpenVINO model {folder} is corrupt ({type(e).__name__}: {e}): converting it again")
        shutil.rmtree(folder, ignore_errors=True)
        cached = None
    if cached is not None:
        try:
            compiled = core.compile_model(cached, "CPU", compile_config(precision))
            progress.log(f"OpenVINO model loaded from the cache {folder} in {time.perf_counter() - started:.1f} s")
            return compiled
        except Exception as e:  # noqa: BLE001
            progress.warn(f"the cached OpenVINO model {folder} does not compile ({type(e).__name__}: {e}): "
                          "converting it again")
            shutil.rmtree(folder, ignore_errors=True)
    converted = _convert(ov, model, spec, batch, tile)
    try:
        _save(ov, converted, folder)
        where = f"cached in {folder}"
    except Exception as e:  # noqa: BLE001 - read-only, full disk (OSError, or OpenVINO's RuntimeError)
        why = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
        progress.warn(f"the OpenVINO cache {folder.parent} cannot be written ({why}): running without "
                      f"caching, the model is converted again on every run (set {CACHE_ENV} to a writable folder)")
        where = "not cached"
    compiled = core.compile_model(converted, "CPU", compile_config(precision))
    progress.log(f"Converted the model to OpenVINO in {time.perf_counter() - started:.1f} s ({where})")
    return compiled


def predictor_for(predictor, backend: str, batch: int, tile: int, progress: Progress, precision: str = "auto"):
    """The predictor a run uses: ``predictor`` (PyTorch) itself, or an :class:`OpenVinoPredictor`
    of its model when the backend resolves to OpenVINO and the model converts and compiles."""
    check_choice("backend", backend, BACKENDS)
    if predictor.device.type != "cpu":
        device_for(backend, "cuda")  # OpenVINO asked for on the GPU: refused
        return predictor
    wanted = backend
    if backend == "auto":
        wanted = check_choice(f"backend in ${BACKEND_ENV}", os.environ.get(BACKEND_ENV) or "openvino", BACKENDS[1:])
    if wanted == "torch":
        return predictor
    say = progress.warn if backend == "openvino" else progress.log
    ov, why = load()
    if ov is None:
        say(f"{why}: using PyTorch")
        return predictor
    per_request = request_batch(batch)
    try:
        compiled = compiled_model(ov, predictor.model, predictor.spec, per_request, tile, precision, progress)
    except Exception as e:  # noqa: BLE001 - a layer OpenVINO cannot convert or compile: PyTorch runs it
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        say(f"OpenVINO cannot convert or compile model {predictor.spec.name or predictor.spec.arch} "
            f"({type(e).__name__}: {first}): using PyTorch")
        return predictor
    progress.log(f"Backend: OpenVINO {ov.__version__.split('-')[0]} on the CPU, {REQUESTS} requests of "
                 f"{per_request} tile(s)")
    return OpenVinoPredictor(ov, compiled, predictor, per_request, progress)
