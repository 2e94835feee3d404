"""The run's state for resuming: one file, `checkpoints/last.ckpt`, always the newest and always whole.

A kill must cost little work and never leave a file that cannot be read. So the state is saved every
`every_n_train_steps` steps, after every epoch (which is also where a step-bounded run ends), and at least
every `every_minutes` minutes of training (long ImageNet epochs); every checkpoint file of the run (this one and `best.ckpt`) is
written to a temporary file and renamed into place by `AtomicCheckpointIO`, so a kill during a save
leaves the previous file as it was.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from idexp.run.interrupts import uninterrupted

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint beside its place, flushes it to disk, then renames it over the old one."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with uninterrupted():  # a stop asked for meanwhile comes after the save, not inside it
            try:
                super().save_checkpoint(checkpoint, tmp, storage_options)
                with tmp.open("rb") as written:
                    os.fsync(written.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)


class LastCheckpoint(Checkpoint):
    """Saves the training state as `dirpath/last.ckpt` on a cadence of steps, epochs and minutes.

    A `Checkpoint`, so Lightning adds no checkpoint callback of its own (which would save elsewhere)."""

    def __init__(self, dirpath: str, every_n_train_steps: int = 1000, every_minutes: float = 10.0) -> None:
        if not (isinstance(every_n_train_steps, int) and every_n_train_steps >= 1):
            raise ValueError(f"every_n_train_steps={every_n_train_steps} must be a positive number of steps, e.g. 1000")
        if not (isinstance(every_minutes, (int, float)) and every_minutes > 0):
            raise ValueError(f"every_minutes={every_minutes} must be a positive number of minutes, e.g. 10")
        self.path = Path(dirpath) / LAST
        self.every_n_train_steps, self.every_s = every_n_train_steps, 60.0 * every_minutes
        self._last_time = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_time = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        step = trainer.global_step
        if step == trainer.max_steps:  # the epoch's end comes next and saves it (once)
            return
        if step % self.every_n_train_steps == 0 or self._time_is_up(trainer):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """After the epoch's validation (the best score's state included); also the end of a step-bounded run."""
        self.save(trainer)

    def _time_is_up(self, trainer: L.Trainer) -> bool:
        due = time.monotonic() - self._last_time >= self.every_s
        if trainer.world_size == 1:
            return due
        # every rank must save together (the save is collective): rank zero's clock decides, every 50 steps
        return trainer.global_step % 50 == 0 and bool(trainer.strategy.broadcast(due))

    def save(self, trainer: L.Trainer) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path)
            self._last_time = time.monotonic()


class UnreadableCheckpoint(RuntimeError):
    """The run's only saved state cannot be read; the message says how to restart."""


def resume_checkpoint(dirpath: Path) -> Path | None:
    """The furthest readable saved state in `dirpath` (`last.ckpt`, or a `last-v*.ckpt` of older versions), or
    None when there is none. Unreadable ones are reported; if nothing is readable, UnreadableCheckpoint.
    Called while the run folder is held, so a temporary left here is a killed save's: removed."""
    for leftover in dirpath.glob(".*.ckpt.*.tmp"):
        leftover.unlink(missing_ok=True)
    steps, unreadable = {}, []
    for path in sorted(dirpath.glob("last*.ckpt")):
        step = _saved_step(path)
        if isinstance(step, int):
            steps[path] = step
        else:
            unreadable.append((path, step))
    if not steps and unreadable:
        first = unreadable[0][0]
        raise UnreadableCheckpoint(
            f"the saved training state {first} cannot be read ({unreadable[0][1]}; a disk that filled up or failed "
            f"while it was written), and no other state is. Fix: `mv {first} {first}.unreadable`, then relaunch "
            "the same command to train again from step 0.")
    if not steps:
        return None
    resume = max(steps, key=lambda path: (steps[path], path.name == LAST))
    for path, problem in unreadable:
        log.warning("skipping the unreadable checkpoint %s (%s); resuming from %s", path, problem, resume)
    return resume


def _saved_step(path: Path) -> int | str:
    """The checkpoint's global step, or why it cannot be read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # truncated zip, a file of zeros, ...: all mean the same to a user
        return " ".join(str(error).split())[:160] or type(error).__name__
    if not (isinstance(state, dict) and "state_dict" in state):
        return "not a training checkpoint"
    return int(state.get("global_step", 0))
