"""InfoNCE with in-batch negatives, with a dot-product or a negative Lp-distance similarity."""

import math
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idexp.losses.base import Logs, Loss, encode_pair, top1_accuracy


class InfoNCE(Loss):
    """Each anchor h_i = f(x_i) must pick its positive h⁺_i = f(x⁺_i) among candidates of the batch.

    ``negatives="positives"`` (CPC's form): the candidates are all B positives h⁺_j. ``negatives="anchors"``
    (cl-ica's official loss, Zimmermann et al. 2021): its own positive and every anchor h_j of the batch,
    the anchor itself included (a constant term: its self-similarity is 0 or ‖h_i‖²).
    Similarities: ``metric="dot"`` gives <h_i, h⁺_j>; ``metric="lp"`` gives -‖h_i - h⁺_j‖_p^p
    (the Lp-InfoNCE of Zimmermann et al. 2021). Logits are similarities / temperature.
    Representations are used as they come: normalising them (e.g. onto the sphere) is the job of
    the encoder's output layer, so the same loss serves the spherical and the unbounded settings.
    """

    requires = ("x", "x_pos")

    def __init__(
        self,
        temperature: float = 0.1,
        metric: Literal["dot", "lp"] = "dot",
        p: float = 2.0,
        learn_temperature: bool = False,
        lr: float | None = None,
        negatives: Literal["positives", "anchors"] = "positives",
    ) -> None:
        super().__init__()
        if metric not in ("dot", "lp"):
            raise ValueError(f"metric must be 'dot' or 'lp', got {metric!r}")
        if negatives not in ("positives", "anchors"):
            raise ValueError(f"negatives must be 'positives' (CPC) or 'anchors' (cl-ica), got {negatives!r}")
        self.negatives = negatives
        if not p > 0:
            raise ValueError(f"p={p} must be positive: -|f(x) - f(x+)|_p^p is a distance only for p > 0")
        self.metric, self.p, self.lr = metric, p, lr
        # log τ keeps a learned temperature positive; a fixed one is a buffer so it follows .to(device).
        log_temperature = torch.tensor(math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_temperature)
        else:
            self.register_buffer("log_temperature", log_temperature)

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def similarities(self, h: Tensor, h_pos: Tensor) -> Tensor:
        """B × B matrix of sim(h_i, h⁺_j)."""
        if self.metric == "dot":
            return h @ h_pos.T
        # cdist defines the gradient at zero distance as 0, also on its matmul path (p = 2, large B).
        return -torch.cdist(h, h_pos, p=self.p) ** self.p

    def pair_similarities(self, h: Tensor, h_pos: Tensor) -> Tensor:
        """The B similarities sim(h_i, h⁺_i) of the positive pairs."""
        if self.metric == "dot":
            return (h * h_pos).sum(-1)
        return -(h - h_pos).abs().pow(self.p).sum(-1)

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        h, h_pos = encode_pair(encoder, batch).chunk(2)
        if self.negatives == "positives":
            logits = self.similarities(h, h_pos) / self.temperature
            targets = torch.arange(len(logits), device=logits.device)
        else:  # column 0: the positive; then every anchor of the batch
            logits = torch.cat([self.pair_similarities(h, h_pos)[:, None], self.similarities(h, h)], 1) / self.temperature
            targets = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        logs = {"loss/temperature": self.temperature.detach(), "loss/accuracy": partial(top1_accuracy, logits.detach(), targets)}
        return F.cross_entropy(logits, targets), logs
