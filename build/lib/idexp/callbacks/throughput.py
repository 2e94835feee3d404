"""Training images per second, in the progress bar and the logs."""
from __future__ import annotations

import time

import lightning as L


class ImagesPerSecond(L.Callback):
    """Every `every` steps: the images/s since the previous update (`train/images_per_s`, shown as img/s)."""

    def __init__(self, every: int = 20) -> None:
        self.every = every
        self._since: float | None = None
        self._images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._since, self._images = None, 0  # validation in between does not count as training time

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        if self._since is None:  # the first step starts the clock (loader workers start, first batch)
            self._since = time.perf_counter()
            return
        self._images += len(batch["x"]) * trainer.world_size
        if batch_idx % self.every == 0:
            now = time.perf_counter()
            pl_module.log("train/images_per_s", self._images / (now - self._since), prog_bar=True)
            self._since, self._images = now, 0
