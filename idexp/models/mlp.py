"""The MLP encoder used throughout the synthetic experiments."""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"leaky_relu": nn.LeakyReLU, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


class MLP(nn.Module):
    """Fully connected encoder with optional batch norm and a fixed output normalisation.

    `hidden` lists the hidden widths in units of `width_unit`, so the papers' presets
    (``[10, 50, 50, 50, 50, 10]`` times the latent dimension) stay valid when ``dgp.dim`` changes.
    ``output="sphere"`` projects onto the unit sphere (cl-ica's fixed-radius output, needed by the
    dot-product InfoNCE and AnInfoNCE theory); ``"none"`` leaves f(x) unconstrained (CE paper);
    ``"block"`` makes the output layer a block like the hidden ones (Linear, BatchNorm, activation), as the
    CE paper's DisLib f_MLP, whose representation is its third block's output. `negative_slope` is the leaky
    ReLU's (PyTorch's 0.01; the IMA-VAE paper's nets use 0.2).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: list[int] = (256, 256, 256),
        width_unit: int = 1,
        activation: Literal["leaky_relu", "relu", "gelu", "silu"] = "leaky_relu",
        batch_norm: bool = False,
        output: Literal["none", "sphere", "block"] = "sphere",
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is unknown; choose one of {sorted(ACTIVATIONS)}")
        if output not in ("none", "sphere", "block"):
            raise ValueError(f"output={output!r} is unknown; choose 'none', 'sphere' or 'block'")
        widths = [in_dim, *(int(h) * width_unit for h in hidden)]
        make = (lambda: nn.LeakyReLU(negative_slope)) if activation == "leaky_relu" else ACTIVATIONS[activation]
        if min(widths) < 1:
            raise ValueError(f"hidden={list(hidden)} (x width_unit={width_unit}) has a layer of width < 1, which passes nothing on")
        layers: list[nn.Module] = [nn.Flatten()]  # images (N, C, H, W) enter as N x CHW vectors
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += _block(fan_in, fan_out, batch_norm, make)
        if output == "block":
            layers += _block(widths[-1], out_dim, batch_norm, make)
        else:
            layers.append(nn.Linear(widths[-1], out_dim))
        self.net = nn.Sequential(*layers)
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        return F.normalize(h, dim=-1) if self.output == "sphere" else h


def _block(fan_in: int, fan_out: int, batch_norm: bool, activation: Callable[[], nn.Module]) -> list[nn.Module]:
    return [nn.Linear(fan_in, fan_out), *([nn.BatchNorm1d(fan_out)] if batch_norm else []), activation()]
