"""The mixing g: frozen and invertible. A well-conditioned MLP, as in the cl-ica family of papers (its weights
drawn as cl-ica's, orthogonal, or positive as the IMA-VAE paper's generic mixing), or a Möbius transformation,
the IMA-VAE paper's conformal mixing. Each says how it was drawn in `condition_numbers` (per layer)."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InvertibleMLP(nn.Module):
    """x = W_L s(... s(W_1 z)): square bias-free layers, s = LeakyReLU (invertible for slope > 0).

    Each W is drawn with entries U(-1, 1) and unit-norm columns, restricted to be well conditioned:
    its condition number must not exceed the `cond_threshold_ratio` quantile over `n_candidates`
    random matrices (ratio 0: their minimum). The weights are buffers, so they are frozen, move
    with `.to(device)` and are saved in the state dict.

    `weights="orthogonal"` draws each W uniformly among rotations (Haar), `"positive"` with entries U(1, 3),
    the IMA-VAE paper's generic (non-IMA) mixing whose columns are far from orthogonal; both ignore the
    conditioning settings.
    """

    weights: Tensor

    def __init__(
        self,
        dim: int,
        n_layers: int = 3,
        negative_slope: float = 0.2,
        cond_threshold_ratio: float = 0.25,
        n_candidates: int = 25000,
        generator: torch.Generator | None = None,
        weights: str = "uniform",
    ):
        super().__init__()
        if dim < 1 or n_layers < 1 or n_candidates < 1:
            raise ValueError(
                f"need dim, n_layers, n_candidates >= 1, got {dim}, {n_layers}, {n_candidates}"
            )
        if not negative_slope > 0:
            raise ValueError(f"negative_slope must be positive to invert, got {negative_slope}")
        if not 0 <= cond_threshold_ratio <= 1:
            raise ValueError(f"cond_threshold_ratio must lie in [0, 1], got {cond_threshold_ratio}")
        if weights not in WEIGHTS:
            raise ValueError(f"mixing.weights={weights!r} is not a way to draw the mixing's layers. "
                             f"Fix: dgp.mixing.weights=one of {', '.join(WEIGHTS)}.")
        generator = generator if generator is not None else torch.Generator()  # fixed default seed
        layers = [
            _draw_well_conditioned(dim, cond_threshold_ratio, n_candidates, generator) if weights == "uniform"
            else _unconstrained(WEIGHTS[weights](dim, generator))
            for _ in range(n_layers)
        ]
        self.dim, self.negative_slope = dim, negative_slope
        self.register_buffer("weights", torch.stack([weight for weight, _, _ in layers]))
        self.condition_numbers: list[float] = [cond for _, cond, _ in layers]
        self.condition_thresholds: list[float] = [threshold for _, _, threshold in layers]

    def forward(self, z: Tensor) -> Tensor:
        x = z @ self.weights[0].T
        for weight in self.weights[1:]:
            x = F.leaky_relu(x, self.negative_slope) @ weight.T
        return x

    def inverse(self, x: Tensor) -> Tensor:
        """Exact inverse of `forward` (up to floating point)."""
        z = torch.linalg.solve(self.weights[-1].T, x, left=False)
        for weight in self.weights.flip(0)[1:]:
            z = torch.where(z >= 0, z, z / self.negative_slope)
            z = torch.linalg.solve(weight.T, z, left=False)
        return z

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_layers={len(self.weights)}, negative_slope={self.negative_slope}"


class Moebius(nn.Module):
    """x = α R (z − a) / ‖z − a‖², a Möbius transformation (the IMA-VAE paper's ε = 2): conformal, so its Jacobian is
    a scaled rotation at every z and its IMA contrast is 0. R is a random rotation and every coordinate of the
    pole a lies beyond ±`pole_margin`, so the pole stays outside the box [−margin, margin]^d of the sources."""

    rotation: Tensor
    pole: Tensor

    def __init__(self, dim: int, alpha: float = 1.0, pole_margin: float = 0.5, generator: torch.Generator | None = None):
        super().__init__()
        if dim < 1 or not alpha > 0 or not pole_margin >= 0:
            raise ValueError(f"need dim >= 1, alpha > 0 and pole_margin >= 0, got {dim}, {alpha}, {pole_margin}")
        generator = generator if generator is not None else torch.Generator()
        self.dim, self.alpha = dim, alpha
        self.register_buffer("rotation", _haar_orthogonal(dim, generator))
        pole = torch.randn(dim, generator=generator)
        while (near := pole.abs() <= pole_margin).any():  # redraw the coordinates inside the margin
            pole = torch.where(near, torch.randn(dim, generator=generator), pole)
        self.register_buffer("pole", pole)
        self.condition_numbers = [1.0]  # of its Jacobian, at every point

    def forward(self, z: Tensor) -> Tensor:
        offset = z - self.pole
        return self.alpha * (offset / offset.square().sum(-1, keepdim=True)) @ self.rotation.T

    def inverse(self, x: Tensor) -> Tensor:
        """The inversion y ↦ y/‖y‖² is its own inverse."""
        y = x @ self.rotation / self.alpha
        return y / y.square().sum(-1, keepdim=True) + self.pole

    def extra_repr(self) -> str:
        return f"dim={self.dim}, alpha={self.alpha}, pole={[round(float(c), 3) for c in self.pole]}"


def _draw_well_conditioned(
    dim: int, ratio: float, n_candidates: int, generator: torch.Generator
) -> tuple[Tensor, float, float]:
    """One weight matrix, its condition number and the threshold it satisfies.

    Draws n_candidates + 1 matrices and picks uniformly among the k best conditioned, where
    k - 1 = floor(ratio * n_candidates) as in cl-ica's sorted-pool index. The pick never exceeds
    the threshold t = the k-th smallest condition number of the other n_candidates matrices.
    cl-ica instead fixes t from a pool and redraws until a matrix beats it; for ratio 0 that loop
    has an infinite expected number of draws (and yields a slightly deeper quantile, since it
    weights every pool equally however unlikely beating it is), while this costs one batched SVD.
    """
    candidates = _column_normalised_uniform(n_candidates + 1, dim, generator)
    conds, order = torch.linalg.cond(candidates).sort()
    k = min(int(ratio * n_candidates), n_candidates - 1) + 1
    pick = int(torch.randint(k, (), generator=generator, device=generator.device))
    return candidates[order[pick]], float(conds[pick]), float(conds[k])


def _haar_orthogonal(dim: int, generator: torch.Generator) -> Tensor:
    """A rotation drawn uniformly (Haar): QR of a Gaussian matrix, R's diagonal signs folded into Q."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, device=generator.device))
    return q * torch.sign(torch.diagonal(r))


def _positive(dim: int, generator: torch.Generator) -> Tensor:
    return 1 + 2 * torch.rand(dim, dim, generator=generator, device=generator.device)


def _unconstrained(weight: Tensor) -> tuple[Tensor, float, float]:
    """A layer drawn without a conditioning threshold: the weight, its condition number, no threshold."""
    return weight, float(torch.linalg.cond(weight)), float("inf")


WEIGHTS = {"uniform": None, "orthogonal": _haar_orthogonal, "positive": _positive}


def _column_normalised_uniform(n: int, dim: int, generator: torch.Generator) -> Tensor:
    weights = 2 * torch.rand(n, dim, dim, generator=generator, device=generator.device) - 1
    return weights / weights.norm(dim=-2, keepdim=True)
