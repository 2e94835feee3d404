"""Per-factor linear decoding of a dataset's ground-truth factors (CE paper Table 4's protocol)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from idexp.data.cache import chunks
from idexp.data.factors import Factor
from idexp.scorers.base import ProbeData, Scorer, fmt

METRICS = (("pearson", "Pearson r"), ("r2", "R²"), ("acc", "accuracy"))


class FactorScores(Scorer):
    """Per factor: Pearson r and R² of a linear read-out, and for categorical factors the accuracy of a
    logistic regression, each fitted on the fit split (training images) and scored on the score split.

    The linear read-out follows the CE paper's evaluation: the target z-scored with the fit split's
    statistics, least squares without intercept (`ridge` only regularises columns that never vary, such as
    always-black pixels, where the paper uses a pseudo-inverse). A periodic factor (orientation, azimuth)
    is decoded as its sine and cosine, reported as `<name>_sin` and `<name>_cos`; the paper's Table 4
    leaves periodic factors out. Constant factors (dSprites' one colour) have nothing to decode.
    """

    def __init__(self, ridge: float = 1e-6, logistic_max_iter: int = 300, logistic_samples: int = 20000) -> None:
        self.ridge = ridge
        self.logistic_max_iter = logistic_max_iter
        self.logistic_samples = logistic_samples  # the logistic fit is the slow part on wide raw inputs

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData) -> dict:
        names, fit_targets, score_targets = decoded_targets(data.factors, data.fit.targets, data.score.targets)
        predicted, score_z = linear_readout(fit_codes, fit_targets, score_codes, score_targets, self.ridge)
        metrics = {}
        for k, name in enumerate(names):
            metrics[f"pearson/{name}"] = float(np.corrcoef(score_z[:, k], predicted[:, k])[0, 1])
            metrics[f"r2/{name}"] = float(1 - ((score_z[:, k] - predicted[:, k]) ** 2).mean() / score_z[:, k].var())
        for k, factor in enumerate(data.factors):
            if factor.kind in ("categorical", "binary") and factor.size > 1:
                metrics[f"acc/{factor.name}"] = self._accuracy(fit_codes, data.fit.targets[:, k], score_codes,
                                                               data.score.targets[:, k])
        return metrics

    def _accuracy(self, fit_x: np.ndarray, fit_y: np.ndarray, score_x: np.ndarray, score_y: np.ndarray) -> float:
        if len(fit_x) > self.logistic_samples:  # a seeded random subset: the fit rows may be in index order
            rows = np.sort(np.random.default_rng(0).choice(len(fit_x), self.logistic_samples, replace=False))
            fit_x, fit_y = fit_x[rows], fit_y[rows]
        if len(np.unique(fit_y)) < 2:
            return float("nan")
        scaler = StandardScaler().fit(fit_x)
        with warnings.catch_warnings():  # stopped at max_iter, the accuracy is still a held-out lower bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(max_iter=self.logistic_max_iter).fit(scaler.transform(fit_x), fit_y)
        return float(model.score(scaler.transform(score_x), score_y))

    def plot(self, fit_codes, score_codes, data: ProbeData, metrics: dict, path: Path, loss, datamodule) -> None:
        from idexp.plots import plot_factor_bars

        plot_factor_bars(metrics, path)

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        names = [key.removeprefix("probe/pearson/") for key in metrics if key.startswith("probe/pearson/")]
        if not names:
            return []
        n_fit, n_score = int(metrics.get("probe/n_fit", 0)), int(metrics.get("probe/n_score", 0))
        lines = [f"Factor probe (linear read-out fitted on {n_fit} training images, scored on {n_score} validation images; "
                 f"f: the {'trained' if trained else 'untrained'} encoder, x: the raw input):",
                 f"  {'factor':18s}" + "".join(f"{label + ' ' + side:>16s}" for _, label in METRICS for side in ("f", "x"))]
        for name in names:
            cells = [metrics.get(f"probe/{prefix}{metric}/{name}") for metric, _ in METRICS for prefix in ("", "baseline_")]
            lines.append(f"  {name:18s}" + "".join(f"{fmt(_finite(cell)):>16s}" for cell in cells))
        return lines


def _finite(value):
    return value if value is not None and np.isfinite(value) else None


def decoded_targets(factors: tuple[Factor, ...], fit: np.ndarray, score: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The columns a linear read-out decodes: every factor with more than one value, periodic ones as (sin, cos)."""
    columns = []
    for k, factor in enumerate(factors):
        if factor.kind == "periodic":
            columns += [(f"{factor.name}_{name}", wave(fit[:, k]), wave(score[:, k]))
                        for name, wave in (("sin", np.sin), ("cos", np.cos))]
        else:
            columns.append((factor.name, fit[:, k], score[:, k]))
    # a column the fit split never varies (a one-value factor; the sine of 0 and 2π) has nothing to decode
    columns = [column for column in columns if np.ptp(column[1]) > 1e-8 and np.ptp(column[2]) > 1e-8]
    names = [name for name, _, _ in columns]
    return names, np.stack([c[1] for c in columns], axis=1), np.stack([c[2] for c in columns], axis=1)


def linear_readout(fit_x: np.ndarray, fit_y: np.ndarray, score_x: np.ndarray, score_y: np.ndarray,
                   ridge: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Least squares without intercept from x to the fit-standardised y (all targets in one solve);
    returns the score split's predictions and its standardised targets."""
    mean, std = fit_y.mean(axis=0), fit_y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    targets = torch.as_tensor((fit_y - mean) / std, dtype=torch.float64)
    gram = torch.zeros(fit_x.shape[1], fit_x.shape[1], dtype=torch.float64)
    moments = torch.zeros(fit_x.shape[1], targets.shape[1], dtype=torch.float64)
    for rows in chunks(len(fit_x), CHUNK):  # float32 products of one chunk, summed in float64: fast, no big copy
        x = torch.as_tensor(fit_x[rows], dtype=torch.float32)
        gram += (x.T @ x).double()
        moments += x.double().T @ targets[rows]
    gram += torch.eye(len(gram), dtype=gram.dtype) * ridge * max(float(gram.diagonal().mean()), 1e-12)
    beta = torch.linalg.solve(gram, moments)
    predicted = np.concatenate([(torch.as_tensor(score_x[rows], dtype=torch.float64) @ beta).numpy()
                                for rows in chunks(len(score_x), CHUNK)])
    return predicted, (score_y - mean) / std


CHUNK = 4096
