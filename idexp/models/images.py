"""Image encoders for the DisLib-style runs: raw pixels, a small conv net, and the CE paper's ResNet18."""
from __future__ import annotations

import torch
import torchvision
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


def resnet18(in_channels: int, out_dim: int = 512) -> nn.Module:
    """torchvision's ResNet18, randomly initialised, first convolution taking `in_channels`, no classifier:
    the CE paper's f_CNN, a 512-dimensional representation (`out_dim` states it for the loss's head)."""
    if out_dim != 512:
        raise ValueError(f"out_dim={out_dim}, but ResNet18's representation has 512 dimensions; keep model.out_dim=512")
    model = torchvision.models.resnet18(weights=None)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.fc = nn.Identity()
    return model
