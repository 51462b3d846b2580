"""From a batch of raw tiles to class codes or probabilities: normalisation, the model's forward
pass (channels-last, autocast on CUDA, optional flip test-time augmentation), masking of
switched-off classes, argmax straight from the logits. Out-of-memory halves the batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model_spec import ModelSpec
from .choices import PRECISIONS, check_choice
from .cpu_memory import cpu_batch_size
from .devices import device_name
from .errors import FlairError


def pick_device(name: str) -> torch.device:
    """:func:`.devices.device_name` as a ``torch.device``."""
    return torch.device(device_name(name))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast type for ``precision`` (``auto``: fp16 on CUDA, none on the CPU, where
    reduced precision is slower)."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


@dataclass
class Predictor:
    """Runs ``model`` on uint8 tiles (N×bands×t×t numpy) and returns uint8 results:
    class codes (N×1×t×t) for ``argmax``, probability × 255 per class (N×classes×t×t) otherwise."""

    model: torch.nn.Module
    spec: ModelSpec
    device: torch.device
    argmax: bool = True
    precision: str = "auto"
    tta: bool = False
    channels_last: bool = True

    def __post_init__(self) -> None:
        self.dtype = autocast_dtype(self.precision, self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.inactive = torch.tensor([not a for a in self.spec.active], device=self.device)  # per class
        self.codes = torch.tensor([c.code for c in self.spec.classes], dtype=torch.uint8, device=self.device)
        self._codes = self.codes.cpu().numpy()
        self._buffer: np.ndarray | None = None  # the normalised batch, reused from batch to batch

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        return self._halving(self._predict, tiles)

    def submit(self, tiles: np.ndarray):
        """``self(tiles)`` as a pipeline stage: returns a callable giving the result (computed here,
        at once: the forward pass of PyTorch takes the cores itself)."""
        result = self(tiles)
        return lambda: result

    def probabilities(self, tiles: np.ndarray) -> np.ndarray:
        """Class probabilities as float32, N×t×t×classes (for blending overlapping tiles)."""
        return self._halving(self._probabilities, tiles)

    def _halving(self, predict, tiles: np.ndarray) -> np.ndarray:
        """``predict(tiles)``; on a CUDA out-of-memory error, the two halves one after the other."""
        try:
            return predict(tiles)
        except torch.cuda.OutOfMemoryError:
            if len(tiles) == 1:
                raise FlairError("the GPU ran out of memory on a single tile: lower the tile size "
                                 "or use the CPU") from None
            torch.cuda.empty_cache()
            half = len(tiles) // 2
            return np.concatenate([self._halving(predict, tiles[:half]), self._halving(predict, tiles[half:])])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            return self.model(x).float()

    def _scores(self, x: torch.Tensor, flip: list[int] | None = None) -> torch.Tensor:
        """Masked logits, channels last (N×H×W×classes: a free view of the channels-last output,
        where the argmax and softmax over classes run several times faster than over dim 1)."""
        if flip:
            x = x.flip(flip)
        scores = self.logits(x).permute(0, 2, 3, 1).masked_fill_(self.inactive, float("-inf"))
        return scores.flip([d - 1 for d in flip]) if flip else scores

    def _input(self, tiles: np.ndarray) -> torch.Tensor:
        """The normalised batch, in a float32 buffer reused while the batch's shape stays the same
        (the model reads it before the next batch is normalised: calls are sequential)."""
        if self._buffer is None or self._buffer.shape != tiles.shape:
            self._buffer = np.empty(tiles.shape, np.float32)
        x = torch.from_numpy(self.spec.normalisation.apply(tiles, out=self._buffer))
        return x.pin_memory().to(self.device, non_blocking=True) if self.device.type == "cuda" else x

    def _flips(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities averaged over the four flips (test-time augmentation)."""
        return sum(torch.softmax(self._scores(x, f), -1) for f in ([], [2], [3], [2, 3])) / 4

    def _probabilities(self, tiles: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = self._input(tiles)
            return (self._flips(x) if self.tta else torch.softmax(self._scores(x), -1)).cpu().numpy()

    def _predict(self, tiles: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = self._input(tiles)
            scores = self._flips(x) if self.tta else self._scores(x)
            if self.argmax:
                if self.device.type == "cpu":  # numpy's gather is several times faster than torch's here
                    return np.take(self._codes, scores.argmax(-1).numpy())[:, None]
                return self.codes[scores.argmax(-1)][:, None].cpu().numpy()
            probs = scores if self.tta else torch.softmax(scores, -1)
            return (probs * 255.0).round_().to(torch.uint8).permute(0, 3, 1, 2).contiguous().cpu().numpy()


def batch_for_memory(free_bytes: int, per_tile_bytes: int, cap: int = 64, share: float = 0.6) -> int:
    """How many tiles fit in ``share`` of the free memory, between 1 and ``cap``."""
    if per_tile_bytes <= 0:
        return cap
    return max(1, min(cap, int(free_bytes * share) // per_tile_bytes))


def auto_batch_size(predictor: Predictor, tile_size: int, cpu_default: int = 4) -> int:
    """A batch size for the device: on CUDA, measured from one tile's peak memory and the free
    memory; on the CPU, ``cpu_default`` within :func:`.cpu_memory.cpu_batch_size`'s pixels (larger batches do not
    run faster there; :func:`.cpu_memory.fit_batch` then checks it against the free memory)."""
    device = predictor.device
    if device.type != "cuda":
        return cpu_batch_size(cpu_default, tile_size)
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    predictor(np.zeros((1, predictor.spec.in_channels, tile_size, tile_size), np.uint8))
    per_tile = torch.cuda.max_memory_allocated(device) - before
    return batch_for_memory(free, per_tile)
