"""The ground-truth contract: what every datamodule hands the probe, and what a loss has learned of it.

Every family fills the same types: a DGP's latents and a dataset's factors are both `targets` described by
`Factor`s, and a DGP's own truth beyond its latents (cluster vectors, Λ, κ) is plain arrays in `Truth`. So
no scorer, config check or entry point asks which family a run is, or reaches into another component.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

FactorKind = Literal["categorical", "continuous", "binary", "periodic"]


@dataclass(frozen=True)
class Factor:
    """One ground-truth factor of variation: its name (the dataset's own), kind and possible values.

    `values[c]` is the value of class c, in the dataset's class order (the file's or the index order);
    periodic values are angles in radians (their decoding uses sin and cos). A DGP's latent is a continuous
    factor with no list of values.
    """

    name: str
    kind: FactorKind
    values: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        return len(self.values)


def latent_factors(dim: int) -> tuple[Factor, ...]:
    """A DGP's latents z0..z(d-1) as factors (as the probe figure names them)."""
    return tuple(Factor(f"z{k}", "continuous") for k in range(dim))


@dataclass(frozen=True)
class Truth:
    """A DGP's own ground truth beside its latents, as the scores of its papers compare with it."""

    # per batch key of an index a loss may classify ("label", "instance"): the true vector of every index that
    # is ever drawn, in index order (CE paper Thm 1: a head's row i aligns with it)
    index_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    lambdas: np.ndarray | None = None  # Λ, the conditional's per-latent concentrations (AnInfoNCE)
    kappa: float | None = None  # the conditional's concentration κ (the CE paper's MAE_o compares with 1/κ)
    facts: dict[str, float] = field(default_factory=dict)  # numbers to record with the scores (mixing conditioning)
    mixing: Callable | None = None  # the DGP's g, z -> x (the IMA contrast of the true mixing)


@dataclass(frozen=True)
class Learned:
    """What a loss has learned of the ground truth besides the encoder (`Loss.learned()`)."""

    heads: dict[str, np.ndarray] = field(default_factory=dict)  # batch key a head classifies -> its rows, one per index
    lambdas: np.ndarray | None = None  # a learned Λ
    decoder: Callable | None = None  # a learned z -> x (a VAE's): its IMA contrast


@dataclass
class ProbeSplit:
    """Samples the probe fits on, or scores on: inputs in batches on the device, with their ground truth.

    `targets` is (n, K): the latents z of a DGP, or the factor classes of a dataset (`ProbeData.factors`
    describes the columns).
    """

    inputs: Iterable[torch.Tensor]
    targets: np.ndarray
    name: str  # what the samples are, for the summary: "fresh samples", "validation images"
    ids: list[str] | None = None  # the samples' identities (image file names): their codes may be cached on disk


@dataclass
class ProbeData:
    """What a datamodule's `probe_data(device)` returns (sized by its `probe_fit` and `probe_score`): everything a scorer reads."""

    fit: ProbeSplit
    score: ProbeSplit | None  # None: the scorer draws its own splits from `fit` (ImageNet-X's repeated splits)
    factors: tuple[Factor, ...]  # one per target column
    truth: Truth = field(default_factory=Truth)
