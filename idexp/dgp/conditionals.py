"""Conditionals p(z_pos | z): how a positive (an "augmentation") is drawn around its anchor.

Every conditional has `sample(mean, space, generator)`: one draw per row of `mean` (n, d), on the
device of `mean`, float32, using only the given generator (which must live on that device).
"""

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from idexp.dgp.sampling import random_signs, sample_by_rejection, standard_gamma
from idexp.dgp.spaces import Space, Sphere


class Conditional(Protocol):
    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor: ...


def _require_sphere(space: Space, conditional: object) -> None:
    if not isinstance(space, Sphere):
        raise ValueError(f"{type(conditional).__name__} is defined on the sphere only, got {space}")


class VonMisesFisher:
    """vMF(mean, kappa) on the sphere, density proportional to exp(kappa <mean, z>).

    Exact sampler after Wood (1994): the component w = <mean, z> by rejection, a uniform tangent
    direction, and a Householder reflection that maps e_1 to each row's mean.
    """

    def __init__(self, kappa: float):
        if not kappa > 0:
            raise ValueError(f"VonMisesFisher needs kappa > 0, got {kappa}")
        self.kappa = float(kappa)

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        _require_sphere(space, self)
        n, dim = mean.shape
        w = self._sample_mean_component(n, dim, generator).unsqueeze(-1)
        gaussian = torch.randn(n, dim - 1, generator=generator, device=mean.device)
        tangent = F.normalize(gaussian, dim=-1)
        around_e1 = torch.cat([w, (1 - w**2).clamp_min(0).sqrt() * tangent], dim=-1)
        return _reflect_e1_onto(mean, around_e1)

    def _sample_mean_component(self, n: int, dim: int, generator: torch.Generator) -> Tensor:
        """Wood's rejection sampler for w = <mean, z>, density ~ exp(kappa w)(1 - w^2)^((d-3)/2)."""
        kappa, m = self.kappa, dim - 1
        b = m / (2 * kappa + math.sqrt(4 * kappa**2 + m**2))  # stable form of Wood's b
        x0 = (1 - b) / (1 + b)
        c = kappa * x0 + m * math.log(1 - x0**2)

        def propose(rows: Tensor) -> tuple[Tensor, Tensor]:
            k = (len(rows),)
            g1, g2 = standard_gamma(m / 2, k, generator), standard_gamma(m / 2, k, generator)
            beta = g1 / (g1 + g2)  # Beta(m/2, m/2)
            w = (1 - (1 + b) * beta) / (1 - (1 - b) * beta)
            log_u = torch.rand(k, generator=generator, device=generator.device).log()
            return w, kappa * w + m * torch.log1p(-x0 * w) - c >= log_u

        return sample_by_rejection(propose, n, generator.device)

    def __repr__(self) -> str:
        return f"VonMisesFisher(kappa={self.kappa})"


def _reflect_e1_onto(mean: Tensor, y: Tensor) -> Tensor:
    """Apply, per row, the Householder reflection H = I - 2uu^T/|u|^2 with u = e_1 - mean.

    H is orthogonal and maps e_1 to the (unit) mean, so it carries any distribution that is
    rotationally symmetric around e_1 to the same distribution around the mean. Where the mean
    equals e_1 to float precision, |u|^2 may underflow, and the identity does the job instead.
    """
    e1 = torch.zeros_like(mean[0])
    e1[0] = 1
    u = e1 - mean
    u_norm_sq = (u * u).sum(-1, keepdim=True)
    at_e1 = u_norm_sq < torch.finfo(u.dtype).eps ** 2
    reflected = y - 2 * u * (u * y).sum(-1, keepdim=True) / torch.where(at_e1, 1.0, u_norm_sq)
    return torch.where(at_e1, y, reflected)


class AnisotropicNormal:
    """AnInfoNCE's conditional: z_pos = (z + eps) / |z + eps| with eps_j ~ N(0, 1 / Lambda_j).

    Proposals are kept only if | |z + eps| - 1 | < threshold (None: keep all), which confines the
    positive to a thin shell before projecting it onto the sphere.
    """

    def __init__(
        self,
        dim: int,
        lambdas: Sequence[float] | str = "bimodal",
        low: float = 5.0,
        high: float = 25.0,
        threshold: float | None = 0.1,
    ):
        if threshold is not None and not threshold > 0:
            raise ValueError(f"AnisotropicNormal needs threshold > 0 or None, got {threshold}")
        self.lambdas = _precisions(dim, lambdas, low, high)
        self.threshold = threshold

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        _require_sphere(space, self)
        if mean.shape[-1] != len(self.lambdas):
            raise ValueError(f"mean has dim {mean.shape[-1]}, lambdas have {len(self.lambdas)}")
        std = self.lambdas.to(mean.device).rsqrt()
        max_deviation = math.inf if self.threshold is None else self.threshold

        def propose(rows: Tensor) -> tuple[Tensor, Tensor]:
            eps = std * torch.randn(len(rows), len(std), generator=generator, device=mean.device)
            x = mean[rows] + eps
            norm = x.norm(dim=-1, keepdim=True)
            accepted = (norm.squeeze(-1) - 1).abs() < max_deviation
            return x / norm, accepted

        return sample_by_rejection(propose, len(mean), mean.device)

    def __repr__(self) -> str:
        return f"AnisotropicNormal(lambdas={self.lambdas.tolist()}, threshold={self.threshold})"


def _precisions(dim: int, lambdas: Sequence[float] | str, low: float, high: float) -> Tensor:
    """Ground-truth precisions Lambda: explicit, "bimodal" (first dim // 2 high) or "linspace"."""
    if lambdas == "bimodal":
        values = torch.full((dim,), float(low))
        values[: dim // 2] = high
    elif lambdas == "linspace":
        values = torch.linspace(low, high, dim)
    elif isinstance(lambdas, str):
        raise ValueError(f"unknown lambdas {lambdas!r}; use a list, 'bimodal' or 'linspace'")
    else:
        values = torch.tensor([float(v) for v in lambdas])
        if len(values) != dim:
            raise ValueError(f"lambdas has {len(values)} entries, expected dim={dim}")
    if not (values > 0).all():
        raise ValueError(f"lambdas must be positive, got {values.tolist()}")
    return values.float()


class _IIDNoise:
    """Noise drawn i.i.d. per coordinate, added to the mean, then kept in the space."""

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        return space.perturb(mean, lambda shape: self.noise(shape, generator))

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        raise NotImplementedError


def _require_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")


class Normal(_IIDNoise):
    """Gaussian noise with standard deviation `scale`."""

    def __init__(self, scale: float):
        _require_positive(scale=scale)
        self.scale = float(scale)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        return self.scale * torch.randn(shape, generator=generator, device=generator.device)

    def __repr__(self) -> str:
        return f"Normal(scale={self.scale})"


class Laplace(_IIDNoise):
    """Laplace noise, density ~ exp(-|x| / scale): an exponential magnitude with a random sign."""

    def __init__(self, scale: float):
        _require_positive(scale=scale)
        self.scale = float(scale)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        magnitude = torch.empty(shape, device=generator.device).exponential_(generator=generator)
        return self.scale * magnitude * random_signs(shape, generator)

    def __repr__(self) -> str:
        return f"Laplace(scale={self.scale})"


class GeneralizedNormal(_IIDNoise):
    """Generalized normal noise, density ~ exp(-|x / scale|^beta).

    |x / scale|^beta is Gamma(1 / beta) distributed, so x = scale * G^(1 / beta) * sign.
    """

    def __init__(self, scale: float, beta: float):
        _require_positive(scale=scale, beta=beta)
        self.scale, self.beta = float(scale), float(beta)

    def noise(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        magnitude = standard_gamma(1 / self.beta, shape, generator) ** (1 / self.beta)
        return self.scale * magnitude * random_signs(shape, generator)

    def __repr__(self) -> str:
        return f"GeneralizedNormal(scale={self.scale}, beta={self.beta})"


class TruncatedLaplace:
    """The CE paper's truncated Laplace (its code's `--c-p 3`): every ambient coordinate is drawn from a
    Laplace(mean_j, scale) truncated to [-bound, bound], by inverting the CDF, then kept in the space.

    The bounds are absolute, as in the paper's code, so a coordinate near a bound has a one-sided
    tail. On the sphere the draw is projected back radially (the paper's code forgot to); in a box the
    interval is intersected with the box instead.
    """

    def __init__(self, scale: float, bound: float):
        _require_positive(scale=scale, bound=bound)
        self.scale, self.bound = float(scale), float(bound)

    def sample(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        x = self.ambient(mean, space, generator)
        return F.normalize(x, dim=-1) if isinstance(space, Sphere) else x

    def ambient(self, mean: Tensor, space: Space, generator: torch.Generator) -> Tensor:
        """The truncated draw in R^d, before the sphere's projection."""
        low, high = -self.bound, self.bound
        if not isinstance(space, Sphere):
            low, high = max(low, space.low), min(high, space.high)
        # float64 where the device has it (MPS has not); a coordinate whose interval lies mostly above its
        # mean is drawn mirrored, so that the CDF is always evaluated on the side where it is tiny, not ≈ 1
        dtype = torch.float32 if mean.device.type == "mps" else torch.float64
        mu = mean.to(dtype)
        mirrored = (low + high) / 2 > mu
        mu = torch.where(mirrored, -mu, mu)
        lower, upper = torch.where(mirrored, -high, low), torch.where(mirrored, -low, high)
        u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=dtype)
        cdf_lower = self._cdf(lower, mu)
        u = cdf_lower + u * (self._cdf(upper, mu) - cdf_lower)
        u = u.clamp(torch.finfo(dtype).tiny, 1 - torch.finfo(dtype).eps)
        x = torch.where(u < 0.5, mu + self.scale * torch.log(2 * u), mu - self.scale * torch.log(2 * (1 - u)))
        x = torch.where(mirrored, -x, x)
        return x.clamp(low, high).float()  # the clamp only absorbs float rounding at the bounds

    def _cdf(self, x: Tensor, mu: Tensor) -> Tensor:
        below = 0.5 * torch.exp((x - mu).clamp_max(0) / self.scale)
        above = 1 - 0.5 * torch.exp(-(x - mu).clamp_min(0) / self.scale)
        return torch.where(x < mu, below, above)

    def __repr__(self) -> str:
        return f"TruncatedLaplace(scale={self.scale}, bound={self.bound})"
