"""OpenVINO inference on the CPU: the PyTorch module converted once, kept compiled in the cache.

:func:`predictor_for` picks the backend for a run (``auto``: OpenVINO on the CPU when it is installed,
PyTorch on CUDA) and returns a predictor with :class:`~flair_qgis.prediction.Predictor`'s interface.
The model is converted with ``openvino.convert_model`` to static shapes (request batch, bands, tile,
tile) once per (checkpoint's sha256, bands, tile, batch, kept centre, OpenVINO version) and saved as IR (xml + bin)
under :func:`cache_dir`; a later run reads the IR without converting, and without PyTorch (the weights
are read only to convert, or should OpenVINO fail mid-run). The memory one tile takes, measured on
the first run, is kept with it. Whatever fails on the way
(OpenVINO missing or too old, a layer it cannot convert, a compile or inference error) falls back to
PyTorch with one log line saying why; a corrupt cached model is rebuilt; a cache that cannot be
written is skipped with a warning.

Each batch is split over :data:`REQUESTS` asynchronous requests run on as many streams (measured the
fastest on a 2-core CPU; a batch of one tile runs on one stream using every core); a partial batch is
padded to the compiled shape. The compiled model ends with an argmax (the switched-off classes masked
first): class indices leave the runtime, not logits, unless probabilities are asked for. The pipeline starts the next
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

from . import cpu_memory, dependencies, files, plugin_cache
from .choices import BACKENDS, check_choice
from .errors import FlairError
from .model_source import ModelSource
from .progress import Progress

CACHE_ENV = plugin_cache.CACHE_ENV
BACKEND_ENV = "FLAIR_BACKEND"  # what ``auto`` means on the CPU when set to ``torch`` or ``openvino``
REQUESTS = 2  # asynchronous requests (and CPU streams) a batch is split over
FORMAT = 2  # the cache layout: bumped when what is stored changes (2: the centre-only models)
UNUSED_DAYS = 7  # a cached model no run of this version can read is removed once unused this long


def cache_dir() -> Path:
    """Where compiled models are kept: ``openvino/`` in the plugin's cache (:func:`.plugin_cache.root`)."""
    return plugin_cache.root() / "openvino"


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
    a model given in memory (one read from a file is known by the file's sha256)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return digest.hexdigest()


def remove_unreachable(cache: Path, version: str) -> tuple[int, int]:
    """Remove the cached models this version cannot read, unused for :data:`UNUSED_DAYS`: those saved in
    another cache layout (:data:`FORMAT`) or for another OpenVINO version, both part of every key (a
    plugin or OpenVINO update leaves them behind; another install sharing the cache, e.g. a QGIS profile
    and a command-line venv, keeps using its own, each read refreshing its manifest's time). Returns
    (models removed, bytes freed). Folders without a manifest (being written, or broken and rebuilt when
    their key is used) are left alone."""
    removed = freed = 0
    try:
        folders = [f for f in cache.iterdir() if f.is_dir()]
    except OSError:
        return 0, 0
    for folder in folders:
        try:
            path = folder / "manifest.json"
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or (manifest.get("format"), manifest.get("openvino")) == (
                    FORMAT, version):
                continue  # not a manifest of ours, or a model this version reads
            if time.time() - path.stat().st_mtime < UNUSED_DAYS * 86400:
                continue  # used lately (by another install sharing the cache)
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        except (OSError, ValueError, RecursionError):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed, freed = removed + 1, freed + size
    return removed, freed


def cache_key(weights: str, spec, tile: int, batch: int, version: str, centre: int = 0) -> str:
    text = json.dumps([FORMAT, weights, spec.arch, spec.encoder, spec.in_channels, spec.n_classes, tile, batch,
                       version, centre])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def request_batch(batch: int) -> int:
    """The batch of one compiled request: the run's batch split over :data:`REQUESTS` requests."""
    return max(1, -(-batch // REQUESTS))


def cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Windows, macOS
        return os.cpu_count() or 1


def streams_for(batch: int) -> int:
    """CPU streams for runs of ``batch`` tiles: one per request, so one for a batch of one tile (then
    every core works on that tile: a large tile alone, e.g. FLAIR-HUB's 2048 px, is no slower that way,
    and the run's last tile does not leave a stream idle)."""
    return min(REQUESTS, batch)


def compile_config(precision: str, streams: int = REQUESTS) -> dict[str, str]:
    """fp32 unless asked otherwise (OpenVINO would take bf16 by itself on CPUs that have it)."""
    hint = {"bf16": "bf16", "fp16": "f16"}.get(precision, "f32")
    return {"NUM_STREAMS": str(streams), "INFERENCE_NUM_THREADS": str(cpu_threads()),
            "INFERENCE_PRECISION_HINT": hint}


class OpenVinoPredictor:
    """:class:`~flair_qgis.prediction.Predictor`'s interface on an OpenVINO compiled model; an error
    while inferring switches to the PyTorch predictor ``fallback()`` builds (the weights read then) for
    the rest of the run.

    :meth:`submit` starts a batch and returns at once, so that the pipeline normalises and starts
    the next batch, and stitches the previous one, while the requests run (OpenVINO's own threads).
    A batch takes idle inference requests (created when none is idle: two batches in flight use
    2 × :data:`REQUESTS`), each copies its input when started, so the normalised batch's buffer is
    reused at once.
    """

    device = "cpu"

    def __init__(self, compiled: "Compiled", spec, argmax: bool, tta: bool, fallback, progress: Progress):
        self.spec, self.argmax, self.tta, self.progress = spec, argmax, tta, progress
        self.compiled, self.batch = compiled, compiled.batch
        self._make_fallback, self._fallback = fallback, None
        self.inactive = ~np.array(self.spec.active, dtype=bool)
        self.codes = np.array([c.code for c in self.spec.classes], dtype=np.uint8)
        self.idle: dict[bool, list] = {True: [], False: []}  # requests not running, argmax-headed or not
        self._buffer: np.ndarray | None = None  # the normalised batch, padded to whole requests
        self._failed: str | None = None

    def fallback(self, tiles: np.ndarray) -> np.ndarray:
        return self._torch()(tiles)

    def _torch(self):
        if self._fallback is None:
            self._fallback = self._make_fallback()
        return self._fallback

    # -- sizing the batch (see cpu_memory.fit_batch) ------------------------------------------
    def measure(self, run) -> int | None:
        """The memory one tile takes: remembered with the compiled model, else measured while ``run()``
        runs one request (and remembered), divided by the request's tiles."""
        return self.compiled.tile_bytes(run)

    def rebatched(self, batch: int) -> "OpenVinoPredictor":
        """This predictor for runs of ``batch`` tiles (compiled again for that request size)."""
        if request_batch(batch) == self.batch and streams_for(batch) == self.compiled.streams:
            return self
        compiled = self.compiled.rebatched(batch, self.progress)
        return OpenVinoPredictor(compiled, self.spec, self.argmax, self.tta, self._make_fallback, self.progress)

    # -- the Predictor interface --------------------------------------------------------------
    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        return self.submit(tiles)()

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        return self._guarded(self._probabilities, lambda t: self._torch().probabilities(t), tiles)

    def submit(self, tiles: np.ndarray):
        """Start predicting ``tiles`` (class codes or probabilities × 255, as ``self(tiles)``) and
        return a callable that waits for the result."""
        if self.tta or not self.argmax or self._failed is not None:
            result = self._guarded(self._predict, self.fallback, tiles)
            return lambda: result
        try:
            collect = self._start(self._normalised(tiles), len(tiles), head=True)
        except RuntimeError as e:
            return self._failing(e, tiles)

        def result() -> np.ndarray:
            try:
                return collect(self.codes.take)
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

    def new_request(self, head: bool):
        return self.compiled.compiled(head).create_infer_request()

    def _start(self, x: np.ndarray, n: int, head: bool = False):
        """Start one request per :attr:`batch` rows of ``x`` (whole requests, of which the first ``n``
        rows are tiles) on the model with the argmax head (``head``: class indices out, N×1×t×t) or
        without (logits); returns ``collect(f)``: waits for them and concatenates ``f`` of the tiles'
        output rows (a view of each request's memory)."""
        b = self.batch
        idle = self.idle[head]
        started = []
        for start in range(0, len(x), b):
            request = idle.pop() if idle else self.new_request(head)
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
                idle.extend(request for request, _ in started)
        return collect

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


def _read_cached(core, folder: Path):
    """The cached model of ``folder``, or None when there is none; raises when it is corrupt."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    sizes = json.loads(manifest.read_text(encoding="utf-8"))["sizes"]
    for name, size in sizes.items():
        if (folder / name).stat().st_size != size:
            raise ValueError(f"{name} has {(folder / name).stat().st_size} bytes instead of {size}")
    try:
        os.utime(manifest)  # its time says when it was last used (see remove_unreachable)
    except OSError:
        pass  # a read-only cache
    return core.read_model(str(folder / "model.xml"))


def _convert(ov, model, spec, batch: int, tile: int):
    """Trace ``model`` once on a (batch, bands, tile, tile) input and convert it to static shapes.

    The trace is not checked by a second run (it would rebuild a size-dependent encoder, and costs a
    forward pass): an encoder built for another input size (:class:`~flair_qgis.upernet.UPerNet`'s
    Swin) is rebuilt for the tile first, which is what the forward pass would do.
    """
    import torch

    model = model.float().eval()
    fit_input = getattr(model, "fit_input", None)
    if fit_input is not None:
        fit_input((tile, tile))
    example = torch.zeros(batch, spec.in_channels, tile, tile)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer warnings: nothing the user can act on
        traced = torch.jit.trace(model, example, check_trace=False, strict=False)
        converted = ov.convert_model(traced, example_input=example)
    converted.reshape([batch, spec.in_channels, tile, tile])
    return converted


def _save(ov, converted, folder: Path) -> None:
    """Save the IR into ``folder`` whole: written to a temporary folder, renamed when complete. Its
    manifest records the cache layout and OpenVINO version it was made for (:func:`remove_unreachable`)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = files.temporary_folder(folder, ".ov")
    try:
        ov.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)
        sizes = {name: (tmp / name).stat().st_size for name in ("model.xml", "model.bin")}
        manifest = {"sizes": sizes, "format": FORMAT, "openvino": ov.__version__}
        (tmp / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():  # not another process's copy (a worker's): a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Compiled:
    """A model converted for OpenVINO (its IR, from the cache or converted and cached now) for runs in
    batches of ``run_batch`` tiles of ``spec.tile_size`` px (requests of :func:`request_batch` tiles on
    :func:`streams_for` streams), compiled for the CPU as it is (logits out) or with an argmax head
    (:meth:`compiled`); ``folder`` is its cache folder (None when it could not be cached)."""

    def __init__(self, ov, source: ModelSource, spec, run_batch: int, precision: str, progress: Progress,
                 centre: int = 0):
        self.ov, self.source, self.spec, self.precision, self.progress = ov, source, spec, precision, progress
        self.batch, self.streams, self.centre = request_batch(run_batch), streams_for(run_batch), centre
        identity = source.identity or weights_digest(source.module())
        self.folder: Path | None = cache_dir() / cache_key(identity, spec, spec.tile_size, self.batch, ov.__version__,
                                                           centre)
        self.core = ov.Core()
        self._compiled: dict[bool, Any] = {}
        self.ir, self.cached = self._read_or_convert()

    def rebatched(self, run_batch: int, progress: Progress) -> "Compiled":
        return Compiled(self.ov, self.source, self.spec, run_batch, self.precision, progress, self.centre)

    def compiled(self, head: bool):
        """The model compiled for the CPU: with ``head``, its output is the index of the winning class
        (N×1×t×t int32; the switched-off classes masked first), else its logits (N×classes×t×t)."""
        if head not in self._compiled:
            try:
                self._compiled[head] = self._compile(head)
            except Exception as e:  # noqa: BLE001 - a cached IR that does not compile is converted again
                if not self.cached:
                    raise
                self.progress.warn(f"the cached OpenVINO model {self.folder} does not compile "
                                   f"({type(e).__name__}: {e}): converting it again")
                shutil.rmtree(self.folder, ignore_errors=True)
                self._compiled.clear()
                self.ir, self.cached = self._converted(time.perf_counter())
                self._compiled[head] = self._compile(head)
        return self._compiled[head]

    def _compile(self, head: bool):
        model = self.ir
        if head:
            import openvino.opset13 as ops

            model = model.clone()
            result = model.get_results()[0]
            mask = np.where(np.array(self.spec.active, dtype=bool), 0.0, -np.inf).astype(np.float32)
            masked = ops.add(result.input_value(0), ops.constant(mask.reshape(1, -1, 1, 1)))
            top = ops.topk(masked, 1, 1, "max", "none", "i32")
            model.add_results([ops.result(top.output(1))])
            model.remove_result(result)
        return self.core.compile_model(model, "CPU", compile_config(self.precision, self.streams))

    def tile_bytes(self, run) -> int | None:
        """The memory one tile takes (see :meth:`OpenVinoPredictor.measure`)."""
        manifest = self.folder / "manifest.json" if self.folder is not None else None
        try:
            known = json.loads(manifest.read_text(encoding="utf-8")) if manifest is not None else {}
        except (OSError, ValueError):
            known = {}
        if isinstance(known.get("tile_bytes"), int):
            return known["tile_bytes"]
        grown = cpu_memory.peak_growth(run)
        if grown is None:
            return None
        per_tile = -(-grown // self.batch)
        if manifest is not None and known.get("sizes"):
            try:
                files.write_text(manifest, json.dumps(known | {"tile_bytes": per_tile}))
            except OSError:
                pass  # measured again next time
        return per_tile

    def _read_or_convert(self):
        """(the IR, whether it came from the cache)."""
        folder, started = self.folder, time.perf_counter()
        try:
            cached = _read_cached(self.core, folder)
        except Exception as e:  # noqa: BLE001 - whatever is wrong with it, it is rebuilt
            self.progress.warn(f"the cached OpenVINO model {folder} is corrupt ({type(e).__name__}: {e}): "
                               "converting it again")
            shutil.rmtree(folder, ignore_errors=True)
            cached = None
        if cached is not None:
            self.progress.log(f"OpenVINO model read from the cache {folder} in {time.perf_counter() - started:.1f} s")
            return cached, True
        return self._converted(started)

    def _converted(self, started: float):
        from .centre_crop import centre_model

        module = centre_model(self.source.module(), self.centre)
        self.progress.log(f"Converting the model to OpenVINO for {self.spec.tile_size} px tiles (once per model, "
                          "tile size and batch: seconds to a minute)")
        converted = _convert(self.ov, module, self.spec, self.batch, self.spec.tile_size)
        folder = self.folder
        try:
            _save(self.ov, converted, folder)
            where = f"cached in {folder}"
        except Exception as e:  # noqa: BLE001 - read-only, full disk (OSError, or OpenVINO's RuntimeError)
            why = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {e}"
            self.progress.warn(f"the OpenVINO cache {folder.parent} cannot be written ({why}): running without "
                               f"caching, the model is converted again on every run (set {CACHE_ENV} to a "
                               "writable folder)")
            where, self.folder = "not cached", None
        else:
            removed, freed = remove_unreachable(folder.parent, self.ov.__version__)
            if removed:
                self.progress.log(f"Removed {removed} cached OpenVINO model(s) of another plugin or OpenVINO version, "
                                  f"unused for {UNUSED_DAYS} days, from {folder.parent} ({freed / 1e6:.0f} MB)")
        self.progress.log(f"Converted the model to OpenVINO in {time.perf_counter() - started:.1f} s ({where})")
        return converted, False


def predictor_for(source: ModelSource, spec, backend: str, batch: int, progress: Progress, fallback,
                  precision: str = "auto", argmax: bool = True, tta: bool = False,
                  centre: int = 0) -> OpenVinoPredictor | None:
    """The OpenVINO predictor of a CPU run of ``source`` (``spec``: its spec with the run's tiling) in
    batches of ``batch`` tiles, or None when the backend resolves to PyTorch or OpenVINO cannot run the
    model (the log says why). ``fallback()`` builds the PyTorch predictor, should OpenVINO fail mid-run.
    With ``centre`` (a margin), the model predicts each tile's centre only (:mod:`.centre_crop`), as
    ``fallback()``'s must."""
    check_choice("backend", backend, BACKENDS)
    wanted = backend
    if backend == "auto":
        wanted = check_choice(f"backend in ${BACKEND_ENV}", os.environ.get(BACKEND_ENV) or "openvino", BACKENDS[1:])
    if wanted == "torch":
        return None
    say = progress.warn if backend == "openvino" else progress.log
    ov, why = load()
    if ov is None:
        say(f"{why}: using PyTorch")
        return None
    try:
        compiled = Compiled(ov, source, spec, batch, precision, progress, centre)
        started = time.perf_counter()
        compiled.compiled(argmax and not tta)  # compiled now: a failure falls back before the run starts
    except FlairError:
        raise  # the checkpoint itself is wrong (read to convert it): PyTorch could not run it either
    except Exception as e:  # noqa: BLE001 - a layer OpenVINO cannot convert or compile: PyTorch runs it
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        say(f"OpenVINO cannot convert or compile model {spec.name or spec.arch} "
            f"({type(e).__name__}: {first}): using PyTorch")
        return None
    progress.log(f"Backend: OpenVINO {ov.__version__.split('-')[0]} on the CPU, {compiled.streams} stream(s), "
                 f"requests of {compiled.batch} tile(s) (compiled in {time.perf_counter() - started:.1f} s)")
    return OpenVinoPredictor(compiled, spec, argmax, tta, fallback, progress)


def of_torch(predictor, backend: str, batch: int, progress: Progress):
    """For a PyTorch :class:`~flair_qgis.prediction.Predictor` already built (benchmarks, tests): the
    OpenVINO predictor of its model when the backend resolves to OpenVINO on the CPU, else itself."""
    if predictor.device.type != "cpu":
        device_for(backend, "cuda")  # OpenVINO asked for on the GPU: refused
        return predictor
    source = ModelSource.of_module(predictor.model, predictor.spec)
    found = predictor_for(source, predictor.spec, backend, batch, progress, lambda: predictor, predictor.precision,
                          predictor.argmax, predictor.tta)
    return predictor if found is None else found
