"""Latent spaces: where z lives, how to draw uniformly, and how to keep noisy samples inside."""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from idexp.dgp.sampling import SamplingError

NoiseSampler = Callable[[tuple[int, ...]], Tensor]
"""Draws i.i.d. noise of a given shape (on the device of its generator)."""

MAX_RESAMPLING_ROUNDS = 1000


def radial_norm(x: Tensor) -> Tensor:
    """|x| per row (keepdim), rescaled first so that |x|^2 neither overflows nor underflows."""
    largest = x.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    return (x / largest).norm(dim=-1, keepdim=True) * largest


def onto_sphere(x: Tensor) -> Tensor:
    """x / |x| per row, exact for every finite magnitude (F.normalize returns 0 above ~1e19 in float32)."""
    largest = x.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    return F.normalize(x / largest, dim=-1)


class Sphere:
    """The unit sphere S^{dim-1} in R^dim."""

    def __init__(self, dim: int):
        if not (whole(dim) and dim >= 2):
            raise ValueError(f"dim={dim!r} is impossible: the sphere S^(dim-1) needs dim >= 2. "
                             "Fix: dim=2 or more (the papers use 5 or 10).")
        self.dim = dim

    def uniform(self, n: int, generator: torch.Generator) -> Tensor:
        """Normalised standard Gaussians are uniform on the sphere (rotation invariance)."""
        return F.normalize(self._gaussian(n, generator), dim=-1)

    def center(self, device: torch.device | str = "cpu") -> Tensor:
        """The first basis vector e_1, the reference direction of concentrated marginals."""
        e1 = torch.zeros(self.dim, device=device)
        e1[0] = 1.0
        return e1

    def perturb(self, mean: Tensor, noise: NoiseSampler) -> Tensor:
        """Add noise in the ambient space, then project radially back onto the sphere."""
        return onto_sphere(mean + noise(tuple(mean.shape)))

    def _gaussian(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, self.dim, generator=generator, device=generator.device)

    def __repr__(self) -> str:
        return f"Sphere(dim={self.dim})"


class Box:
    """The axis-aligned box [low, high]^dim."""

    def __init__(self, dim: int, low: float = 0.0, high: float = 1.0):
        if not (whole(dim) and dim >= 1):
            raise ValueError(f"dim={dim!r} must be a whole number >= 1. Fix: e.g. dim=10.")
        if not low < high:
            raise ValueError(f"low={low!r} and high={high!r} leave the box empty. Fix: low < high, e.g. low=0.0, high=1.0.")
        self.dim, self.low, self.high = dim, low, high

    def uniform(self, n: int, generator: torch.Generator) -> Tensor:
        unit = torch.rand(n, self.dim, generator=generator, device=generator.device)
        return self.low + (self.high - self.low) * unit

    def center(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.full((self.dim,), (self.low + self.high) / 2, device=device)

    def contains(self, x: Tensor) -> Tensor:
        return (x >= self.low) & (x <= self.high)

    def perturb(self, mean: Tensor, noise: NoiseSampler) -> Tensor:
        """Truncate the noise per coordinate by redrawing only the coordinates that left the box.

        Since the noise is i.i.d. across coordinates, each coordinate ends up distributed as the
        noise around its mean truncated to [low, high].
        """
        x = mean + noise(tuple(mean.shape))
        for _ in range(MAX_RESAMPLING_ROUNDS):
            outside = ~self.contains(x)
            n_outside = int(outside.sum())
            if n_outside == 0:
                return x
            x[outside] = mean[outside] + noise((n_outside,))
        raise SamplingError(
            f"{self}: samples still outside after {MAX_RESAMPLING_ROUNDS} resampling rounds; "
            "is the mean inside the box and the noise scale comparable to the box size?"
        )

    def __repr__(self) -> str:
        return f"Box(dim={self.dim}, low={self.low}, high={self.high})"


class Euclidean:
    """All of R^dim, unbounded: it has no uniform distribution, so its latents come from a concentrated marginal
    around the origin (dgp/marginal=normal: Gaussian sources, as the IMA-VAE paper's MLP runs)."""

    low, high = -math.inf, math.inf  # nothing to truncate to

    def __init__(self, dim: int):
        if not (whole(dim) and dim >= 1):
            raise ValueError(f"dim={dim!r} must be a whole number >= 1. Fix: e.g. dim=3.")
        self.dim = dim

    def uniform(self, n: int, generator: torch.Generator) -> Tensor:
        raise ValueError(f"{self} has no uniform distribution. Fix: dgp/marginal=normal (or laplace, gennorm), "
                         "a marginal concentrated around the origin.")

    def center(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.zeros(self.dim, device=device)

    def perturb(self, mean: Tensor, noise: NoiseSampler) -> Tensor:
        return mean + noise(tuple(mean.shape))

    def __repr__(self) -> str:
        return f"Euclidean(dim={self.dim})"


Space = Sphere | Box | Euclidean


def whole(value) -> bool:
    """An integer, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)
