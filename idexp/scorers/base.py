"""What a scorer is, and how its scores are named: each score key is declared once, by the scorer that makes it.

The summary, W&B, the table builders, plots and the paper matching read these declarations (`Score.key`),
never a string of their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from idexp.ground_truth import Learned, ProbeData

PREFIX = "probe/"  # every probe score's key starts so (W&B groups them in one panel)
BASELINE = "baseline_"  # the same score of the raw inputs: what training gained is the difference


@dataclass(frozen=True)
class Score:
    """One recorded score: `probe/<name>` (and `probe/baseline_<name>` for the raw inputs); a per-factor score
    is recorded once per factor, `probe/<name>/<factor>`."""

    name: str
    label: str  # how tables, plots and the summary show it

    @property
    def key(self) -> str:
        return PREFIX + self.name

    @property
    def baseline_key(self) -> str:
        return PREFIX + BASELINE + self.name

    def of(self, factor: str, baseline: bool = False) -> str:
        """The key of this per-factor score for one factor."""
        return f"{self.baseline_key if baseline else self.key}/{factor}"

    def factors(self, metrics: dict) -> list[str]:
        """The factors this per-factor score was recorded for, in their order."""
        return [key.removeprefix(self.key + "/") for key in metrics if key.startswith(self.key + "/")]


# What every probe records about itself, whichever its scorers.
N_FIT = Score("n_fit", "samples fitted on")
N_SCORE = Score("n_score", "samples scored on")
SECONDS = Score("seconds", "probe seconds")
HEADLINE = Score("headline", "the headline score")  # the first scorer's `headline`, copied: what sweeps optimise


class Scorer:
    """One family of probe scores, computed for the encoder's codes and again for the raw inputs.

    `scores` and `extras` return their scores by declared name (`Score.name`; a per-factor score as
    `<name>/<factor>`), the probe adds the prefix; `extras` scores what the loss learned besides the encoder
    (heads, Λ) against the data's truth; `summary` turns recorded metrics back into the final summary's
    lines, so a run skipped or re-scored later prints the same table. `headline` is the one score a sweeper
    optimises (`train.py`'s return value).
    """

    headline: Score
    # whether the raw inputs are scored too (`probe/baseline_...`); ImageNet's 150,528 pixels per image are
    # not a feature set: its input baseline is a model of its own (model=projection)
    baseline: bool = True
    # whether a trained encoder scoring below the raw inputs means training failed (true of a DGP's latents;
    # not of image factors, where pixels can decode position better than a trained encoder)
    warns_below_baseline: bool = False
    warnings: list[str] = ()  # why a score is undefined (a constant factor, codes that are not finite)

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray | None, data: ProbeData,
               baseline: bool = False) -> dict:
        """`baseline`: the codes are the raw inputs (for the scorer's messages)."""
        raise NotImplementedError

    def stream(self, data: ProbeData, baseline: bool = False) -> Stream:
        """Where the probe sends inputs chunk by chunk (the raw-input baseline: 300,000 dSprites images are 4.9 GB
        as one float array). This default keeps the chunks and calls `scores` on the whole arrays; a scorer
        whose statistics add up over rows returns a stream of its own, so memory stays flat in the number of
        samples."""
        return Stream(self, data, baseline)

    def extras(self, metrics: dict, data: ProbeData, learned: Learned) -> dict:
        return {}

    def plot(self, fit_codes: np.ndarray, score_codes: np.ndarray | None, data: ProbeData, metrics: dict,
             path: Path, learned: Learned) -> None:
        """Write probe.png; the first scorer of a run that has a figure draws it."""

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        """Lines of the final summary for these recorded metrics (none when they are not this scorer's)."""
        return []

    def tables(self, metrics: dict) -> dict[str, tuple[list[str], list[list]]]:
        """Tables for W&B: name -> (columns, rows)."""
        return {}


class Stream:
    """Scores inputs that arrive in chunks: `fit` receives the fit split's chunks in order, then `score` the
    score split's (none when `data.score` is None), then `result` returns the scores, keyed as `Scorer.scores`'."""

    def __init__(self, scorer: Scorer, data: ProbeData, baseline: bool) -> None:
        self.scorer, self.data, self.baseline = scorer, data, baseline
        self.chunks: dict[str, list[np.ndarray]] = {"fit": [], "score": []}

    def fit(self, chunk: np.ndarray) -> None:
        self.chunks["fit"].append(chunk)

    def score(self, chunk: np.ndarray) -> None:
        self.chunks["score"].append(chunk)

    def result(self) -> dict:
        fit = np.concatenate(self.chunks["fit"])
        score = None if self.data.score is None else np.concatenate(self.chunks["score"])
        return self.scorer.scores(fit, score, self.data, baseline=self.baseline)


def fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()
