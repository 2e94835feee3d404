"""The contract shared by all training losses, and the small helpers they have in common."""

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from idexp.ground_truth import Learned


Logs = dict[str, Tensor | Callable[[], Tensor]]
"""What a loss logs: {name: detached scalar, or a callable computing it on the logged steps alone}."""


class Loss(nn.Module):
    """A training objective evaluated on top of an encoder.

    A loss owns its own parameters (heads, concentrations, temperatures) and is called as
    ``loss(encoder, batch) -> (scalar loss, {name: detached scalar to log})``. A value that costs
    real work (an argmax over the logits) is given as a zero-argument callable instead: it is
    evaluated only on the steps that are logged.
    """

    requires: ClassVar[tuple[str, ...]] = ()
    """Batch keys the loss reads (a subset of x, x_pos, label, instance)."""

    lr: float | None = None
    """Learning rate of the loss's own parameters; None means the encoder's."""

    encoder_needs: ClassVar[tuple[str, ...]] = ()
    """Methods the encoder must define besides `forward` (a VAE's `posterior`): checked before any training."""

    def forward(self, encoder: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Logs]:
        raise NotImplementedError

    def learned(self) -> Learned:
        """What the loss has learned of the ground truth besides the encoder (a head's rows, a Λ): the probe
        compares it with the data's `Truth`."""
        return Learned()


def encode_pair(encoder: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Encode both views in a single forward pass: rows [0, B) come from x, rows [B, 2B) from x_pos.

    One call is faster than two, and BatchNorm then normalises with statistics over both views.
    """
    return encoder(torch.cat([batch["x"], batch["x_pos"]]))


def top1_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Fraction of rows whose largest logit is the target; stays on the device (no host sync)."""
    return (logits.argmax(dim=-1) == targets).float().mean().detach()
