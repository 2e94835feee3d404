"""Identifiability metrics: pure functions, numpy arrays in, JSON-serialisable dicts out."""

from idexp.metrics.correlation import mcc
from idexp.metrics.lambdas import lambda_agreement
from idexp.metrics.linear import affine_r2, orthogonal_r2

__all__ = ["affine_r2", "lambda_agreement", "mcc", "orthogonal_r2"]
