"""Synthetic data generating processes: latent spaces, marginals, conditionals, mixings."""

from idexp.dgp.conditionals import (
    AnisotropicNormal,
    GeneralizedNormal,
    Laplace,
    Normal,
    TruncatedLaplace,
    VonMisesFisher,
)
from idexp.dgp.marginals import Concentrated, Uniform
from idexp.dgp.mixing import InvertibleMLP, Moebius
from idexp.dgp.process import ClusterDGP, LatentDGP
from idexp.dgp.spaces import Box, Euclidean, Sphere

__all__ = [
    "AnisotropicNormal",
    "Box",
    "Euclidean",
    "ClusterDGP",
    "Concentrated",
    "GeneralizedNormal",
    "InvertibleMLP",
    "LatentDGP",
    "Laplace",
    "Moebius",
    "Normal",
    "Sphere",
    "TruncatedLaplace",
    "Uniform",
    "VonMisesFisher",
]
