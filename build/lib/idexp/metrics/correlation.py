"""Mean correlation coefficient (MCC): identifiability up to permutation and elementwise maps.

Each true latent is matched to a distinct code by the Hungarian algorithm on |correlation|
computed on the train split; the matched pairs are then scored on the test split, so that
picking the luckiest of many noise codes does not inflate the score.
"""

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

from idexp.metrics.validation import as_train_test

Method = Literal["pearson", "spearman"]
METHODS = ("pearson", "spearman")


def abs_correlation(latents: np.ndarray, codes: np.ndarray, method: Method) -> np.ndarray:
    """|corr(latent_i, code_j)| as a (d_latents, d_codes) matrix.

    Spearman is Pearson on ranks. A constant column carries no information about the other
    side, so its undefined correlation counts as 0.
    """
    if method == "spearman":
        latents, codes = rankdata(latents, axis=0), rankdata(codes, axis=0)
    n_latents = latents.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.corrcoef(latents, codes, rowvar=False)[:n_latents, n_latents:]
    return np.nan_to_num(np.abs(correlation), nan=0.0)


def mcc(
    codes_train: np.ndarray,
    latents_train: np.ndarray,
    codes_test: np.ndarray,
    latents_test: np.ndarray,
    method: Method = "pearson",
) -> dict:
    """Held-out mean |correlation| between each latent and its matched code.

    Codes may have more or fewer dimensions than latents. Per latent dimension i:
    `matching[i]` is the index of its code (-1 when codes have fewer dimensions and i is left
    unmatched) and `mcc_per_dim[i]` its test |correlation| (0 when unmatched). `mcc` is the mean
    of `mcc_per_dim`: the mean over matched pairs when codes have at least as many dimensions
    as latents, and lost latents count as 0 otherwise.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    splits = as_train_test(codes_train, latents_train, codes_test, latents_test)
    codes_train, latents_train, codes_test, latents_test = splits
    train_corr = abs_correlation(latents_train, codes_train, method)
    latent_index, code_index = linear_sum_assignment(train_corr, maximize=True)
    test_corr = abs_correlation(latents_test, codes_test, method)

    n_latents = latents_train.shape[1]
    matching = np.full(n_latents, -1)
    matching[latent_index] = code_index
    mcc_per_dim = np.zeros(n_latents)
    mcc_per_dim[latent_index] = test_corr[latent_index, code_index]
    return {
        "mcc": float(mcc_per_dim.mean()),
        "mcc_per_dim": mcc_per_dim.tolist(),
        "matching": matching.tolist(),
    }
