"""Image encoders for the DisLib-style runs: raw pixels and a small conv net (ResNets: idexp.models.backbones)."""
from __future__ import annotations

import torch
from torch import nn


class Pixels(nn.Module):
    """The raw input as its own representation (flattened pixels): the untrained baseline x of Table 4.
    `out_dim` is the flattened input size (what a loss head on top of it reads from the config)."""

    def __init__(self, out_dim: int | None = None) -> None:
        super().__init__()
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class ConvNet(nn.Module):
    """The standard DisLib encoder for 64x64 images: four 4x4 stride-2 convolutions (32, 32, 64, 64 channels),
    a 256-unit layer, then a linear map to `out_dim`. Small enough to train on a CPU."""

    def __init__(self, in_channels: int, out_dim: int = 256, image_size: int = 64) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size={image_size} must be a multiple of 16 (four stride-2 convolutions)")
        channels = [in_channels, 32, 32, 64, 64]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(fan_in, fan_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        side = image_size // 16
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * side * side, 256), nn.ReLU(), nn.Linear(256, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
