"""A run whose training loss never falls learns nothing; say so instead of finishing at chance level in silence."""
from __future__ import annotations

import logging

import lightning as L
import torch

from idexp.callbacks.run_check import RunCheck

log = logging.getLogger("idexp")


class LossFallCheck(RunCheck):
    """After `warmup_steps`, compares the mean loss of the last `window` steps with that of the first `window`.

    If it has not fallen by `min_drop` (relative), the learning rate is usually far off (too large:
    Adam's steps throw the encoder around; too small: nothing moves), or the encoder cannot learn.
    The warning is logged at once and kept in `warnings` (results.json, the final summary).
    """

    def __init__(self, warmup_steps: int = 500, window: int = 20, min_drop: float = 0.01) -> None:
        if not 0 < window <= warmup_steps // 2:
            raise ValueError(f"window={window} must be positive and at most half of warmup_steps={warmup_steps}")
        super().__init__()
        self.warmup_steps, self.window, self.min_drop = warmup_steps, window, min_drop
        self.first: list[torch.Tensor] = []
        self.last: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        step = trainer.global_step  # steps taken so far, this one included
        if step > self.warmup_steps:
            return
        loss = outputs["loss"].detach() if isinstance(outputs, dict) else outputs.detach()
        if step <= self.window:
            self.first.append(loss)
        elif step > self.warmup_steps - self.window:
            self.last.append(loss)
        if step == self.warmup_steps and len(self.first) == len(self.last) == self.window:
            self._compare(trainer, pl_module, float(torch.stack(self.first).mean()), float(torch.stack(self.last).mean()))

    def _compare(self, trainer: L.Trainer, pl_module: L.LightningModule, start: float, now: float) -> None:
        if now < start - self.min_drop * abs(start):
            return
        noise = getattr(pl_module.loss, "label_noise", 0.0)
        if noise >= 0.5:  # mostly random labels keep the loss near chance by design: no fault to report
            log.info("the training loss has barely fallen after %d steps (%.4g to %.4g), as expected with "
                     "loss.label_noise=%g", self.warmup_steps, start, now, noise)
            return
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        warning = (f"the training loss has not fallen after {self.warmup_steps} steps ({start:.4g} at the start, "
                   f"{now:.4g} now), so the encoder is learning nothing: the learning rate ({lr:g}) is likely far "
                   "too large or too small. Fix: e.g. optimizer.lr=3e-3 (the default).")
        log.warning(warning)
        self.warnings.append(warning)
