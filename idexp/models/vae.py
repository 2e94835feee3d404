"""A VAE's encoder q(z|x) = N(μ(x), diag σ²(x)): the probe scores μ, the loss samples from the whole posterior."""
from __future__ import annotations

from torch import Tensor, nn

from idexp.models.mlp import MLP


class GaussianEncoder(nn.Module):
    """One MLP whose last layer gives the posterior's mean μ and log-variance log σ² (2 × `out_dim` outputs).

    `forward` returns μ, the code the probe fits and the IMA-VAE paper scores; `posterior` returns (μ, log σ²)
    for a loss that samples z = μ + σ ε (`loss=vae`)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: list[int] = (64, 64), width_unit: int = 1,
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = MLP(in_dim, 2 * out_dim, hidden, width_unit, activation, output="none")

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.net(x).chunk(2, dim=-1)
        return mean, log_var

    def forward(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]
