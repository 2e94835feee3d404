"""Agreement of learned and true per-dimension concentrations (e.g. AnInfoNCE's diagonal Lambda).

Latent dimensions are only identified up to permutation, so the two vectors are compared after
sorting both: for 1-D values, pairing them in sorted order is the matching with the least total
absolute error.
"""

import numpy as np
from scipy.stats import pearsonr


def _as_vector(values: np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=float)
    if vector.ndim != 1 or len(vector) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise ValueError(f"{name} contain NaN/inf")
    return vector


def lambda_agreement(learned: np.ndarray, true: np.ndarray) -> dict:
    """Pearson r and mean absolute error of the sorted learned vs sorted true values.

    `corr` is None when either vector is constant (an isotropic Lambda), since a correlation is
    then undefined.
    """
    learned = np.sort(_as_vector(learned, "learned lambdas"))
    true = np.sort(_as_vector(true, "true lambdas"))
    if learned.shape != true.shape:
        raise ValueError(
            f"learned and true lambdas differ in length: {len(learned)} vs {len(true)}"
        )
    is_constant = np.ptp(learned) == 0 or np.ptp(true) == 0
    corr = None if is_constant else float(pearsonr(learned, true).statistic)
    return {"corr": corr, "mae": float(np.abs(learned - true).mean())}
