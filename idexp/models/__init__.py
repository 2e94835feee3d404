"""Encoders f: observations x -> representations f(x)."""
from idexp.models.backbones import RandomProjection, backbone, resnet18
from idexp.models.images import ConvNet, Pixels
from idexp.models.mlp import MLP
from idexp.models.vae import GaussianEncoder

__all__ = ["MLP", "ConvNet", "GaussianEncoder", "Pixels", "RandomProjection", "backbone", "resnet18"]
