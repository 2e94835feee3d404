"""Linear probes: how well a linear map of the encoder outputs predicts the true latents.

Both probes are fitted on the train split and scored on the disjoint test split; scoring in-sample
rewards overfitting (a wide enough random code reaches R² = 1 on its own training data).
"""

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from idexp.metrics.validation import as_train_test


def _held_out_r2(
    codes_train: np.ndarray,
    latents_train: np.ndarray,
    codes_test: np.ndarray,
    latents_test: np.ndarray,
    fit_intercept: bool,
) -> tuple[LinearRegression, np.ndarray]:
    """Fit codes -> latents on train; return the probe and the per-latent R² on test."""
    splits = as_train_test(codes_train, latents_train, codes_test, latents_test)
    codes_train, latents_train, codes_test, latents_test = splits
    probe = LinearRegression(fit_intercept=fit_intercept).fit(codes_train, latents_train)
    r2_per_dim = r2_score(latents_test, probe.predict(codes_test), multioutput="raw_values")
    return probe, r2_per_dim


def affine_r2(
    codes_train: np.ndarray,
    latents_train: np.ndarray,
    codes_test: np.ndarray,
    latents_test: np.ndarray,
) -> dict:
    """Held-out R² of an affine map (with intercept) from codes to latents.

    Identifiability up to an invertible affine map gives R² = 1. `r2` is the uniform average of
    `r2_per_dim` (one value per latent dimension).
    """
    _, r2_per_dim = _held_out_r2(
        codes_train, latents_train, codes_test, latents_test, fit_intercept=True
    )
    return {"r2": float(r2_per_dim.mean()), "r2_per_dim": r2_per_dim.tolist()}


def orthogonal_r2(
    codes_train: np.ndarray,
    latents_train: np.ndarray,
    codes_test: np.ndarray,
    latents_test: np.ndarray,
    target: float | None = None,
) -> dict:
    """Held-out R² of a linear map without intercept, and its distance from an orthogonal map.

    The probe A (latents ≈ A @ code, fitted on train) is an orthogonal map up to the scale
    `target` exactly when all its singular values sigma_k equal `target`. We report

        sv_mae = mean_k |sigma_k / target - 1|,

    a relative error, over the min(d_latents, d_codes) singular values of A.

    - `target=None` (default) uses the mean singular value: a scale-free distance from a *scaled*
      orthogonal map, for losses whose representation scale is arbitrary.
    - `target=1/kappa` checks the cross-entropy paper's prediction h = kappa * O (its Tab. 2 "MAE"
      column). That paper's code reports the absolute error mean_k |sigma_k - 1/kappa|, which
      equals `target * sv_mae`; it also fits A on all samples, whereas we fit on train only.

    `sv_mae` is None when A is zero (constant-zero codes), as no scale can be compared.
    """
    if target is not None and target <= 0:
        raise ValueError(f"target singular value must be positive, got {target}")
    probe, r2_per_dim = _held_out_r2(
        codes_train, latents_train, codes_test, latents_test, fit_intercept=False
    )
    singular_values = np.linalg.svd(probe.coef_, compute_uv=False)
    scale = singular_values.mean() if target is None else target
    sv_mae = float(np.abs(singular_values / scale - 1).mean()) if scale > 0 else None
    return {
        "r2": float(r2_per_dim.mean()),
        "r2_per_dim": r2_per_dim.tolist(),
        "sv_mae": sv_mae,
        "singular_values": singular_values.tolist(),
    }
