"""Marginals p(z): where anchors (or cluster vectors) lie in the latent space.

Every marginal has `sample(n, space, generator) -> (n, d)`, on the device of the generator.
"""

from typing import Protocol

import torch
from torch import Tensor

from idexp.dgp.conditionals import Conditional
from idexp.dgp.spaces import Space


class Marginal(Protocol):
    def sample(self, n: int, space: Space, generator: torch.Generator) -> Tensor: ...


class Uniform:
    """Uniform over the whole space."""

    def sample(self, n: int, space: Space, generator: torch.Generator) -> Tensor:
        return space.uniform(n, generator)

    def __repr__(self) -> str:
        return "Uniform()"


class Concentrated:
    """A conditional around the space's center (e_1 on the sphere, the midpoint of a box).

    This gives the non-uniform marginals of the cross-entropy paper, e.g. a projected Laplace
    around e_1 when `noise` is Laplace(scale=1.0).
    """

    def __init__(self, noise: Conditional):
        self.noise = noise

    def sample(self, n: int, space: Space, generator: torch.Generator) -> Tensor:
        centers = space.center(generator.device).expand(n, -1)
        return self.noise.sample(centers, space, generator)

    def __repr__(self) -> str:
        return f"Concentrated({self.noise!r})"
