"""Encoders f: observations x -> representations f(x)."""
from idexp.models.backbones import RandomProjection, backbone, resnet18
from idexp.models.images import ConvNet, Pixels
from idexp.models.mlp import MLP

__all__ = ["MLP", "ConvNet", "Pixels", "RandomProjection", "backbone", "resnet18"]
