"""Input checks shared by the metrics, so that a broken encoder fails loudly instead of silently."""

import numpy as np

# R² and correlations are undefined on fewer than two samples.
MIN_SAMPLES = 2


def as_samples(array: np.ndarray, name: str, where: str) -> np.ndarray:
    """Return `array` as a finite float matrix of shape (n, d)."""
    matrix = np.asarray(array, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d) ({where}), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contain NaN/inf ({where})")
    return matrix


def as_paired_samples(
    codes: np.ndarray, latents: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check finite (n, d) codes and latents with the same, sufficient number of samples."""
    codes = as_samples(codes, "encoder outputs", where)
    latents = as_samples(latents, "latents", where)
    if len(codes) != len(latents):
        raise ValueError(
            f"encoder outputs and latents must have the same number of samples ({where}), "
            f"got {len(codes)} and {len(latents)}"
        )
    if len(codes) < MIN_SAMPLES:
        raise ValueError(
            f"too few samples ({where}): need at least {MIN_SAMPLES}, got {len(codes)}"
        )
    return codes, latents


def as_train_test(
    codes_train: np.ndarray,
    latents_train: np.ndarray,
    codes_test: np.ndarray,
    latents_test: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check both splits and that they describe the same code and latent dimensions."""
    codes_train, latents_train = as_paired_samples(codes_train, latents_train, "train split")
    codes_test, latents_test = as_paired_samples(codes_test, latents_test, "test split")
    pairs = (("encoder outputs", codes_train, codes_test), ("latents", latents_train, latents_test))
    for name, train, test in pairs:
        if train.shape[1] != test.shape[1]:
            raise ValueError(
                f"{name} differ in dimension between train and test splits: "
                f"{train.shape[1]} vs {test.shape[1]}"
            )
    return codes_train, latents_train, codes_test, latents_test
