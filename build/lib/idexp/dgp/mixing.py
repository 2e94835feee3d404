"""The mixing g: a frozen, invertible, well-conditioned MLP, as in the cl-ica family of papers."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InvertibleMLP(nn.Module):
    """x = W_L s(... s(W_1 z)): square bias-free layers, s = LeakyReLU (invertible for slope > 0).

    Each W is drawn with entries U(-1, 1) and unit-norm columns, restricted to be well conditioned:
    its condition number must not exceed the `cond_threshold_ratio` quantile over `n_candidates`
    random matrices (ratio 0: their minimum). The weights are buffers, so they are frozen, move
    with `.to(device)` and are saved in the state dict.
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
        generator = generator if generator is not None else torch.Generator()  # fixed default seed
        layers = [
            _draw_well_conditioned(dim, cond_threshold_ratio, n_candidates, generator)
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


def _column_normalised_uniform(n: int, dim: int, generator: torch.Generator) -> Tensor:
    weights = 2 * torch.rand(n, dim, dim, generator=generator, device=generator.device) - 1
    return weights / weights.norm(dim=-2, keepdim=True)
