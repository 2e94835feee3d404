"""Encoders f: observations x -> representations f(x)."""
from idexp.models.images import ConvNet, Pixels, resnet18
from idexp.models.mlp import MLP

__all__ = ["MLP", "ConvNet", "Pixels", "resnet18"]
