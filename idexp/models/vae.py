"""A VAE's encoder q(z|x) = N(μ(x), diag σ²(x)), and the convolutional decoder of its image runs."""
from __future__ import annotations

from torch import Tensor, nn

from idexp.models.images import ConvNet
from idexp.models.mlp import MLP


class GaussianEncoder(nn.Module):
    """A network `net` whose 2 × `out_dim` outputs are the posterior's mean μ and log-variance log σ².

    `forward` returns μ, the code the probe fits and the IMA-VAE paper scores; `posterior` returns (μ, log σ²)
    for a loss that samples u = μ + σ ε (`loss=vae`). With `bounded`, for a prior on the unit cube (uniform,
    Beta), the latents are z = sigmoid(u) and the code is sigmoid(μ), in the decoder's input space. The presets
    build it from an MLP (`GaussianMLP`, model=vae_mlp) or the DisLib conv net (`GaussianConvNet`)."""

    def __init__(self, net: nn.Module, out_dim: int, bounded: bool = False) -> None:
        super().__init__()
        self.net, self.out_dim, self.bounded = net, out_dim, bounded

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.net(x).chunk(2, dim=-1)
        return mean, log_var

    def forward(self, x: Tensor) -> Tensor:
        mean = self.posterior(x)[0]
        return mean.sigmoid() if self.bounded else mean


class GaussianMLP(GaussianEncoder):
    """model=vae_mlp: an MLP (idexp.models.MLP's settings) giving the posterior's mean and log-variance."""

    def __init__(self, in_dim: int, out_dim: int, hidden: list[int] = (64, 64), width_unit: int = 1,
                 activation: str = "leaky_relu", negative_slope: float = 0.01, bounded: bool = False) -> None:
        net = MLP(in_dim, 2 * out_dim, hidden, width_unit, activation, output="none", negative_slope=negative_slope)
        super().__init__(net, out_dim, bounded)


class GaussianConvNet(GaussianEncoder):
    """model=vae_convnet: the DisLib conv net (idexp.models.ConvNet) giving the posterior's mean and log-variance."""

    def __init__(self, in_channels: int, out_dim: int, image_size: int = 64, bounded: bool = False) -> None:
        super().__init__(ConvNet(in_channels, 2 * out_dim, image_size), out_dim, bounded)


class ConvDecoder(nn.Module):
    """The mirror of idexp.models.ConvNet for 64 × 64 images: a 256-unit layer, then four 4 × 4 stride-2
    transposed convolutions (64, 64, 32, 32 channels) up to `out_shape` (C, H, W); no output nonlinearity
    (a Gaussian decoder's mean)."""

    def __init__(self, in_dim: int, out_shape: list[int]) -> None:
        super().__init__()
        channels, height, width = out_shape
        if height % 16 or width % 16:
            raise ValueError(f"out_shape={list(out_shape)}: the image's sides must be multiples of 16 (four "
                             "stride-2 transposed convolutions)")
        self.side = (height // 16, width // 16)
        widths = [64, 64, 32, 32]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths, [*widths[1:], channels]):
            layers += [nn.ConvTranspose2d(fan_in, fan_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.dense = nn.Sequential(nn.Linear(in_dim, 256), nn.ReLU(), nn.Linear(256, 64 * self.side[0] * self.side[1]),
                                   nn.ReLU())
        self.net = nn.Sequential(*layers[:-1])  # the last convolution's output is the mean itself

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.dense(z).view(-1, 64, *self.side))
