"""Encoders f: observations x -> representations f(x)."""
from idexp.models.backbones import RandomProjection, backbone, resnet18
from idexp.models.images import ConvNet, Pixels
from idexp.models.mlp import MLP
from idexp.models.vae import ConvDecoder, GaussianConvNet, GaussianEncoder, GaussianMLP

__all__ = ["MLP", "ConvDecoder", "ConvNet", "GaussianConvNet", "GaussianEncoder", "GaussianMLP", "Pixels", "RandomProjection", "backbone", "resnet18"]
