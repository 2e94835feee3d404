"""The one LightningModule: an encoder trained by a loss that owns its own parameters."""
from __future__ import annotations

import functools
from collections.abc import Callable

import lightning as L
import torch
from torch import nn


class NonFiniteLossError(FloatingPointError):
    """Training diverged; carries a message that says what to change."""


class IdentifiabilityModule(L.LightningModule):
    """Trains `encoder` with `loss(encoder, batch)`; the loss may hold heads, Λ or a temperature.

    `optimizer` is a partial (Hydra `_partial_: true`) called with parameter groups: the encoder
    at the optimizer's learning rate, the loss's parameters at `loss.lr` when it sets one
    (AnInfoNCE learns Λ with its own rate). `scheduler`, when given, is a partial of a
    torch learning-rate scheduler, stepped after every training step; a cosine schedule with
    `T_max: null`, or -1 (the default `${trainer.max_steps}` of a run bounded by epochs), spans the whole
    run (an epoch-bounded run knows its steps only once it has data).
    """

    def __init__(self, encoder: nn.Module, loss: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None, finite_check_every: int = 50):
        super().__init__()
        self.encoder = encoder
        self.loss = loss
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.finite_check_every = finite_check_every

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logs = self.loss(self.encoder, batch)
        # Checking every k steps avoids a device sync per step; a NaN never recovers, so none is missed.
        if self.global_step % self.finite_check_every == 0 and not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at step {self.global_step}. "
                "Fix: lower optimizer.lr, raise loss.temperature, or check the DGP parameters."
            )
        # Lightning writes logs every `log_every_n_steps` steps, yet each self.log call costs ~0.5 ms of
        # bookkeeping on a CPU (≈15% of a default step); so log only on the steps that are written.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("train/loss", loss, prog_bar=True)
            self.log_dict({f"train/{key}": value() if callable(value) else value for key, value in logs.items()})
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """A finite dataset's validation split: the loss and, for a classifier, its accuracy (`val/accuracy`
        selects the best checkpoint and stops training early, as in the CE paper's DisLib runs)."""
        loss, logs = self.loss(self.encoder, batch)
        size = len(batch["x"])
        self.log("val/loss", loss, batch_size=size, sync_dist=True)
        if (accuracy := logs.get("loss/accuracy")) is not None:
            self.log("val/accuracy", accuracy() if callable(accuracy) else accuracy, batch_size=size, sync_dist=True, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        groups = [{"params": self.encoder.parameters()}]
        loss_params = [p for p in self.loss.parameters() if p.requires_grad]
        if loss_params:
            lr = getattr(self.loss, "lr", None)
            groups.append({"params": loss_params, **({"lr": lr} if lr is not None else {})})
        optimizer = self.optimizer(groups)
        if self.scheduler is None:
            return optimizer
        scheduler = self.scheduler
        if isinstance(scheduler, functools.partial) and scheduler.keywords.get("T_max", 0) in (None, -1):
            scheduler = functools.partial(scheduler, T_max=int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler(optimizer), "interval": "step"}}
