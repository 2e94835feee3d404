"""The IMA contrast (Gresele et al., NeurIPS 2021; Reizinger et al., NeurIPS 2022): how far a map's Jacobian is
from having orthogonal columns, the "independent mechanisms" the IMA principle asks of a mixing.

For a map f from d latents to D ≥ d observations, at a point z with Jacobian J = ∂f/∂z (D × d):

    c_IMA(f, z) = Σ_i log ‖J[:, i]‖ − ½ log det(JᵀJ)    (= … − log |det J| when D = d)

It is ≥ 0 (Hadamard's inequality), 0 exactly where the columns are orthogonal (any conformal map, a rotation
with per-latent scales), and unchanged by rescaling or permuting the latents. C_IMA is its mean over samples.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor


def local_ima_contrast(jacobians: Tensor) -> Tensor:
    """c_IMA of each Jacobian in a batch (n, D, d), computed in float64: (n,)."""
    jacobians = jacobians.double()
    column_norms = jacobians.norm(dim=-2).log().sum(dim=-1)
    _, log_volume = torch.linalg.slogdet(jacobians.mT @ jacobians)  # log det(JᵀJ) = 2 log |det J| for square J
    return column_norms - log_volume / 2


def ima_contrast(f: Callable[[Tensor], Tensor], latents: Tensor, chunk: int = 4096) -> float:
    """C_IMA of `f` (one sample (d,) to (D,), or batched, as an nn.Module is) over `latents` (n, d): the mean of the
    local contrast of its exact Jacobians (forward-mode autodiff), `chunk` samples at a time."""
    jacobian = torch.func.vmap(torch.func.jacfwd(f))
    with torch.no_grad(), warnings.catch_warnings():
        # torch ≥ 2.14 scripts its forward-mode decompositions on first use and warns that torch.jit.script is
        # deprecated (or unsupported, on Python 3.14): its own affair, and it would print amid every run's summary
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is", category=FutureWarning)
        values = torch.cat([local_ima_contrast(jacobian(part)) for part in latents.split(chunk)])
    return float(values.mean())
