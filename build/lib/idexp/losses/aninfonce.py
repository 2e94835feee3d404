"""Anisotropic InfoNCE: InfoNCE whose similarity is a learned diagonal quadratic form."""

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from idexp.ground_truth import Learned
from idexp.losses.base import Logs, Loss, encode_pair, top1_accuracy


def weighted_similarities(z: Tensor, lambdas: Tensor) -> Tensor:
    """All pairs' -½ (a - b)ᵀ diag(Λ) (a - b) + ½ aᵀ diag(Λ) a, as one fused matmul (no N × N × d tensor).

    Row i is the true similarity shifted by ½ z_iᵀΛz_i, a constant per anchor, which the softmax
    over that anchor's candidates ignores: the loss is exactly AnInfoNCE's, at half the N × N work.
    """
    scaled = z * lambdas
    return torch.addmm((scaled * z).sum(dim=-1).mul(-0.5)[None, :], scaled, z.T)


class AnInfoNCE(Loss):
    """AnInfoNCE (Rusak et al. 2025) with similarity s(a, b) = -½ (a - b)ᵀ diag(Λ̂) (a - b), Λ̂ = softplus(λ).

    ``layout="symmetric"`` (NT-Xent): all 2B encoded samples (both views) are anchors; an anchor's
    positive is the other view of the same sample, its negatives the remaining 2B - 2 samples of both views.
    ``layout="official"`` (the official AnInfoNCE code): the second view's anchors take as cross-view
    negatives the *first* view's row, s(z1_i, z2_j) for j ≠ i, instead of s(z2_i, z1_j), so those
    negatives never contain the anchor itself. With Λ̂ = (2 / τ)·I the symmetric layout is Euclidean
    InfoNCE at temperature τ. Representations are used as they come (normalisation is the encoder's job;
    the official code also projects them onto the sphere). λ ~ N(0, init_std²) is drawn from torch's global RNG.
    """

    requires = ("x", "x_pos")

    def __init__(self, dim: int, lr: float | None = 1e-3, init_std: float = 0.1, layout: str = "symmetric") -> None:
        super().__init__()
        if layout not in ("symmetric", "official"):
            raise ValueError(f"layout must be 'symmetric' (NT-Xent) or 'official' (the AnInfoNCE code), got {layout!r}")
        self.lr, self.layout = lr, layout
        self.raw_lambdas = nn.Parameter(torch.randn(dim) * init_std)

    @property
    def lambdas(self) -> Tensor:
        """The current concentrations Λ̂ (detached)."""
        return F.softplus(self.raw_lambdas).detach()

    def learned(self) -> Learned:
        return Learned(lambdas=self.lambdas.float().cpu().numpy())

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        z = encode_pair(encoder, batch)
        lambdas = F.softplus(self.raw_lambdas)
        n = len(z)
        logits = weighted_similarities(z, lambdas)
        if self.layout == "official":
            logits = _official_layout(logits - 0.5 * (z * lambdas * z).sum(-1)[:, None])  # true s: rows get mixed
        logits = logits.fill_diagonal_(float("-inf"))  # an anchor is not its own candidate
        other_view = torch.arange(n, device=z.device).roll(n // 2)
        logs = {
            "loss/lambda_min": lambdas.min().detach(),
            "loss/lambda_max": lambdas.max().detach(),
            "loss/accuracy": partial(top1_accuracy, logits.detach(), other_view),
        }
        return F.cross_entropy(logits, other_view), logs


def _official_layout(similarities: Tensor) -> Tensor:
    """The official code's candidates: the second view's cross-view block, off its diagonal (the positives),
    is the first view's s(z1_i, z2_j) rather than s(z2_i, z1_j)."""
    b = len(similarities) // 2
    top, bottom = similarities[:b], similarities[b:]
    positives = torch.eye(b, dtype=torch.bool, device=similarities.device)
    cross = torch.where(positives, bottom[:, :b], top[:, b:])
    return torch.cat([top, torch.cat([cross, bottom[:, b:]], 1)], 0)
