"""Identifiability metrics: pure functions, numpy arrays in, JSON-serialisable dicts out."""

from idexp.metrics.correlation import mcc
from idexp.metrics.lambdas import lambda_agreement
from idexp.metrics.linear import affine_r2, orthogonal_r2
from idexp.metrics.scores import identifiability_scores

__all__ = ["affine_r2", "identifiability_scores", "lambda_agreement", "mcc", "orthogonal_r2"]
