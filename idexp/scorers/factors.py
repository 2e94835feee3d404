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
from idexp.ground_truth import Factor, Learned, ProbeData
from idexp.scorers.base import BASELINE, N_FIT, N_SCORE, PREFIX, Score, Scorer, fmt

# per factor (`probe/pearson/<factor>`), the summary's columns in order
PEARSON = Score("pearson", "Pearson r")
R2 = Score("r2", "R²")
ACCURACY = Score("acc", "accuracy")
PER_FACTOR = (PEARSON, R2, ACCURACY)
PEARSON_MEAN = Score("pearson_mean", "mean Pearson r over factors")  # the headline: CE paper Table 4's score


class FactorScores(Scorer):
    """Per factor: Pearson r and R² of a linear read-out, and for categorical factors the accuracy of a
    logistic regression, each fitted on the fit split (training images) and scored on the score split.

    The linear read-out follows the CE paper's evaluation: the target z-scored with the fit split's
    statistics, least squares without intercept (`ridge` only regularises columns that never vary, such as
    always-black pixels, where the paper uses a pseudo-inverse). A periodic factor (orientation, azimuth)
    is decoded as its sine and cosine, reported as `<name>_sin` and `<name>_cos`; the paper's Table 4
    leaves periodic factors out. Factors declared with one value (dSprites' one colour) have nothing to decode.

    Every score that cannot be computed comes with a warning in `warnings` naming its cause (a factor that
    is constant or not finite in a split, codes that are constant or not finite), never a bare "-". The
    probe scores the encoder's codes and then the raw inputs: `warnings` holds those of both (each warning
    once), and says which of the two is at fault.
    """

    headline = PEARSON_MEAN

    def __init__(self, ridge: float = 1e-6, logistic_max_iter: int = 300, logistic_samples: int = 20000) -> None:
        self.ridge = ridge
        self.logistic_max_iter = logistic_max_iter
        self.logistic_samples = logistic_samples  # the logistic fit is the slow part on wide raw inputs
        self.warnings: list[str] = []

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData, baseline: bool = False) -> dict:
        if baseline:
            inputs = f"the raw inputs (the {PREFIX}{BASELINE} scores)"
        else:
            self.warnings, inputs = [], "the encoder's codes"
        splits = {"fit": (len(data.fit.targets), data.fit.name), "score": (len(data.score.targets), data.score.name)}
        names, fit_targets, score_targets, problems = decoded_targets(data.factors, data.fit.targets, data.score.targets,
                                                                      splits)
        problems += _code_problems(inputs, {"fit": fit_codes, "score": score_codes}, splits)
        metrics = {}
        categorical = [(k, factor) for k, factor in enumerate(data.factors)  # a fit split of one class fits nothing
                       if factor.kind in ("categorical", "binary") and factor.size != 1
                       and _undefined("", data.fit.targets[:, k], splits["fit"], "fit") is None]
        if not names:
            pass
        elif not (np.isfinite(fit_codes).all() and np.isfinite(score_codes).all()):  # nothing can be scored
            metrics = {f"{score.name}/{name}": float("nan") for name in names for score in (PEARSON, R2)}
            metrics |= {f"{ACCURACY.name}/{factor.name}": float("nan") for _, factor in categorical}
        else:
            predicted, score_z = linear_readout(fit_codes, fit_targets, score_codes, score_targets, self.ridge)
            flat = not (_varying(fit_codes).any() and _varying(score_codes).any())  # codes that say nothing
            for k, name in enumerate(names):
                constant = flat or not _varying(predicted[:, k])
                metrics[f"{PEARSON.name}/{name}"] = (float("nan") if constant
                                                     else float(np.corrcoef(score_z[:, k], predicted[:, k])[0, 1]))
                metrics[f"{R2.name}/{name}"] = float(1 - ((score_z[:, k] - predicted[:, k]) ** 2).mean() / score_z[:, k].var())
                if constant and not any(problem.startswith(inputs) for problem in problems):
                    problems.append(f"the read-out of factor {name} from {inputs} predicts the same value for all "
                                    f"{splits['score'][0]} {splits['score'][1]}: its Pearson r is undefined")
            for k, factor in categorical:
                metrics[f"{ACCURACY.name}/{factor.name}"] = self._accuracy(fit_codes, data.fit.targets[:, k], score_codes,
                                                               data.score.targets[:, k])
        self.warnings += [problem for problem in problems if problem not in self.warnings]
        pearson = [value for name in names if np.isfinite(value := metrics.get(f"{PEARSON.name}/{name}", np.nan))]
        return metrics | {PEARSON_MEAN.name: float(np.mean(pearson)) if pearson else float("nan")}

    def _accuracy(self, fit_x: np.ndarray, fit_y: np.ndarray, score_x: np.ndarray, score_y: np.ndarray) -> float:
        # the targets are the classes' values (0.25, 0.5, ...): classify their indices, whatever the values
        classes = np.unique(np.concatenate([fit_y, score_y]), return_inverse=True)[1].reshape(-1)
        fit_y, score_y = classes[: len(fit_y)], classes[len(fit_y):]
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

    def plot(self, fit_codes, score_codes, data: ProbeData, metrics: dict, path: Path, learned: Learned) -> None:
        from idexp.plots import plot_factor_bars

        names = PEARSON.factors(metrics)
        plot_factor_bars(names, [metrics[PEARSON.of(name)] for name in names],
                         [metrics.get(PEARSON.of(name, baseline=True), np.nan) for name in names], path)

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        names = PEARSON.factors(metrics)
        if not names:
            return []
        n_fit, n_score = int(metrics.get(N_FIT.key, 0)), int(metrics.get(N_SCORE.key, 0))
        lines = [f"Factor probe (linear read-out fitted on {n_fit} samples, scored on {n_score} held-out ones; "
                 f"f: the {'trained' if trained else 'untrained'} encoder, x: the raw input):",
                 f"  {'factor':18s}" + "".join(f"{score.label + ' ' + side:>16s}" for score in PER_FACTOR for side in ("f", "x"))]
        for name in names:
            cells = [metrics.get(score.of(name, baseline)) for score in PER_FACTOR for baseline in (False, True)]
            lines.append(f"  {name:18s}" + "".join(f"{fmt(_finite(cell)):>16s}" for cell in cells))
        return lines


def _finite(value):
    return value if value is not None and np.isfinite(value) else None


def decoded_targets(factors: tuple[Factor, ...], fit: np.ndarray, score: np.ndarray,
                    splits: dict[str, tuple[int, str]] | None = None) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """The columns a linear read-out decodes: every factor not declared with a single value (a factor may list no
    values, as a continuous one drawn from a range), periodic ones as (sin, cos);
    and why any other column cannot be decoded. `splits` names the splits in those messages: {"fit": (n,
    "training images"), "score": (n, "validation images")}.

    A column that is constant (or not finite) in the fit split has nothing to fit a read-out to, and one that is
    constant in the score split has no variance to explain: both are left out, each with its reason. A factor
    declared with a single value (dSprites' colour) is left out silently: there is nothing to decode by design."""
    splits = splits or {"fit": (len(fit), "fit samples"), "score": (len(score), "score samples")}
    categorical = {factor.name for factor in factors if factor.kind in ("categorical", "binary")}
    columns = []
    for k, factor in enumerate(factors):
        if factor.size == 1:
            continue
        if factor.kind == "periodic":
            columns += [(f"{factor.name}_{name}", f"factor {factor.name}'s {word}", wave(fit[:, k]), wave(score[:, k]))
                        for name, word, wave in (("sin", "sine", np.sin), ("cos", "cosine", np.cos))]
        else:
            columns.append((factor.name, f"factor {factor.name}", fit[:, k], score[:, k]))
    kept, problems = [], []
    for name, label, *values in columns:
        reason = next(filter(None, (_undefined(label, column, splits[role], role, name in categorical)
                                    for role, column in zip(splits, values))), None)
        if reason is None:
            kept.append((name, *values))
        else:
            problems.append(reason)
    names = [name for name, _, _ in kept]
    stack = lambda i, n: np.stack([c[i] for c in kept], axis=1) if kept else np.zeros((n, 0))  # noqa: E731
    return names, stack(1, len(fit)), stack(2, len(score)), problems


def _undefined(label: str, column: np.ndarray, split: tuple[int, str], role: str, categorical: bool = False) -> str | None:
    """Why `column` (one decoded target in one split) cannot be scored, or None."""
    count, name = split
    scores = "Pearson r, R² and accuracy" if categorical else "Pearson r and R²"
    bad = int((~np.isfinite(column)).sum())
    if bad:
        return f"{label} is not finite (nan/inf) in {bad} of the {count} {name}: its {scores} are undefined"
    if len(column) and np.ptp(column) > 1e-8:
        return None
    if role == "fit":
        return f"{label} is constant in the {count} {name}: no read-out can be fitted, so its {scores} are undefined"
    return f"{label} is constant in the {count} {name}: Pearson r and R² are undefined"


def _code_problems(inputs: str, codes: dict[str, np.ndarray], splits: dict[str, tuple[int, str]]) -> list[str]:
    """Why codes carry nothing to score: not finite, or the same vector for every sample of a split."""
    problems = []
    for role, array in codes.items():
        count, name = splits[role]
        finite = np.isfinite(array).all(axis=1) if array.ndim == 2 else np.isfinite(array)
        if not finite.all():
            problems.append(f"{inputs} are not finite (nan/inf) for {int((~finite).sum())} of the {count} {name}: every "
                            "Pearson r, R² and accuracy of them is undefined")
        elif not _varying(array).any():
            problems.append(f"{inputs} are constant over the {count} {name} (the same vector for every one): no factor "
                            "can be read out of them; every Pearson r is undefined and every R² that of a constant "
                            "guess (about 0 or below)")
    return problems


def _varying(array: np.ndarray, rtol: float = 1e-5) -> np.ndarray:
    """Per column: whether it varies by more than float rounding (identical images through an encoder can
    differ in the last bits, depending on where in a batch they were)."""
    array = array.reshape(len(array), -1) if array.ndim != 1 else array[:, None]
    if not len(array):
        return np.zeros(array.shape[1], dtype=bool)
    return np.ptp(array, axis=0) > rtol * np.abs(array).max(axis=0)


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
