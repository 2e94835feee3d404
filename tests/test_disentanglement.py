"""DisLib's DCI, MIG and SAP: known answers, agreement with disent's implementation, bad settings, and a real run
whose results.json, summary and table builder carry them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from idexp.ground_truth import Factor, ProbeData, ProbeSplit, latent_factors
from idexp.metrics import disentanglement as dis
from idexp.scorers import DisentanglementScores
from idexp.scorers.disentanglement import DCI_COMPLETENESS, DCI_DISENTANGLEMENT, DCI_INFORMATIVENESS, MIG, SAP, TABLE
from tests.conftest import QUICK, run_cli_in_process
from tests.dislib_files import dsprites_overrides, write_dsprites

D, K = 5, 5


def probe_data(fit: np.ndarray, score: np.ndarray, factors) -> ProbeData:
    return ProbeData(ProbeSplit([], fit, "fit samples"), ProbeSplit([], score, "score samples"), tuple(factors))


@pytest.fixture(scope="module")
def latents():
    rng = np.random.default_rng(0)
    fit, score = rng.uniform(-1, 1, (3000, D)), rng.uniform(-1, 1, (2000, D))
    return fit, score, probe_data(fit, score, latent_factors(D))


def scored(codes, latents, **settings) -> dict:
    fit, score, data = latents
    return DisentanglementScores(**settings).scores(codes(fit), codes(score), data)


def headline(metrics: dict) -> dict:
    return {score.name: metrics[score.name] for score in TABLE}


def test_identity_permuted_rotated_and_noise_codes_of_continuous_latents(latents):
    rng = np.random.default_rng(1)
    permutation, scale = rng.permutation(D), rng.uniform(0.2, 5, D) * rng.choice([-1, 1], D)
    rotation = np.linalg.qr(rng.normal(size=(D, D)))[0]
    identity = scored(lambda z: z, latents)
    permuted = scored(lambda z: z[:, permutation] * scale + 3, latents)
    rotated = scored(lambda z: z @ rotation, latents)
    noise = scored(lambda z: np.random.default_rng(len(z)).normal(size=z.shape), latents)

    assert identity[MIG.name] > 0.9 and identity[SAP.name] > 0.95  # MIG < 1: the MI of independent bins is biased up
    assert identity[DCI_DISENTANGLEMENT.name] > 0.95 and identity[DCI_COMPLETENESS.name] > 0.95
    assert identity[DCI_INFORMATIVENESS.name] > 0.95
    assert headline(permuted) == pytest.approx(headline(identity), abs=1e-6)  # binning and R² ignore scale and order
    assert rotated[DCI_DISENTANGLEMENT.name] < 0.5 and rotated[DCI_COMPLETENESS.name] < 0.5
    assert rotated[MIG.name] < 0.3 and rotated[SAP.name] < 0.6
    assert rotated[DCI_INFORMATIVENESS.name] > 0.95  # everything is still there, only mixed
    assert noise[MIG.name] < 0.02 and noise[SAP.name] < 0.02 and noise[DCI_INFORMATIVENESS.name] < 0.02


def discrete_problem(n: int, seed: int, sizes=(3, 4, 5)):
    """Discrete factors (class values as in a dataset's file) and codes: each factor in its own code with noise,
    a fourth code mixing two of them, and a pure-noise code."""
    rng = np.random.default_rng(seed)
    values = np.stack([rng.integers(0, size, n) / size for size in sizes], axis=1)
    codes = np.concatenate([values + 0.05 * rng.normal(size=values.shape),
                            values[:, :2] @ [[1.0], [0.7]] + 0.1 * rng.normal(size=(n, 1)), rng.normal(size=(n, 1))], 1)
    factors = [Factor(f"f{k}", "categorical", tuple(np.arange(size) / size)) for k, size in enumerate(sizes)]
    return codes, values, factors


def test_gradient_boosted_trees_known_answers():
    codes, values, factors = discrete_problem(600, 2)
    data = probe_data(values[:400], values[400:], factors)
    scorer = DisentanglementScores(importance="gbt")
    aligned = scorer.scores(codes[:400, :3], codes[400:, :3], data)
    noise = np.random.default_rng(3).normal(size=(600, 3))
    assert aligned[DCI_DISENTANGLEMENT.name] > 0.9 and aligned[DCI_INFORMATIVENESS.name] > 0.95
    # SAP's linear SVM on one code separates only a few of a discrete factor's 3-5 ordered classes (the lib's definition)
    assert aligned[MIG.name] > 0.9 and aligned[SAP.name] > 0.2
    unrelated = scorer.scores(noise[:400], noise[400:], data)
    assert unrelated[DCI_DISENTANGLEMENT.name] < 0.1 and unrelated[MIG.name] < 0.05 and unrelated[SAP.name] < 0.1


def test_discretize_bins_each_column_over_its_own_range():
    values = np.array([[0.0, 10.0], [0.49, 10.0], [0.51, 10.0], [1.0, 10.0]])
    binned = dis.discretize(values, 2)
    assert binned[:, 0].tolist() == [0, 0, 1, 1]  # the maximum is in the last bin, not a bin of its own
    assert len(set(binned[:, 1])) == 1  # a constant column: one bin
    assert dis.discretize(values, 20)[:, 0].tolist() == [0, 9, 10, 19]


# --- agreement with an independent implementation: disent's functions on the same codes and factors ---


@pytest.fixture(scope="module")
def disent_metrics():
    """disent's DCI, MIG and SAP computations. disent 0.9.3 needs Python >= 3.12: under 3.11 the dev extra installs
    0.8.0, whose metric functions are the same code (their diff is typing only)."""
    pytest.importorskip("disent", reason="disent is the independent implementation: pip install -e '.[dev]'")
    from disent.metrics import _dci, _mig, _sap, utils

    return _dci, _mig, _sap, utils


def entangled_problem(seed: int = 4, n_fit: int = 500, n_score: int = 300):
    codes, values, factors = discrete_problem(n_fit + n_score, seed)
    return codes[:n_fit], values[:n_fit], codes[n_fit:], values[n_fit:], factors


def test_agrees_with_disent_on_discrete_factors(disent_metrics):
    _dci, _mig, _sap, _ = disent_metrics
    fit_codes, fit_values, score_codes, score_values, factors = entangled_problem()
    ours = DisentanglementScores(importance="gbt").scores(fit_codes, score_codes,
                                                          probe_data(fit_values, score_values, factors))
    both = dis.classes(np.concatenate([fit_values, score_values]))
    fit_y, score_y = both[: len(fit_values)].T, both[len(fit_values):].T
    theirs_mig = _mig._compute_mig(fit_codes.T, fit_y)["mig.discrete_score"]
    theirs_sap = _sap._compute_sap(fit_codes.T, fit_y, score_codes.T, score_y, continuous_factors=False)["sap.score"]
    theirs_dci = _dci._compute_dci(fit_codes.T, fit_y, score_codes.T, score_y)
    assert 0.1 < ours[MIG.name] < 0.9  # mid-range values, where a wrong definition shows
    assert ours[MIG.name] == pytest.approx(theirs_mig, abs=1e-9)
    assert ours[SAP.name] == pytest.approx(theirs_sap, abs=0.01)
    assert ours[DCI_DISENTANGLEMENT.name] == pytest.approx(theirs_dci["dci.disentanglement"], abs=0.01)
    assert ours[DCI_COMPLETENESS.name] == pytest.approx(theirs_dci["dci.completeness"], abs=0.01)
    assert ours[DCI_INFORMATIVENESS.name] == pytest.approx(theirs_dci["dci.informativeness_test"], abs=0.01)


def test_agrees_with_disent_on_continuous_latents(disent_metrics, latents):
    _, _mig, _sap, utils = disent_metrics
    fit, score, data = latents
    mixing = np.eye(D) + 0.3 * np.random.default_rng(5).normal(size=(D, D))
    fit_codes, score_codes = fit @ mixing, score @ mixing
    ours = DisentanglementScores().scores(fit_codes, score_codes, data)
    # disent takes discrete factors for MIG: our bins of the latents (over both splits, docs/metrics.md)
    binned = utils.histogram_discretize(np.concatenate([fit, score]).T, num_bins=20)[:, : len(fit)].astype(int)
    assert np.array_equal(binned - 1, dis.discretize(np.concatenate([fit, score]), 20)[: len(fit)].T)
    assert ours[MIG.name] == pytest.approx(_mig._compute_mig(fit_codes.T, binned)["mig.discrete_score"], abs=1e-9)
    theirs_sap = _sap._compute_sap(fit_codes.T, fit.T, score_codes.T, score.T, continuous_factors=True)["sap.score"]
    assert ours[SAP.name] == pytest.approx(theirs_sap, abs=1e-9)
    assert 0.05 < ours[MIG.name] < 0.9 and 0.05 < ours[SAP.name] < 0.9


# --- bad settings, undefined scores ---


@pytest.mark.parametrize(("setting", "expected"), [
    ("importance=trees", "probe.disentanglement.importance='trees' is not an importance model. Fix: "
                         "probe.disentanglement.importance=lasso"),
    ("bins=1", "probe.disentanglement.bins=1: a histogram needs at least 2 bins. Fix: probe.disentanglement.bins=20"),
    ("fit_samples=5", "probe.disentanglement.fit_samples=5: the metrics need at least 10 samples"),
    ("lasso_alpha=0", "probe.disentanglement.lasso_alpha=0 must be positive"),
])
def test_bad_settings_name_the_key_value_and_fix(tmp_path, setting, expected):
    result = run_cli_in_process([*QUICK, "logger=none", f"probe.disentanglement.{setting}",
                                 f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1 and expected in result.stderr, result.stderr[-2000:]


def test_undefined_scores_say_why(latents):
    fit, score, data = latents
    scorer = DisentanglementScores()
    broken = fit.copy()
    broken[0, 0] = np.nan
    assert all(np.isnan(scorer.scores(broken, score, data)[s.name]) for s in TABLE)
    assert scorer.warnings == ["the encoder's codes are not finite (nan/inf): DCI, MIG and SAP of them are undefined"]
    constant = probe_data(np.c_[fit[:, :2], np.ones(len(fit))], np.c_[score[:, :2], np.ones(len(score))],
                          latent_factors(3))
    metrics = scorer.scores(fit[:, :3], score[:, :3], constant)
    assert MIG.of("z2").removeprefix("probe/") not in metrics and np.isfinite(metrics[MIG.name])
    assert any("factor z2 is constant" in warning for warning in scorer.warnings)
    narrow = DisentanglementScores(max_codes=3)  # wider codes (raw pixels) are not scored: named, with the fix
    assert all(np.isnan(narrow.scores(fit, score, data)[s.name]) for s in TABLE)
    assert narrow.warnings == [f"the encoder's codes have {fit.shape[1]} dimensions, more than "
                               f"probe.disentanglement.max_codes=3: DCI, MIG and SAP, which compare every dimension "
                               f"with every factor, are not computed. Fix: probe.disentanglement.max_codes="
                               f"{fit.shape[1]} to compute them anyway."]


# --- real runs: results.json, the summary, the table builder ---


def test_dgp_run_records_dci_mig_sap_and_the_report_shows_them(tmp_path):
    run = tmp_path / "sweep" / "run"
    result = run_cli_in_process([*QUICK, "logger=none", f"hydra.run.dir={run}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run / "results.json").read_text())["metrics"]
    for score in TABLE:
        assert 0 <= metrics[score.key] <= 1 and 0 <= metrics[score.baseline_key] <= 1
    assert {MIG.of("z0"), SAP.of("z9"), DCI_COMPLETENESS.of("z3")} <= set(metrics)
    assert "Disentanglement (DisLib's DCI, MIG, SAP on 256 fit samples" in result.stdout
    assert f"  {'MIG':26s}{metrics[MIG.key]:12.4f}{metrics[MIG.baseline_key]:14.4f}" in result.stdout

    from idexp.report.__main__ import main as report

    assert report([str(tmp_path / "sweep"), "--table", "dislib", "--out", str(tmp_path / "table")]) == 0
    table = (tmp_path / "table" / "table.md").read_text()
    assert "| DCI disentanglement | DCI completeness |" in table and "MIG (x)" in table
    assert f"| {metrics[MIG.key]:.3f} (n = 1) |" in table


def test_dsprites_run_records_dci_mig_sap_of_every_varying_factor(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process([*dsprites_overrides(path), "logger=none", "trainer=cpu", "trainer.max_epochs=1",
                                 "dataset.batch_size=32", "dataset.loader.num_workers=0", "model=mlp_dislib",
                                 "model.hidden=[32,32]", "model.out_dim=16", f"hydra.run.dir={tmp_path / 'run'}"],
                                tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]
    assert all(np.isfinite(metrics[score.key]) for score in TABLE)
    assert MIG.factors(metrics) == ["shape", "scale", "orientation", "posX", "posY"]  # colour has one value
    assert SAP.baseline_key not in metrics  # raw pixels are not scored (factors preset: baseline false)
    assert "Disentanglement (DisLib's DCI, MIG, SAP" in result.stdout


def test_a_lasso_that_does_not_converge_is_said_once(latents):
    """scikit-learn warns once per factor; the run's warnings say it once, with the setting to change."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    fit, score, data = latents
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(D, 64))
    entangled = lambda z: np.tanh(z @ mix) + 0.01 * rng.normal(size=(len(z), 64))  # noqa: E731  (64 collinear codes)
    scorer = DisentanglementScores(lasso_alpha=1e-4, fit_samples=2000, score_samples=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # none of scikit-learn's reaches the console
        scorer.scores(entangled(fit), entangled(score), data)
    said = [w for w in scorer.warnings if w.startswith("DCI's lasso")]
    assert len(said) == 1 and "lasso_alpha=0.0001" in said[0] and f"of {D} factors" in said[0]
    scorer.scores(fit, score, data)  # a new probe; the latents themselves converge at once
    assert not any(w.startswith("DCI's lasso") for w in scorer.warnings)
