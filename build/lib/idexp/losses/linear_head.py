"""Cross-entropy of a linear head on the representation: shared by supervised and instance losses."""

from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idexp.ground_truth import Learned
from idexp.losses.base import Logs, Loss, top1_accuracy


class LinearHeadCE(Loss):
    """logits = W f(x) (+ b), cross-entropy against the integer targets stored under ``target_key``.

    With ``label_noise`` p > 0, each training target is replaced with probability p by one drawn uniformly
    from all n_outputs values (possibly itself), as in the CE paper's label-noise experiment (App. D, Fig. 6);
    evaluation (validation, probes) always sees the true targets.
    """

    target_key: ClassVar[str]

    def __init__(self, dim: int, n_outputs: int, bias: bool = False, lr: float | None = None,
                 label_noise: float = 0.0) -> None:
        super().__init__()
        if not 0 <= label_noise <= 1:
            raise ValueError(f"label_noise={label_noise} must be a probability in [0, 1] (0 = clean labels)")
        self.lr, self.label_noise = lr, float(label_noise)
        self.head = nn.Linear(dim, n_outputs, bias=bias)

    @property
    def head_weight(self) -> Tensor:
        """W (detached), one row per target value."""
        return self.head.weight.detach()

    def learned(self) -> Learned:
        """W, one row per target value, to compare with each value's true vector (CE paper Thm 1)."""
        return Learned(heads={self.target_key: self.head_weight.float().cpu().numpy()})

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        logits = self.head(encoder(batch["x"]))
        targets = batch[self.target_key]
        if self.training and self.label_noise > 0:
            targets = self.corrupt(targets)
        return F.cross_entropy(logits, targets), {"loss/accuracy": partial(top1_accuracy, logits.detach(), targets)}

    def corrupt(self, targets: Tensor) -> Tensor:
        """Replace each target with probability label_noise by a uniform draw over the head's outputs."""
        replaced = torch.rand(targets.shape, device=targets.device) < self.label_noise
        uniform = torch.randint(self.head.out_features, targets.shape, device=targets.device)
        return torch.where(replaced, uniform, targets)
