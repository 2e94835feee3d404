"""Probe scorers: each family of scores a probe computes (chosen by the `probe` config group)."""
from idexp.scorers.base import ProbeData, ProbeSplit, Scorer
from idexp.scorers.factors import FactorScores
from idexp.scorers.imagenetx import ImageNetXScores
from idexp.scorers.latents import LatentScores

# Every scorer class, for turning recorded metrics back into summary lines.
SCORERS: tuple[type[Scorer], ...] = (LatentScores, FactorScores, ImageNetXScores)

__all__ = ["SCORERS", "FactorScores", "ImageNetXScores", "LatentScores", "ProbeData", "ProbeSplit", "Scorer"]
