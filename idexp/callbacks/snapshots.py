"""Weights saved at chosen numbers of training samples, for a curve of the probe's scores against training data
(`python -m idexp.report.curve RUN_DIR` scores each one)."""
from __future__ import annotations

from pathlib import Path

import lightning as L

from idexp.callbacks.last_checkpoint import AtomicCheckpointIO

SNAPSHOT_DIR = "snapshots"


def snapshot_name(samples: int) -> str:
    return f"samples_{samples:011d}.ckpt"  # zero-padded: the folder lists in training order


def snapshot_samples(path: Path) -> int:
    return int(path.stem.removeprefix("samples_"))


class Snapshots(L.Callback):
    """Saves the module's weights (no optimizer state) to `dirpath/samples_<n>.ckpt` at the first step after which
    `n` training samples have been seen, for every n in `at_samples`, and at the end of training; `n` is the actual
    count, all ranks together.

    The count is part of the callback's state, so a resumed run goes on counting where it stopped."""

    def __init__(self, dirpath: str, at_samples: list[int]) -> None:
        if not at_samples or any(not isinstance(n, int) or n < 1 for n in at_samples):
            raise ValueError(f"at_samples={at_samples} must be a list of positive sample counts, e.g. [10000, 100000]")
        self.dirpath, self.pending = Path(dirpath), sorted(set(at_samples))
        self.samples = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        self.samples += len(next(iter(batch.values()))) * trainer.world_size
        if self.pending and self.samples >= self.pending[0]:
            while self.pending and self.samples >= self.pending[0]:
                self.pending.pop(0)
            self.save(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module)

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        path = self.dirpath / snapshot_name(self.samples)
        if trainer.is_global_zero and self.samples and not path.exists():  # written whole, as every checkpoint
            AtomicCheckpointIO().save_checkpoint({"state_dict": pl_module.state_dict(), "samples": self.samples,
                                                  "global_step": trainer.global_step}, path)

    def state_dict(self) -> dict:
        return {"samples": self.samples}

    def load_state_dict(self, state_dict: dict) -> None:
        self.samples = state_dict["samples"]
        self.pending = [n for n in self.pending if n > self.samples]
