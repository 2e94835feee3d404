"""Encoders f: observations x -> representations f(x)."""
from idexp.models.mlp import MLP

__all__ = ["MLP"]
