"""Generator-driven sampling primitives that torch.distributions does not offer.

torch.distributions samplers cannot take a torch.Generator, so reproducible sampling without
the global RNG needs these small building blocks.
"""

import math
from collections.abc import Callable

import torch
from torch import Tensor

Proposal = Callable[[Tensor], tuple[Tensor, Tensor]]
"""Maps row indices (k,) to one candidate per index (k, ...) and its acceptance mask (k,)."""

MAX_REJECTION_ROUNDS = 1000
MAX_CANDIDATES_PER_ROUND = 2**20


class SamplingError(RuntimeError):
    """The DGP's values leave (almost) nothing to accept: a batch cannot be made (noise far wider than its box)."""


def standard_gamma(
    concentration: float, shape: tuple[int, ...], generator: torch.Generator
) -> Tensor:
    """Gamma(concentration, rate=1) samples."""
    alpha = torch.full(shape, concentration, device=generator.device)
    return torch._standard_gamma(alpha, generator=generator)


def random_signs(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Independent fair +-1 signs."""
    bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
    return bits.float() * 2 - 1


def sample_by_rejection(propose: Proposal, n_rows: int, device: torch.device) -> Tensor:
    """Draw one accepted candidate for each of `n_rows` rows.

    Each round proposes several candidates for every still-pending row, as many as the acceptance
    rate observed so far says are needed for most of them to succeed, so Python loops over a
    handful of rounds, never over samples. Each row keeps its first accepted candidate. The rate
    is pooled over all rounds: a late round with a few unlucky rows must not look like a rate of 0.
    """
    pending = torch.arange(n_rows, device=device)
    result: Tensor | None = None
    copies, n_proposed, n_accepted = 1, 0, 0
    for _ in range(MAX_REJECTION_ROUNDS):
        n_pending = len(pending)
        candidates, accepted = propose(pending.repeat(copies))
        if result is None:
            result = candidates.new_empty((n_rows, *candidates.shape[1:]))
        accepted = accepted.view(copies, n_pending)
        first_accepted = accepted.int().argmax(dim=0)  # argmax returns the first maximum
        done = accepted.any(dim=0)
        chosen = candidates.view(copies, n_pending, *candidates.shape[1:])[
            first_accepted, torch.arange(n_pending, device=device)
        ]
        result[pending[done]] = chosen[done]
        pending = pending[~done]
        if len(pending) == 0:
            return result
        n_proposed, n_accepted = n_proposed + accepted.numel(), n_accepted + int(accepted.sum())
        copies = _copies_needed(n_accepted / n_proposed, len(pending))
    raise SamplingError(f"rejection sampling did not finish in {MAX_REJECTION_ROUNDS} rounds")


def _copies_needed(acceptance_rate: float, n_pending: int) -> int:
    """About 2 / p copies per row leave ~e^-2 of the rows pending: few rounds, little waste."""
    copies = math.ceil(2 / max(acceptance_rate, 1e-6))
    return max(1, min(copies, MAX_CANDIDATES_PER_ROUND // n_pending))
