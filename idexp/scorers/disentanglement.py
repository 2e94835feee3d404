"""DisLib's disentanglement metrics of the codes against the ground truth: DCI, MIG and SAP (docs/metrics.md)."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from idexp.ground_truth import Factor, ProbeData
from idexp.metrics import disentanglement as dis
from idexp.scorers.base import Score, Scorer, fmt

DCI_DISENTANGLEMENT = Score("dci_disentanglement", "DCI disentanglement")
DCI_COMPLETENESS = Score("dci_completeness", "DCI completeness")
# held-out accuracy of the importance model with importance=gbt (as disentanglement_lib), R² with lasso
DCI_INFORMATIVENESS = Score("dci_informativeness", "DCI informativeness")
MIG = Score("mig", "MIG")
SAP = Score("sap", "SAP")
TABLE = (DCI_DISENTANGLEMENT, DCI_COMPLETENESS, DCI_INFORMATIVENESS, MIG, SAP)  # the summary's rows
PER_FACTOR = (DCI_COMPLETENESS, DCI_INFORMATIVENESS, MIG, SAP)  # also recorded per factor: `probe/mig/<factor>`
DCI_SAMPLES = Score("dislib_n_fit", "fit samples of the DisLib metrics")  # after the seeded subset


class DisentanglementScores(Scorer):
    """DCI, MIG and SAP as disentanglement_lib defines them, on a seeded subset of the probe's samples
    (`fit_samples` of the fit split, `score_samples` of the score split: the lib's 10000 and 5000).

    MIG bins each code (and each continuous factor) into `bins` equal-width bins and reads the fit split; SAP
    and DCI fit on the fit split and evaluate on the score split. A factor is a class index (its values'
    order), except a continuous one: its bins for MIG and DCI, its values for SAP (R²). DCI's importance
    model: `lasso` (the default; Eastwood & Williams' original, seconds on 512 codes) or `gbt`
    (disentanglement_lib's gradient-boosted trees; about an hour per factor on 10000 × 512 codes).
    """

    headline = MIG

    def __init__(self, importance: str = "lasso", bins: int = 20, fit_samples: int = 10000, score_samples: int = 5000,
                 lasso_alpha: float = 0.01, baseline: bool = True, seed: int = 0, max_codes: int = 1024) -> None:
        if importance not in dis.IMPORTANCES:
            raise ValueError(f"importance={importance!r} is not an importance model. Fix: importance=lasso (seconds) "
                             "or importance=gbt (disentanglement_lib's trees, slow on wide codes).")
        if not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins={bins!r}: a histogram needs at least 2 bins. Fix: bins=20 (disentanglement_lib's).")
        for name, value in (("fit_samples", fit_samples), ("score_samples", score_samples)):
            if not isinstance(value, int) or value < 10:
                raise ValueError(f"{name}={value!r}: the metrics need at least 10 samples. Fix: {name}=10000 or 5000 "
                                 "(disentanglement_lib's sizes for the fit and score splits).")
        if not isinstance(max_codes, int) or max_codes < 2:
            raise ValueError(f"max_codes={max_codes!r}: the metrics compare at least 2 codes. Fix: max_codes=1024.")
        if not lasso_alpha > 0:
            raise ValueError(f"lasso_alpha={lasso_alpha!r} must be positive (0 selects every code). Fix: lasso_alpha=0.01.")
        self.importance, self.bins, self.lasso_alpha, self.seed = importance, bins, lasso_alpha, seed
        self.fit_samples, self.score_samples = fit_samples, score_samples
        self.max_codes = max_codes  # wider codes (raw pixels as the `model=image` "encoder") are not scored
        self.baseline = baseline  # the raw inputs too: cheap for a DGP's observations, not for 4096 pixels
        self.warnings: list[str] = []

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData, baseline: bool = False) -> dict:
        if not baseline:
            self.warnings = []
        inputs = "the raw inputs" if baseline else "the encoder's codes"
        fit_rows = _subset(len(fit_codes), self.fit_samples, self.seed)
        score_rows = _subset(len(score_codes), self.score_samples, self.seed)
        fit_codes, score_codes = fit_codes[fit_rows], score_codes[score_rows]
        factors, fit_y, score_y = self._factors(data, data.fit.targets[fit_rows], data.score.targets[score_rows])
        names = [factor.name for factor in factors]
        undefined = self._undefined(inputs, fit_codes, score_codes, names)
        if undefined:
            self._warn(undefined)
            return {score.name: float("nan") for score in TABLE} | {DCI_SAMPLES.name: len(fit_codes)}
        continuous = np.array([factor.kind == "continuous" for factor in factors])
        fit_classes, score_classes = self._classes(fit_y, score_y, continuous)
        importance, informativeness = self._importance(fit_codes, score_codes, fit_y, score_y, fit_classes, score_classes,
                                                       continuous)
        per_factor = {MIG: dis.mig(dis.discretize(fit_codes, self.bins), fit_classes),
                      SAP: dis.sap(dis.sap_matrix(fit_codes, np.where(continuous, fit_y, fit_classes), score_codes,
                                                  np.where(continuous, score_y, score_classes), continuous)),
                      DCI_COMPLETENESS: dis.dci_completeness_per_factor(importance),
                      DCI_INFORMATIVENESS: informativeness}
        metrics = {f"{score.name}/{name}": float(values[k]) for score, values in per_factor.items()
                   for k, name in enumerate(names)}
        return metrics | {DCI_DISENTANGLEMENT.name: dis.dci_disentanglement(importance),
                          DCI_COMPLETENESS.name: dis.dci_completeness(importance),
                          DCI_INFORMATIVENESS.name: float(np.mean(informativeness)),
                          MIG.name: float(np.mean(per_factor[MIG])), SAP.name: float(np.mean(per_factor[SAP])),
                          DCI_SAMPLES.name: len(fit_codes)}

    def _factors(self, data: ProbeData, fit: np.ndarray, score: np.ndarray) -> tuple[list[Factor], np.ndarray, np.ndarray]:
        """The factors with something to disentangle: not declared with a single value (dSprites' colour, which
        disentanglement_lib leaves out too), finite, and varying in the fit split (else warned)."""
        kept = []
        for k, factor in enumerate(data.factors):
            if factor.size == 1:
                continue
            values = np.concatenate([fit[:, k], score[:, k]])
            if not np.isfinite(values).all():
                self._warn([f"factor {factor.name} is not finite (nan/inf): left out of DCI, MIG and SAP"])
            elif np.ptp(fit[:, k]) <= 1e-8:
                self._warn([f"factor {factor.name} is constant in the {len(fit)} fit samples of DCI, MIG and SAP: "
                            "left out of them (it has no entropy to share with a code)"])
            else:
                kept.append(k)
        return [data.factors[k] for k in kept], fit[:, kept], score[:, kept]

    def _classes(self, fit: np.ndarray, score: np.ndarray, continuous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices of every factor over both splits together (so a class means the same in each): a
        discrete factor's value rank, a continuous factor's histogram bin."""
        both = np.concatenate([fit, score])
        labels = np.where(continuous, dis.discretize(both, self.bins), dis.classes(both))
        return labels[: len(fit)], labels[len(fit):]

    def _importance(self, fit_codes, score_codes, fit_y, score_y, fit_classes, score_classes, continuous):
        if self.importance == "gbt":
            return dis.importance_gbt(fit_codes, fit_classes, score_codes, score_classes, self.seed)
        # the regression target: a continuous factor's value, a discrete factor's class index (its value order);
        # scikit-learn warns once per factor that its lasso did not converge: said once, in the run's warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            result = dis.importance_lasso(fit_codes, np.where(continuous, fit_y, fit_classes), score_codes,
                                          np.where(continuous, score_y, score_classes), self.lasso_alpha)
        unconverged = sum(issubclass(warning.category, ConvergenceWarning) for warning in caught)
        if unconverged:
            self._warn([f"DCI's lasso (probe.disentanglement.lasso_alpha={self.lasso_alpha}) stopped at scikit-learn's "
                        f"iteration limit for {unconverged} of {fit_y.shape[1]} factors: D and C are approximate. Fix: a "
                        "larger lasso_alpha converges sooner, or importance=gbt (slow) for the lib's definition."])
        return result

    def _undefined(self, inputs: str, fit_codes: np.ndarray, score_codes: np.ndarray, names: list[str]) -> list[str]:
        """Why no metric can be computed for these codes: not finite, fewer than two codes or two factors."""
        if not (np.isfinite(fit_codes).all() and np.isfinite(score_codes).all()):
            return [f"{inputs} are not finite (nan/inf): DCI, MIG and SAP of them are undefined"]
        if fit_codes.shape[1] < 2:
            return [f"{inputs} have one dimension: DCI, MIG and SAP compare codes, so they are undefined"]
        if fit_codes.shape[1] > self.max_codes:  # SAP alone fits a classifier per code and factor: minutes per 1000
            return [f"{inputs} have {fit_codes.shape[1]} dimensions, more than probe.disentanglement.max_codes="
                    f"{self.max_codes}: DCI, MIG and SAP, which compare every dimension with every factor, are not "
                    f"computed. Fix: probe.disentanglement.max_codes={fit_codes.shape[1]} to compute them anyway."]
        if len(names) < 2:
            return [f"DCI, MIG and SAP need two factors that vary; only {names or 'none'} do"]
        return []

    def _warn(self, problems: list[str]) -> None:
        self.warnings += [problem for problem in problems if problem not in self.warnings]

    def tables(self, metrics: dict) -> dict[str, tuple[list[str], list[list]]]:
        names = MIG.factors(metrics)
        if not names:
            return {}
        return {"disentanglement_per_factor": (["factor", *(score.name for score in PER_FACTOR)],
                                               [[name, *(metrics.get(score.of(name)) for score in PER_FACTOR)]
                                                for name in names])}

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        if MIG.key not in metrics:
            return []
        n_fit = metrics.get(DCI_SAMPLES.key)
        samples = f" on {int(n_fit)} fit samples" if n_fit else ""
        lines = [f"Disentanglement (DisLib's DCI, MIG, SAP{samples}; docs/metrics.md):",
                 f"  {'':26s}{'trained f' if trained else 'untrained f':>12s}{'baseline':>14s}"]
        lines += [f"  {score.label:26s}{fmt(_finite(metrics.get(score.key))):>12s}"
                  f"{fmt(_finite(metrics.get(score.baseline_key))):>14s}" for score in TABLE]
        return lines


def _finite(value):
    return value if value is not None and np.isfinite(value) else None


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    """A seeded random subset of `size` rows, in order (a split's rows may be in index order); all rows if fewer."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
