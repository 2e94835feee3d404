"""Probe scorers: each family of scores a probe computes (chosen by the `probe` config group)."""
import math

from idexp.scorers.base import HEADLINE, Score, Scorer
from idexp.scorers.disentanglement import DisentanglementScores
from idexp.scorers.factors import FactorScores
from idexp.scorers.imagenetx import ImageNetXScores
from idexp.scorers.ima import IMAScores
from idexp.scorers.latents import LatentScores

# Every packaged scorer class, for turning recorded metrics back into summary lines.
SCORERS: tuple[type[Scorer], ...] = (LatentScores, FactorScores, ImageNetXScores, DisentanglementScores, IMAScores)



def headline(metrics: dict) -> float | None:
    """The run's headline score, the value a sweeper optimises (recorded as `probe/headline`; a record from
    before it was kept gives its scorer's headline); None where it is missing or not finite, which Hydra's
    Optuna sweeper records as a failed trial (a NaN would stop the whole search)."""
    if HEADLINE.key in metrics:
        value = metrics[HEADLINE.key]
    else:
        value = next((metrics[scorer.headline.key] for scorer in SCORERS if scorer.headline.key in metrics), None)
    return float(value) if value is not None and math.isfinite(value) else None


__all__ = ["SCORERS", "DisentanglementScores", "FactorScores", "IMAScores", "ImageNetXScores", "LatentScores", "Score", "Scorer", "headline"]
