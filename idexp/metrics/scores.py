"""All identifiability scores of one encoder from a single batch of (codes, latents) samples."""

import numpy as np

from idexp.metrics.correlation import mcc
from idexp.metrics.linear import affine_r2, orthogonal_r2
from idexp.metrics.validation import as_paired_samples


def identifiability_scores(
    codes: np.ndarray,
    latents: np.ndarray,
    train_fraction: float = 0.5,
    sv_target: float | None = None,
) -> dict:
    """Fit every probe on the first `train_fraction` of the samples and score on the rest.

    The split is not shuffled: the probe samples are drawn i.i.d. from the data generating
    process, so any contiguous split is a random one. `sv_target` is the singular value that
    `orthogonal_r2` compares with (None: scale-free). Returns flat, JSON-serialisable keys.
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    codes, latents = as_paired_samples(codes, latents, "input")
    n_train = int(len(codes) * train_fraction)
    return held_out_scores(codes[:n_train], latents[:n_train], codes[n_train:], latents[n_train:], sv_target)


def held_out_scores(codes_train: np.ndarray, latents_train: np.ndarray, codes_test: np.ndarray,
                    latents_test: np.ndarray, sv_target: float | None = None) -> dict:
    """Every probe fitted on the train samples and scored on the test samples (see `identifiability_scores`)."""
    splits = (codes_train, latents_train, codes_test, latents_test)
    affine = affine_r2(*splits)
    orthogonal = orthogonal_r2(*splits, target=sv_target)
    pearson = mcc(*splits, method="pearson")
    spearman = mcc(*splits, method="spearman")
    return {
        "r2_affine": affine["r2"],
        "r2_orthogonal": orthogonal["r2"],
        "sv_mae": orthogonal["sv_mae"],
        "mcc_pearson": pearson["mcc"],
        "mcc_spearman": spearman["mcc"],
        "r2_affine_per_dim": affine["r2_per_dim"],
        "sv_orthogonal": orthogonal["singular_values"],  # of the no-intercept map code -> z (for MAE_o)
        "mcc_pearson_per_dim": pearson["mcc_per_dim"],
        "code_norm": float(np.linalg.norm(codes_test, axis=1).mean()),  # mean |f(x)| (CE paper Fig. 4, right)
    }
