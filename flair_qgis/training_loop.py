"""The epochs of one training run: seeded batches, validation, best and last checkpoints,
per-epoch metrics (CSV, JSON) and curves, progress with an ETA."""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .checkpoints import Checkpoint, save_checkpoint
from .errors import Cancelled
from .evaluation import validate
from .metrics import Scores, scores_from_confusion
from .labels import IGNORE
from .patches import PatchDataset
from .progress import Eta, Throttle, duration
from .score_reports import fmt, write_json, write_reports
from .train_options import TrainOptions, options_to_dict

LOG_EVERY_S = 5.0


@dataclass
class State:
    """Where a run is: what the last checkpoint stores besides the weights."""

    epoch: int = 0          # the epoch under way (0-based)
    batch: int = 0          # batches of it already done
    loss_sum: float = 0.0   # weighted training loss summed over those batches
    weight_sum: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0


def make_optimizer(options: TrainOptions, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    if options.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=options.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=options.weight_decay)


def make_scheduler(options: TrainOptions, optimizer: torch.optim.Optimizer, lr: float):
    if options.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs, eta_min=lr * 0.01)
    if options.scheduler == "plateau":  # FLAIR-1's
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=10,
                                                          cooldown=4, min_lr=1e-7)
    return None


def restore(ckpt: Checkpoint, optimizer, scheduler) -> State:
    saved = ckpt.extra["training"]
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None and saved.get("scheduler") is not None:
        scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    return State(**saved["state"])


class Run:
    """The epochs of one training run."""

    def __init__(self, options, spec, model, criterion, optimizer, scheduler, train_ds, val_ds, device,
                 paths, progress, classes) -> None:
        self.o, self.spec, self.model, self.criterion = options, spec, model, criterion
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_ds, self.val_ds, self.device, self.paths = train_ds, val_ds, device, paths
        self.progress, self.classes = progress, classes
        self.inactive = torch.tensor([not a for a in spec.active], device=device)
        self.best_scores: Scores | None = None
        self.n_batches = math.ceil(len(train_ds) / options.batch_size)
        self.val_batches = len(val_ds)  # validation counts one unit per patch
        self.eta = Eta()  # seconds per training batch ("train") and per validation patch ("val")
        self.last_tick = time.perf_counter()
        self.log_due = Throttle(LOG_EVERY_S)

    # -- progress --
    def _tick(self, state: State, kind: str, done: int, what: str) -> None:
        """One training batch or validation patch done (``done`` of them in this epoch)."""
        now = time.perf_counter()
        self.eta.add(kind, 1, now - self.last_tick)
        self.last_tick = now
        per_epoch = self.n_batches + self.val_batches
        epoch_units = done if kind == "train" else self.n_batches + done
        self.progress.fraction(min(1.0, (state.epoch * per_epoch + epoch_units) / (self.o.epochs * per_epoch)))
        if self.log_due():
            epochs_after = self.o.epochs - state.epoch - 1
            left_train = epochs_after * self.n_batches + (self.n_batches - done if kind == "train" else 0)
            left_val = epochs_after * self.val_batches + self.val_batches - (done if kind == "val" else 0)
            if self.eta.per_unit("val") is None:  # not validated yet: a patch as a batch's share
                left_train, left_val = left_train + left_val / self.o.batch_size, 0
            eta = self.eta.left(train=left_train, val=left_val)
            self.progress.log(f"Epoch {state.epoch + 1}/{self.o.epochs}, {what}; ETA {duration(eta)}")

    # -- the loop --
    def loop(self, state: State) -> bool:
        self.last_tick = time.perf_counter()
        stopped = False
        while state.epoch < self.o.epochs:
            epoch_start = time.perf_counter()
            try:
                self._train_epoch(state)
                val_loss, cm = self._validate(state)
            except Cancelled:
                path = self._save_last(state)
                raise Cancelled(f"cancelled by the user at epoch {state.epoch + 1}, batch {state.batch}; "
                                f"resume the training from {path}") from None
            stopped = self._end_epoch(state, val_loss, cm, time.perf_counter() - epoch_start)
            if stopped:
                break
        return stopped

    def _order(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng([self.o.seed, epoch, 1]).permutation(len(self.train_ds)).tolist()
        b = self.o.batch_size
        return [order[i:i + b] for i in range(0, len(order), b)]

    def _batch(self, ds: PatchDataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        items = [ds[i] for i in indices]
        x = torch.stack([i[0] for i in items]).to(self.device)
        y = torch.stack([i[1] for i in items]).to(self.device)
        return x, y

    def _train_epoch(self, state: State) -> None:
        self.model.train()
        self.train_ds.set_epoch(state.epoch)
        batches = self._order(state.epoch)
        for b in range(state.batch, len(batches)):
            self.progress.check()
            x, y = self._batch(self.train_ds, batches[b])
            weight = self.criterion.weight[y[y != IGNORE]].sum()
            if weight > 0:
                loss = self.criterion(self.model(x), y) / weight
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                state.loss_sum += float(loss.detach()) * float(weight)
                state.weight_sum += float(weight)
            state.batch = b + 1
            mean = state.loss_sum / state.weight_sum if state.weight_sum else float("nan")
            self._tick(state, "train", b + 1, f"batch {b + 1}/{len(batches)}, loss {mean:.4f}")

    @torch.inference_mode()
    def _validate(self, state: State | None = None) -> tuple[float, torch.Tensor]:
        return validate(self.model, self.val_ds, self.criterion, self.inactive, self.o.batch_size, self.device,
                        self.progress, tick=None if state is None else
                        lambda i: self._tick(state, "val", i, f"validation {i}/{self.val_batches}"))

    def _end_epoch(self, state: State, val_loss: float, cm: torch.Tensor, seconds: float) -> bool:
        scores = scores_from_confusion(cm.cpu().numpy(), self.spec.classes, self.spec.active)
        train_loss = state.loss_sum / state.weight_sum if state.weight_sum else float("nan")
        lr = self.optimizer.param_groups[0]["lr"]
        row = {"epoch": state.epoch + 1, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
               "val_miou": scores.miou, "val_oa": scores.oa, "seconds": round(seconds, 3)}
        row.update({f"iou_{c.code}": c.iou for c in scores.classes})
        state.history.append(row)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        elif self.scheduler is not None:
            self.scheduler.step()
        value = val_loss if self.o.monitor == "val_loss" else (scores.miou if scores.miou is not None else -1.0)
        better = state.best_value is None or (value < state.best_value if self.o.monitor == "val_loss"
                                              else value > state.best_value)
        if better:
            state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch + 1, 0
            self.best_scores = scores
            save_checkpoint(self.paths["best.pt"], self.model, self.spec,
                            training={"epoch": state.epoch + 1, "history": state.history,
                                      "scores": scores.as_dict(), "options": options_to_dict(self.o)})
            write_reports(scores, png_path=self.paths["confusion.png"])
        else:
            state.bad_epochs += 1
        self.progress.log(f"Epoch {state.epoch + 1}/{self.o.epochs}: training loss {train_loss:.4f}, validation "
                          f"loss {val_loss:.4f}, mIoU {fmt(scores.miou)}, OA {fmt(scores.oa)} "
                          f"({seconds:.1f} s){' — best so far' if better else ''}")
        zero = [f"{c.name}" for c in scores.never_predicted()]
        if zero:
            self.progress.log(f"  IoU 0 on validation for: {', '.join(zero)}")
        stop = bool(self.o.patience) and state.bad_epochs >= self.o.patience
        state.epoch, state.batch, state.loss_sum, state.weight_sum = state.epoch + 1, 0, 0.0, 0.0
        self._save_last(state)
        self._write_history(state)
        if stop:
            self.progress.log(f"Stopping early: no better {self.o.monitor} for {self.o.patience} epochs")
        return stop

    def _save_last(self, state: State) -> Path:
        extra: dict[str, Any] = {"options": options_to_dict(self.o), "state": vars(state).copy()}
        if self.o.resumable:
            extra.update(optimizer=self.optimizer.state_dict(),
                         scheduler=None if self.scheduler is None else self.scheduler.state_dict(),
                         torch_rng=torch.get_rng_state())
        return save_checkpoint(self.paths["last.pt"], self.model, self.spec, training=extra)

    def _write_history(self, state: State) -> None:
        from .plots import curves_png

        keys = list(dict.fromkeys(k for row in state.history for k in row))
        with open(self.paths["metrics.csv"], "w", newline="", encoding="utf-8") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            for row in state.history:
                out.writerow({k: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v
                              for k, v in row.items()})
        write_json(self.paths["metrics.json"], {
            "model": self.o.name, "best_epoch": state.best_epoch, "monitor": self.o.monitor,
            "best_value": state.best_value,
            "classes": [[c.code, c.name, c.weight, c.colour] for c in self.classes],
            "history": state.history,
            "best_scores": self.best_scores.as_dict() if self.best_scores else None})
        curves_png(state.history, self.paths["curves.png"], title=self.o.name)

    def scores_of(self, best: dict[str, Any]) -> Scores:
        """The best epoch's scores, from the best checkpoint (when the best epoch was before a resume)."""
        s = best.get("scores") or {}
        from .metrics import ClassScore

        classes = [ClassScore(**c) for c in s.get("classes", [])]
        m = s.get("confusion_matrix", {})
        return Scores(classes, s.get("miou"), s.get("overall_accuracy"), s.get("pixels", 0), m.get("counts", []),
                      m.get("rows", []), m.get("columns", []), s.get("warnings", []))
