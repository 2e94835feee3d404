"""The probe's contract: what a datamodule hands the probe, and what a scorer returns."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ProbeSplit:
    """Samples the probe fits on, or scores on: inputs in batches on the device, with their ground truth.

    `targets` is (n, K): the latents z of a DGP, or the factor values of a dataset (`factors` names them).
    """

    inputs: Iterable[torch.Tensor]
    targets: np.ndarray
    name: str  # what the samples are, for the summary: "fresh samples", "validation images"
    ids: list[str] | None = None  # the samples' identities (image file names): their codes may be cached on disk


@dataclass
class ProbeData:
    """What a datamodule's `probe_data(n_samples, train_fraction, device)` returns."""

    fit: ProbeSplit
    score: ProbeSplit | None  # None: the scorer draws its own splits from `fit` (ImageNet-X's repeated splits)
    factors: tuple = ()  # the dataset's `Factor`s, in target column order; empty for a DGP's latents


class Scorer:
    """One family of probe scores, computed for the encoder's codes and again for the raw inputs.

    `scores` returns un-prefixed metrics (the probe adds `probe/` and `probe/baseline_`); `extras` adds
    `probe/...` scores of the trained loss itself (heads, Λ); `summary` turns recorded metrics back into
    the final summary's lines, so a run skipped or re-scored later prints the same table.
    """

    # whether the raw inputs are scored too (`probe/baseline_...`); ImageNet's 150,528 pixels per image are
    # not a feature set: its input baseline is a model of its own (model=projection)
    baseline: bool = True

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData) -> dict:
        raise NotImplementedError

    def extras(self, metrics: dict, loss: torch.nn.Module, datamodule) -> dict:
        return {}

    def plot(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData, metrics: dict,
             path, loss: torch.nn.Module, datamodule) -> None:
        """Write probe.png; the first scorer of a run that has a figure draws it."""

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        """Lines of the final summary for these recorded metrics (none when they are not this scorer's)."""
        return []


def fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()
