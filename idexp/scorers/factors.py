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
from idexp.scorers.base import BASELINE, N_FIT, N_SCORE, PREFIX, Score, Scorer, Stream, fmt

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
        stream = self.stream(data, baseline)
        for rows in chunks(len(fit_codes), CHUNK):
            stream.fit(fit_codes[rows])
        for rows in chunks(len(score_codes), CHUNK):
            stream.score(score_codes[rows])
        return stream.result()

    def stream(self, data: ProbeData, baseline: bool = False) -> FactorReadout:
        if not baseline:  # the encoder's codes are scored first: a new probe's warnings
            self.warnings = []
        return FactorReadout(self, data, baseline)

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


class FactorReadout(Stream):
    """`FactorScores` over chunks of rows. It keeps the read-out's Gram matrix and moments (D × D and D × T),
    each split's column ranges, the logistic regression's seeded subset of fit rows (`logistic_samples` × D)
    and the score split's predictions (n × T): memory does not grow with the fit split, so 300,000 raw
    dSprites images (4096 pixels each) are read out in the memory of 20,000."""

    def __init__(self, scorer: FactorScores, data: ProbeData, baseline: bool) -> None:
        super().__init__(scorer, data, baseline)
        self.inputs = f"the raw inputs (the {PREFIX}{BASELINE} scores)" if baseline else "the encoder's codes"
        self.splits = {"fit": (len(data.fit.targets), data.fit.name),
                       "score": (len(data.score.targets), data.score.name)}
        self.names, fit_targets, self.score_targets, self.problems = decoded_targets(
            data.factors, data.fit.targets, data.score.targets, self.splits)
        self.mean, std = fit_targets.mean(axis=0), fit_targets.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.fit_z = torch.as_tensor((fit_targets - self.mean) / self.std, dtype=torch.float64)
        self.categorical = [(k, factor) for k, factor in enumerate(data.factors)  # a fit split of one class fits nothing
                            if factor.kind in ("categorical", "binary") and factor.size != 1
                            and _undefined("", data.fit.targets[:, k], self.splits["fit"], "fit") is None]
        n_fit = len(fit_targets)
        # the logistic regression's rows: a seeded random subset (the fit rows may be in index order)
        self.logistic_rows = (np.sort(np.random.default_rng(0).choice(n_fit, scorer.logistic_samples, replace=False))
                              if n_fit > scorer.logistic_samples else np.arange(n_fit))
        self.columns = {"fit": _Columns(), "score": _Columns()}
        self.gram = self.moments = self.beta = None
        self.picked: np.ndarray | None = None  # the logistic rows' inputs (float32: scikit-learn fits them without a copy)
        self.predicted: list[np.ndarray] = []
        self.classifiers: dict[int, tuple | None] = {}
        self.correct = {k: 0 for k, _ in self.categorical}

    @property
    def broken(self) -> bool:
        """Inputs that are not finite: nothing of them can be scored."""
        return any(columns.bad for columns in self.columns.values())

    def fit(self, chunk: np.ndarray) -> None:
        start = self.columns["fit"].rows
        self.columns["fit"].add(chunk)
        if self.broken or not self.names or not len(chunk):
            return
        x = torch.as_tensor(chunk, dtype=torch.float32)
        if self.gram is None:
            self.gram = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
            self.moments = torch.zeros(x.shape[1], len(self.names), dtype=torch.float64)
        self.gram += (x.T @ x).double()  # float32 products of one chunk, summed in float64: fast and exact enough
        self.moments += x.double().T @ self.fit_z[start:start + len(chunk)]
        if self.categorical:
            if self.picked is None:
                self.picked = np.empty((len(self.logistic_rows), x.shape[1]), dtype=np.float32)
            at = np.searchsorted(self.logistic_rows, [start, start + len(chunk)])
            self.picked[at[0]:at[1]] = chunk[self.logistic_rows[at[0]:at[1]] - start]

    def score(self, chunk: np.ndarray) -> None:
        start = self.columns["score"].rows
        self.columns["score"].add(chunk)
        if self.broken or not self.names or not len(chunk):
            return
        if self.beta is None:
            self._fit_readouts()
        self.predicted.append((torch.as_tensor(chunk, dtype=torch.float64) @ self.beta).numpy())
        for k, classifier in self.classifiers.items():
            if classifier is not None:
                scaler, model, classes = classifier
                truth = classes[start:start + len(chunk)]
                self.correct[k] += int((model.predict(scaler.transform(chunk, copy=True)) == truth).sum())

    def _fit_readouts(self) -> None:
        """Least squares without intercept from the inputs to the fit-standardised factors (all factors in one
        solve; `ridge` only regularises columns that never vary), and one logistic regression per categorical factor."""
        self.gram.diagonal().add_(self.scorer.ridge * max(float(self.gram.diagonal().mean()), 1e-12))  # in place: D × D is large
        self.beta = torch.linalg.solve(self.gram, self.moments)
        self.gram = None
        if self.categorical:
            scaler = StandardScaler(copy=False)  # fitted in chunks and applied in place: no full-size temporaries
            for rows in chunks(len(self.picked), CHUNK):
                scaler.partial_fit(self.picked[rows])
            inputs = scaler.transform(self.picked)
            self.classifiers = {k: self._logistic(k, scaler, inputs) for k, _ in self.categorical}
        self.picked = None

    def _logistic(self, k: int, scaler: StandardScaler, inputs: np.ndarray) -> tuple | None:
        # the targets are the classes' values (0.25, 0.5, ...): classify their indices, whatever the values
        fit_y, score_y = self.data.fit.targets[:, k], self.data.score.targets[:, k]
        classes = np.unique(np.concatenate([fit_y, score_y]), return_inverse=True)[1].reshape(-1)
        fit_classes = classes[: len(fit_y)][self.logistic_rows]
        if len(np.unique(fit_classes)) < 2:
            return None
        with warnings.catch_warnings():  # stopped at max_iter, the accuracy is still a held-out lower bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(max_iter=self.scorer.logistic_max_iter).fit(inputs, fit_classes)
        return scaler, model, classes[len(fit_y):]

    def result(self) -> dict:
        problems = self.problems + _code_problems(self.inputs, self.columns, self.splits)
        metrics = {}
        if not self.names:
            pass
        elif self.broken:  # nothing can be scored
            metrics = {f"{score.name}/{name}": float("nan") for name in self.names for score in (PEARSON, R2)}
            metrics |= {f"{ACCURACY.name}/{factor.name}": float("nan") for _, factor in self.categorical}
        else:
            predicted, score_z = np.concatenate(self.predicted), (self.score_targets - self.mean) / self.std
            flat = not (self.columns["fit"].varying().any() and self.columns["score"].varying().any())
            predictions = _Columns()
            predictions.add(predicted)
            for k, name in enumerate(self.names):
                constant = flat or not predictions.varying()[k]
                metrics[f"{PEARSON.name}/{name}"] = (float("nan") if constant
                                                     else float(np.corrcoef(score_z[:, k], predicted[:, k])[0, 1]))
                metrics[f"{R2.name}/{name}"] = float(1 - ((score_z[:, k] - predicted[:, k]) ** 2).mean() / score_z[:, k].var())
                if constant and not any(problem.startswith(self.inputs) for problem in problems):
                    problems.append(f"the read-out of factor {name} from {self.inputs} predicts the same value for all "
                                    f"{self.splits['score'][0]} {self.splits['score'][1]}: its Pearson r is undefined")
            for k, factor in self.categorical:
                metrics[f"{ACCURACY.name}/{factor.name}"] = (float("nan") if self.classifiers[k] is None
                                                             else self.correct[k] / self.columns["score"].rows)
        self.scorer.warnings += [problem for problem in problems if problem not in self.scorer.warnings]
        pearson = [value for name in self.names if np.isfinite(value := metrics.get(f"{PEARSON.name}/{name}", np.nan))]
        return metrics | {PEARSON_MEAN.name: float(np.mean(pearson)) if pearson else float("nan")}


class _Columns:
    """One split's inputs seen chunk by chunk: how many rows, how many of them not finite, and each column's
    range and largest magnitude (over the finite rows)."""

    def __init__(self) -> None:
        self.rows = self.bad = 0
        self.low = self.high = self.peak = None

    def add(self, chunk: np.ndarray) -> None:
        if not len(chunk):
            return
        chunk = chunk.reshape(len(chunk), -1)
        finite = np.isfinite(chunk).all(axis=1)
        self.rows, self.bad = self.rows + len(chunk), self.bad + int((~finite).sum())
        chunk = chunk[finite] if not finite.all() else chunk
        if not len(chunk):
            return
        low, high, peak = chunk.min(axis=0), chunk.max(axis=0), np.abs(chunk).max(axis=0)
        if self.low is None:
            self.low, self.high, self.peak = low, high, peak
        else:
            self.low, self.high, self.peak = np.minimum(self.low, low), np.maximum(self.high, high), np.maximum(self.peak, peak)

    def varying(self, rtol: float = 1e-5) -> np.ndarray:
        """Per column: whether it varies by more than float rounding (identical images through an encoder can
        differ in the last bits, depending on where in a batch they were)."""
        if self.low is None:
            return np.zeros(0, dtype=bool)
        return (self.high - self.low) > rtol * self.peak


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


def _code_problems(inputs: str, columns: dict[str, _Columns], splits: dict[str, tuple[int, str]]) -> list[str]:
    """Why codes carry nothing to score: not finite, or the same vector for every sample of a split."""
    problems = []
    for role, seen in columns.items():
        count, name = splits[role]
        if seen.bad:
            problems.append(f"{inputs} are not finite (nan/inf) for {seen.bad} of the {count} {name}: every "
                            "Pearson r, R² and accuracy of them is undefined")
        elif not seen.varying().any():
            problems.append(f"{inputs} are constant over the {count} {name} (the same vector for every one): no factor "
                            "can be read out of them; every Pearson r is undefined and every R² that of a constant "
                            "guess (about 0 or below)")
    return problems


CHUNK = 4096  # rows per product when `scores` is handed whole arrays
