"""Cross-entropy of a linear head on the representation: shared by supervised and instance losses."""

from functools import partial
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from idexp.losses.base import Logs, Loss, top1_accuracy


class LinearHeadCE(Loss):
    """logits = W f(x) (+ b), cross-entropy against the integer targets stored under ``target_key``."""

    target_key: ClassVar[str]

    def __init__(self, dim: int, n_outputs: int, bias: bool = False, lr: float | None = None) -> None:
        super().__init__()
        self.lr = lr
        self.head = nn.Linear(dim, n_outputs, bias=bias)

    @property
    def head_weight(self) -> Tensor:
        """W (detached), one row per target value."""
        return self.head.weight.detach()

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        logits = self.head(encoder(batch["x"]))
        targets = batch[self.target_key]
        return F.cross_entropy(logits, targets), {"loss/accuracy": partial(top1_accuracy, logits.detach(), targets)}
