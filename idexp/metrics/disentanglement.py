"""DisLib's disentanglement metrics on precomputed codes: DCI, MIG and SAP.

The definitions are those of disentanglement_lib (Locatello et al., 2019), which the disent package
reimplements: codes are (n, d) arrays, factors (n, K) arrays of class indices (`classes`, `discretize`),
except SAP's continuous factors, which it scores by their values. Every function takes one split (MIG) or a
fit and a score split (DCI, SAP) and returns numpy arrays or floats.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import entropy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.metrics import mutual_info_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

IMPORTANCES = ("gbt", "lasso")


def discretize(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """Per column, the index (0..bins-1) of its equal-width histogram bin over that column's range, as
    disentanglement_lib bins codes (and here continuous factors) for mutual information."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram_bin_edges(values[:, j], bins)
        out[:, j] = np.digitize(values[:, j], edges[1:-1])  # the last bin is closed, as numpy's histogram's
    return out


def classes(values: np.ndarray) -> np.ndarray:
    """Per column, each value's rank among that column's distinct values: the class indices of a factor."""
    return np.stack([np.unique(column, return_inverse=True)[1].reshape(-1) for column in np.asarray(values).T], axis=1)


def mutual_information(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(d, K) mutual information in nats between each discrete code column and each factor column."""
    return np.array([[mutual_info_score(factor, code) for factor in factors.T] for code in codes.T])


def factor_entropy(factors: np.ndarray) -> np.ndarray:
    """(K,) entropy in nats of each discrete factor column."""
    return np.array([entropy(np.bincount(factor)) for factor in factors.T])


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column, the largest entry minus the second largest (columns are factors, rows codes)."""
    ranked = np.sort(matrix, axis=0)
    return ranked[-1] - ranked[-2]


def mig(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information gap per factor (Chen et al., 2018): the gap between the two codes that share the most
    information with the factor, over the factor's entropy. Its mean over factors is the MIG."""
    return top_two_gap(mutual_information(discrete_codes, factors)) / factor_entropy(factors)


def sap_matrix(fit_codes: np.ndarray, fit_factors: np.ndarray, score_codes: np.ndarray, score_factors: np.ndarray,
               continuous: np.ndarray) -> np.ndarray:
    """(d, K): how well each single code predicts each factor (Kumar et al., 2018). A continuous factor: the
    squared correlation with the code on the fit split (the R² of a linear regression); a discrete one: the
    score-split accuracy of a linear SVM (C=0.01, balanced classes) fitted on that code alone."""
    d, k = fit_codes.shape[1], fit_factors.shape[1]
    matrix = np.zeros((d, k))
    for j in range(k):
        if continuous[j]:
            matrix[:, j] = _squared_correlation(fit_codes, fit_factors[:, j])
            continue
        for i in range(d):
            with warnings.catch_warnings():  # stopped at max_iter: still a held-out accuracy, as in the lib
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(fit_codes[:, [i]], fit_factors[:, j])
            matrix[i, j] = np.mean(svm.predict(score_codes[:, [i]]) == score_factors[:, j])
    return matrix


def _squared_correlation(codes: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Per code column, corr(code, factor)²; a code that does not vary explains nothing (0)."""
    codes = codes - codes.mean(axis=0)
    factor = factor - factor.mean()
    var_codes, var_factor = (codes ** 2).sum(axis=0), (factor ** 2).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = (codes.T @ factor) ** 2 / (var_codes * var_factor)
    return np.where(var_codes / len(codes) > 1e-12, r2, 0.0)


def sap(matrix: np.ndarray) -> np.ndarray:
    """SAP per factor: the gap between the two codes that predict it best. Its mean over factors is the SAP score."""
    return top_two_gap(matrix)


def importance_gbt(fit_codes: np.ndarray, fit_factors: np.ndarray, score_codes: np.ndarray,
                   score_factors: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """disentanglement_lib's DCI importances: per factor, scikit-learn's default gradient-boosted trees classify
    its classes from all codes; returns the (d, K) impurity importances and each factor's score-split accuracy."""
    from sklearn.ensemble import GradientBoostingClassifier

    d, k = fit_codes.shape[1], fit_factors.shape[1]
    importance, accuracy = np.zeros((d, k)), np.zeros(k)
    for j in range(k):
        model = GradientBoostingClassifier(random_state=seed).fit(fit_codes, fit_factors[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        accuracy[j] = np.mean(model.predict(score_codes) == score_factors[:, j])
    return importance, accuracy


def importance_lasso(fit_codes: np.ndarray, fit_targets: np.ndarray, score_codes: np.ndarray,
                     score_targets: np.ndarray, alpha: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Eastwood & Williams' original DCI importances: per factor, a Lasso regression of the standardised factor
    on the standardised codes; returns |coefficients| (d, K) and each factor's score-split R² (clipped at 0)."""
    scaler = StandardScaler().fit(fit_codes)
    x_fit, x_score = scaler.transform(fit_codes), scaler.transform(score_codes)
    mean, std = fit_targets.mean(axis=0), fit_targets.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    y_fit, y_score = (fit_targets - mean) / std, (score_targets - mean) / std
    # the (d, d) Gram matrix, computed once, makes each factor's fit cheap whatever the number of samples
    model = Lasso(alpha=alpha, precompute=True).fit(x_fit, y_fit)
    coef = np.atleast_2d(model.coef_)  # (K, d)
    predicted = x_score @ coef.T + model.intercept_
    residual = ((y_score - predicted) ** 2).mean(axis=0)
    return np.abs(coef).T, np.clip(1 - residual / y_score.var(axis=0), 0, 1)


def dci_disentanglement(importance: np.ndarray) -> float:
    """How much each code concentrates on one factor (1 - entropy over factors, base K), weighted by the code's
    share of the total importance."""
    per_code = 1 - entropy(importance.T + 1e-11, base=importance.shape[1])
    return float(np.sum(per_code * _shares(importance, axis=1)))


def dci_completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """(K,): how much each factor is captured by one code (1 - entropy over codes, base d)."""
    return 1 - entropy(importance + 1e-11, base=importance.shape[0])


def dci_completeness(importance: np.ndarray) -> float:
    """Completeness per factor, weighted by the factor's share of the total importance."""
    return float(np.sum(dci_completeness_per_factor(importance) * _shares(importance, axis=0)))


def _shares(importance: np.ndarray, axis: int) -> np.ndarray:
    total = importance.sum()
    if total == 0:  # nothing is important: every code (factor) weighs the same, as in the lib
        return np.full(importance.shape[1 - axis], 1 / importance.shape[1 - axis])
    return importance.sum(axis=axis) / total
