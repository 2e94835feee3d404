"""The VAE's latent priors p(z), as the IMA-VAE paper's code defines them (Reizinger et al., NeurIPS 2022).

The encoder's posterior is a diagonal Gaussian over u. Under the standard normal prior z = u, and the KL term has
its closed form. Under a prior on the unit cube (uniform, Beta), z = sigmoid(u): the posterior of z is the
Gaussian pushed through the sigmoid (its density gains the change of variables 1 / sigmoid'(u)), and the KL term is
the one-sample estimate log q(z|x) − log p(z) at the reparameterised sample, as in the paper's code.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


class Prior:
    """p(z), and the KL term of the ELBO against the posterior N(mean, exp(log_var)) over u."""

    bounded = False
    """Whether z lives in the unit cube (z = sigmoid(u)): the encoder must then give its codes there too."""

    def latents(self, u: Tensor) -> Tensor:
        """The decoder's input z for a posterior sample u."""
        return u

    def kl(self, u: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
        """Per sample: KL(q(z|x) ‖ p(z)), exact or estimated at the sample u."""
        raise NotImplementedError


class NormalPrior(Prior):
    """N(0, I): the KL term in closed form."""

    def kl(self, u: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
        return 0.5 * (mean.square() + log_var.exp() - log_var - 1).sum(dim=-1)

    def __repr__(self) -> str:
        return "NormalPrior()"


class _UnitCubePrior(Prior):
    bounded = True

    def latents(self, u: Tensor) -> Tensor:
        return torch.sigmoid(u)

    def kl(self, u: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
        log_q_u = -0.5 * ((u - mean).square() / log_var.exp() + log_var + math.log(2 * math.pi))
        log_sigmoid_slope = F.logsigmoid(u) + F.logsigmoid(-u)  # log sigmoid'(u), without underflow
        return (log_q_u - log_sigmoid_slope - self.log_density(u)).sum(dim=-1)

    def log_density(self, u: Tensor) -> Tensor:
        """log p at z = sigmoid(u), per coordinate."""
        raise NotImplementedError


class UniformPrior(_UnitCubePrior):
    """Uniform on the unit cube: log p = 0 on its support, which z = sigmoid(u) never leaves."""

    def log_density(self, u: Tensor) -> Tensor:
        return torch.zeros_like(u)

    def __repr__(self) -> str:
        return "UniformPrior()"


class BetaPrior(_UnitCubePrior):
    """Beta(alpha, beta) in each coordinate. The paper's code adds 2 to the concentrations it is given, so its
    defaults (1, 1) are Beta(3, 3), the default here."""

    def __init__(self, alpha: float = 3.0, beta: float = 3.0) -> None:
        if not (alpha > 0 and beta > 0):
            raise ValueError(f"loss.prior.alpha={alpha!r}, loss.prior.beta={beta!r}: a Beta prior needs positive "
                             "concentrations. Fix: e.g. loss.prior.alpha=3 loss.prior.beta=3.")
        self.alpha, self.beta = float(alpha), float(beta)
        self.log_normaliser = math.lgamma(self.alpha) + math.lgamma(self.beta) - math.lgamma(self.alpha + self.beta)

    def log_density(self, u: Tensor) -> Tensor:
        # log z = logsigmoid(u) and log(1 − z) = logsigmoid(−u), stable where z is near 0 or 1
        return (self.alpha - 1) * F.logsigmoid(u) + (self.beta - 1) * F.logsigmoid(-u) - self.log_normaliser

    def __repr__(self) -> str:
        return f"BetaPrior(alpha={self.alpha}, beta={self.beta})"
