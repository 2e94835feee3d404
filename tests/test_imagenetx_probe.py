"""The ImageNet-X probe: the batched logistic solver against scikit-learn, and the scorer's known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from idexp.data.factors import Factor
from idexp.metrics.logistic import fit_logistic, predict_logistic, principal_axes
from idexp.ground_truth import Learned, ProbeData, ProbeSplit
from idexp.scorers import SCORERS, ImageNetXScores


def _problems(separable: bool, R: int = 3, n: int = 300, D: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((R, n, D)) + 0.3
    logits = np.einsum("rnd,rd->rn", x, rng.standard_normal((R, D))) + 0.5
    y = (logits * 3 > 0) if separable else (0.3 * logits + rng.logistic(size=(R, n)) > 0)
    return x, y.astype(np.float64)


@pytest.mark.parametrize("separable", [True, False])
def test_fit_logistic_matches_sklearn(separable):
    x, y = _problems(separable)
    w, b = fit_logistic(torch.tensor(x), torch.tensor(y), C=1.0, max_iter=200, tol=1e-10)
    predicted = predict_logistic(torch.tensor(x), w, b).numpy()
    for r in range(len(x)):
        model = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(x[r], y[r])
        np.testing.assert_allclose(w[r].numpy(), model.coef_[0], atol=1e-4 * np.abs(model.coef_).max())
        assert b[r].item() == pytest.approx(model.intercept_[0], abs=1e-4 * max(1.0, abs(model.intercept_[0])))
        assert (predicted[r] == model.predict(x[r])).mean() >= 0.995


def test_fit_logistic_shared_rows_with_weights_match_separate_fits():
    """Shared float32 rows with 0/1 weights (the scorer's form) give each subset's own scikit-learn fit."""
    x, y = _problems(False, R=1, n=600)
    x, y = x[0].astype(np.float32), y[0]
    subsets = [np.random.default_rng(r).choice(600, 350, replace=False) for r in range(3)]
    weight = np.zeros((3, 600))
    for r, rows in enumerate(subsets):
        weight[r, rows] = 1
    w, b = fit_logistic(torch.tensor(x), torch.tensor(y), weight=torch.tensor(weight), tol=1e-6)
    predicted = predict_logistic(torch.tensor(x), w, b).numpy()
    for r, rows in enumerate(subsets):
        model = LogisticRegression(max_iter=5000, tol=1e-8).fit(x[rows], y[rows])
        np.testing.assert_allclose(w[r].numpy(), model.coef_[0], atol=1e-3 * np.abs(model.coef_).max())
        assert (predicted[r] == model.predict(x)).mean() >= 0.995


def test_principal_axes_leave_the_problem_unchanged():
    """The scorer fits on rotated features: the same L2 problem, so the same loss, bias and predictions."""
    x, y = _problems(False, R=1, n=500, D=30)
    x = torch.tensor(x[0])
    x = x @ torch.linalg.cholesky(torch.eye(30, dtype=x.dtype) + 0.9)  # correlated columns
    rotated = principal_axes(x)
    gram = rotated.T @ rotated
    assert (gram - torch.diag(gram.diagonal())).abs().max() < 1e-8 * gram.abs().max()
    (w, b), (w_rot, b_rot) = (fit_logistic(features, torch.tensor(y[0]), tol=1e-10) for features in (x, rotated))
    assert b_rot.item() == pytest.approx(b.item(), abs=1e-6) and w_rot.norm().item() == pytest.approx(w.norm().item())
    assert torch.equal(predict_logistic(rotated, w_rot, b_rot), predict_logistic(x, w, b))


def _probe_data(n: int = 3000, dim: int = 64, dead: int = 4, seed: int = 0):
    """`encoded` shifts the features along a random direction, `independent` is a fair coin, `rare` has
    one positive; the last `dead` units never fire (negative everywhere)."""
    rng = np.random.default_rng(seed)
    encoded = (rng.random(n) < 0.3).astype(np.int64)
    independent = (rng.random(n) < 0.5).astype(np.int64)
    rare = np.zeros(n, dtype=np.int64)
    rare[17] = 1
    features = rng.standard_normal((n, dim)) + 0.5 + 0.4 * encoded[:, None] * rng.choice([-1, 1], dim)
    features[:, dim - dead:] = -0.1 - np.abs(features[:, dim - dead:])
    targets = np.column_stack([encoded, independent, rare])
    factors = tuple(Factor(name, "binary", (0.0, 1.0)) for name in ("encoded", "independent", "rare"))
    data = ProbeData(fit=ProbeSplit(inputs=[], targets=targets, name="validation images"), score=None, factors=factors)
    return features.astype(np.float32), data


@pytest.fixture(scope="module")
def probed():
    features, data = _probe_data()
    return features, data, {solver: ImageNetXScores(solver=solver).scores(features, None, data)
                            for solver in ("batched", "sklearn")}


def test_batched_agrees_with_sklearn_loop(probed):
    _, _, metrics = probed
    for name in ("encoded", "independent"):
        assert metrics["batched"][f"acc/{name}"] == pytest.approx(metrics["sklearn"][f"acc/{name}"], abs=0.01)


def test_known_answers(probed):
    _, _, by_solver = probed
    metrics = by_solver["batched"]
    assert metrics["acc/encoded"] > 0.8 and metrics["pvalue/encoded"] < 1e-6
    assert abs(metrics["acc/independent"] - 0.5) < 0.06 and metrics["pvalue/independent"] > 1e-3
    assert 0 < metrics["acc_sem/independent"] < 0.05
    for key in ("acc", "acc_sem", "pvalue"):  # one positive cannot be split: nan, no crash
        assert np.isnan(metrics[f"{key}/rare"])
    assert metrics["n_positive/rare"] == 1 and metrics["n_positive/encoded"] == int(probed[1].fit.targets[:, 0].sum())
    assert metrics["units"] == 60 and metrics["repetitions"] == 10


def test_summary_and_plot(probed, tmp_path):
    features, data, by_solver = probed
    metrics = {f"probe/{key}": value for key, value in by_solver["batched"].items()}
    lines = [line for scorer in SCORERS for line in scorer.summary(metrics, trained=True)]
    assert "ImageNet-X probe" in lines[0] and "10 stratified 70/30 splits" in lines[0] and "60 units" in lines[0]
    for name in ("encoded", "independent", "rare"):
        assert any(line.split()[0] == name for line in lines[2:])
    for name in ("encoded", "independent"):  # '*': Bonferroni over the 2 scored targets
        row = next(line for line in lines if line.split()[0] == name)
        assert row.endswith("*") == (metrics[f"probe/pvalue/{name}"] < 0.05 / 2)
    assert next(line for line in lines if line.split()[0] == "encoded").endswith("*")
    assert ImageNetXScores.summary({"probe/r2_affine": 0.9}, trained=True) == []

    path = tmp_path / "probe.png"
    ImageNetXScores().plot(features, None, data, metrics, path, Learned())
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_solver_names_the_setting():
    with pytest.raises(ValueError, match=r"probe\.imagenetx\.solver.*'newton'.*batched.*sklearn"):
        ImageNetXScores(solver="newton")
