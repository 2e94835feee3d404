"""DIET: parametric instance discrimination, i.e. classifying each sample's instance label."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idexp.losses.base import Logs
from idexp.losses.linear_head import LinearHeadCE


class DIET(LinearHeadCE):
    """Cross-entropy of a linear head W ∈ R^{n_instances × dim} against ``instance`` (CE paper, eq. 1).

    With ``normalize_rows`` the rows of W are projected in place onto the unit sphere before every
    forward pass, as in the paper's code: a projection step of projected gradient descent, not a
    reparametrisation, so gradients (and Adam's state) refer to the raw rows.
    """

    requires = ("x", "instance")
    target_key = "instance"

    def __init__(
        self,
        dim: int,
        n_instances: int,
        normalize_rows: bool = False,
        bias: bool = False,
        lr: float | None = None,
        label_noise: float = 0.0,
    ) -> None:
        super().__init__(dim, n_instances, bias=bias, lr=lr, label_noise=label_noise)
        self.normalize_rows = normalize_rows

    @torch.no_grad()
    def project_rows_to_sphere(self) -> None:
        self.head.weight.copy_(F.normalize(self.head.weight, dim=1))

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        if self.normalize_rows:
            self.project_rows_to_sphere()
        return super().forward(encoder, batch)
