"""Known-answer tests for the identifiability metrics."""

import json
import time

import numpy as np
import pytest
from scipy.stats import special_ortho_group, uniform_direction

from idexp.ground_truth import Learned, Truth
from idexp.metrics import affine_r2, lambda_agreement, mcc, orthogonal_r2
from idexp.scorers.latents import identifiability_scores

N_SAMPLES = 4000
N_LATENTS = 10


def gaussian_latents(seed: int = 0, n: int = N_SAMPLES, d: int = N_LATENTS) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def halves(codes: np.ndarray, latents: np.ndarray) -> tuple[np.ndarray, ...]:
    """(codes_train, latents_train, codes_test, latents_test) from a half/half split."""
    n_train = len(codes) // 2
    return codes[:n_train], latents[:n_train], codes[n_train:], latents[n_train:]


def sphere_latents() -> np.ndarray:
    return uniform_direction(N_LATENTS).rvs(N_SAMPLES, random_state=1)


def test_identity_is_perfectly_identified() -> None:
    latents = gaussian_latents()
    scores = identifiability_scores(latents, latents)
    assert scores["r2_affine"] == pytest.approx(1.0, abs=1e-9)
    assert scores["r2_orthogonal"] == pytest.approx(1.0, abs=1e-9)
    assert scores["sv_mae"] == pytest.approx(0.0, abs=1e-9)
    assert scores["mcc_pearson"] == pytest.approx(1.0, abs=1e-9)
    assert scores["mcc_spearman"] == pytest.approx(1.0, abs=1e-9)
    assert scores["r2_affine_per_dim"] == pytest.approx([1.0] * N_LATENTS, abs=1e-9)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permutation_sign_flips_and_scaling_give_mcc_one(method: str) -> None:
    rng = np.random.default_rng(2)
    latents = gaussian_latents()
    permutation = rng.permutation(N_LATENTS)
    signs = rng.choice([-1.0, 1.0], N_LATENTS)
    scales = rng.uniform(0.1, 10.0, N_LATENTS)
    codes = latents[:, permutation] * signs * scales

    result = mcc(*halves(codes, latents), method=method)

    assert result["mcc"] == pytest.approx(1.0, abs=1e-9)
    # Latent i sits in the code column j with permutation[j] == i.
    assert result["matching"] == np.argsort(permutation).tolist()
    assert affine_r2(*halves(codes, latents))["r2"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("latents", [gaussian_latents(), sphere_latents()], ids=["gauss", "sphere"])
def test_rotation_is_linearly_but_not_permutation_identified(latents: np.ndarray) -> None:
    rotation = special_ortho_group.rvs(N_LATENTS, random_state=3)
    codes = latents @ rotation.T
    splits = halves(codes, latents)

    orthogonal = orthogonal_r2(*splits)

    assert affine_r2(*splits)["r2"] == pytest.approx(1.0, abs=1e-9)
    assert orthogonal["r2"] == pytest.approx(1.0, abs=1e-9)
    assert orthogonal["sv_mae"] == pytest.approx(0.0, abs=1e-9)
    assert orthogonal["singular_values"] == pytest.approx([1.0] * N_LATENTS)
    assert mcc(*splits)["mcc"] < 0.8


def test_non_orthogonal_linear_map_is_affine_but_not_orthogonal() -> None:
    latents = gaussian_latents()
    rotation = special_ortho_group.rvs(N_LATENTS, random_state=4)
    stretch = np.diag(np.linspace(1.0, 10.0, N_LATENTS))
    codes = latents @ (stretch @ rotation).T
    splits = halves(codes, latents)

    orthogonal = orthogonal_r2(*splits)

    assert affine_r2(*splits)["r2"] == pytest.approx(1.0, abs=1e-9)
    assert orthogonal["r2"] == pytest.approx(1.0, abs=1e-9)
    # The probe inverts the map: its singular values are 1 / linspace(1, 10).
    expected = 1 / np.linspace(1.0, 10.0, N_LATENTS)[::-1]
    assert sorted(orthogonal["singular_values"]) == pytest.approx(expected)
    assert orthogonal["sv_mae"] == pytest.approx(np.abs(expected / expected.mean() - 1).mean())
    assert orthogonal["sv_mae"] > 0.3


def test_sv_target_measures_distance_from_a_fixed_scale() -> None:
    kappa = 10.0
    latents = gaussian_latents()
    codes = kappa * latents @ special_ortho_group.rvs(N_LATENTS, random_state=5).T
    splits = halves(codes, latents)

    assert orthogonal_r2(*splits, target=1 / kappa)["sv_mae"] == pytest.approx(0.0, abs=1e-9)
    # Against unit scale every singular value 1/kappa is off by |1/kappa - 1| = 0.9.
    assert orthogonal_r2(*splits, target=1.0)["sv_mae"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="must be positive"):
        orthogonal_r2(*splits, target=0.0)


def test_intercept_separates_affine_from_orthogonal_probe() -> None:
    latents = gaussian_latents() + 5.0
    codes = latents - 5.0
    splits = halves(codes, latents)

    assert affine_r2(*splits)["r2"] == pytest.approx(1.0, abs=1e-9)
    assert orthogonal_r2(*splits)["r2"] < 0.5


def test_independent_noise_scores_near_zero() -> None:
    scores = identifiability_scores(gaussian_latents(seed=6), gaussian_latents(seed=7))
    assert abs(scores["r2_affine"]) < 0.05
    assert abs(scores["r2_orthogonal"]) < 0.05
    assert scores["mcc_pearson"] < 0.1
    assert scores["mcc_spearman"] < 0.1


def test_per_dim_r2_locates_the_recovered_latent() -> None:
    latents = gaussian_latents(d=3)
    codes = latents[:, :1]
    r2_per_dim = affine_r2(*halves(codes, latents))["r2_per_dim"]
    assert r2_per_dim[0] == pytest.approx(1.0, abs=1e-9)
    assert np.abs(r2_per_dim[1:]).max() < 0.05


def test_monotone_elementwise_map_is_rank_but_not_linearly_correlated() -> None:
    latents = gaussian_latents()
    codes = latents**3
    splits = halves(codes, latents)

    assert mcc(*splits, method="spearman")["mcc"] == pytest.approx(1.0, abs=1e-9)
    # For Gaussian z, corr(z, z³) = 3 / sqrt(15) ≈ 0.77.
    assert mcc(*splits, method="pearson")["mcc"] == pytest.approx(3 / np.sqrt(15), abs=0.05)


def test_held_out_r2_does_not_reward_overfitting() -> None:
    rng = np.random.default_rng(8)
    latents = rng.standard_normal((120, 3))
    codes = rng.standard_normal((120, 50))
    train = (codes[:60], latents[:60])

    in_sample = affine_r2(*train, *train)["r2"]
    held_out = affine_r2(*halves(codes, latents))["r2"]

    assert in_sample > 0.6
    assert held_out < 0.05


def test_held_out_mcc_does_not_reward_the_luckiest_noise_code() -> None:
    rng = np.random.default_rng(9)
    latents = rng.standard_normal((400, 3))
    codes = rng.standard_normal((400, 200))
    train = (codes[:200], latents[:200])

    in_sample = mcc(*train, *train)["mcc"]
    held_out = mcc(*halves(codes, latents))["mcc"]

    assert in_sample > 0.2
    assert held_out < 0.12


def test_mcc_with_more_codes_than_latents() -> None:
    latents = gaussian_latents(d=4)
    noise = gaussian_latents(seed=10, d=3)
    codes = np.hstack([noise[:, :1], latents[:, ::-1], noise[:, 1:]])

    result = mcc(*halves(codes, latents))

    assert result["mcc"] == pytest.approx(1.0, abs=1e-9)
    assert result["matching"] == [4, 3, 2, 1]


def test_mcc_with_fewer_codes_than_latents_counts_lost_latents_as_zero() -> None:
    latents = gaussian_latents(d=5)
    codes = latents[:, [2, 0, 1]]

    result = mcc(*halves(codes, latents))

    assert result["matching"] == [1, 2, 0, -1, -1]
    assert result["mcc_per_dim"] == pytest.approx([1.0, 1.0, 1.0, 0.0, 0.0], abs=1e-9)
    assert result["mcc"] == pytest.approx(0.6, abs=1e-9)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_constant_code_counts_as_uncorrelated(method: str) -> None:
    latents = gaussian_latents(d=2)
    codes = np.column_stack([latents[:, 0], np.zeros(N_SAMPLES)])

    result = mcc(*halves(codes, latents), method=method)

    assert result["mcc_per_dim"] == pytest.approx([1.0, 0.0], abs=1e-9)


def test_collapsed_encoder_scores_zero_without_nan() -> None:
    latents = gaussian_latents(n=1000)
    scores = identifiability_scores(np.zeros((1000, N_LATENTS)), latents)
    assert abs(scores["r2_affine"]) < 0.01
    assert scores["mcc_pearson"] == scores["mcc_spearman"] == 0.0
    assert scores["sv_mae"] is None
    json.dumps(scores, allow_nan=False)


def test_scores_are_json_serialisable_with_all_keys() -> None:
    latents = gaussian_latents(n=8192)
    codes = np.tanh(latents @ np.random.default_rng(11).standard_normal((N_LATENTS, N_LATENTS)))

    start = time.perf_counter()
    scores = identifiability_scores(codes, latents)
    print(f"identifiability_scores(n=8192, d=10): {time.perf_counter() - start:.3f} s")

    assert set(scores) == {
        "r2_affine",
        "r2_orthogonal",
        "sv_mae",
        "sv_orthogonal",
        "mcc_pearson",
        "mcc_spearman",
        "r2_affine_per_dim",
        "mcc_pearson_per_dim",
        "code_norm",
    }
    assert len(scores["r2_affine_per_dim"]) == len(scores["mcc_pearson_per_dim"]) == N_LATENTS
    assert json.loads(json.dumps(scores, allow_nan=False)) == scores


def test_train_fraction_takes_the_first_samples_for_training() -> None:
    latents = gaussian_latents(n=200, d=3)
    codes = latents + np.random.default_rng(12).standard_normal((200, 3))

    quarter = identifiability_scores(codes, latents, train_fraction=0.25)
    half = identifiability_scores(codes, latents, train_fraction=0.5)

    explicit = affine_r2(codes[:50], latents[:50], codes[50:], latents[50:])
    assert quarter["r2_affine"] == pytest.approx(explicit["r2"], abs=1e-12)
    assert half["r2_affine"] != pytest.approx(explicit["r2"], abs=1e-6)


def test_lambda_agreement_of_a_permuted_copy() -> None:
    true = np.linspace(5.0, 25.0, N_LATENTS)
    learned = np.random.default_rng(13).permutation(true)
    assert lambda_agreement(learned, true) == pytest.approx({"corr": 1.0, "mae": 0.0})


def test_lambda_agreement_known_values() -> None:
    result = lambda_agreement(np.array([3.0, 1.0, 2.0]), np.array([6.0, 2.0, 3.0]))
    # Sorted: [1, 2, 3] vs [2, 3, 6]; errors 1, 1, 3.
    assert result["mae"] == pytest.approx(5 / 3)
    assert result["corr"] == pytest.approx(np.corrcoef([1, 2, 3], [2, 3, 6])[0, 1])


def test_lambda_agreement_of_constant_lambdas_has_no_correlation() -> None:
    result = lambda_agreement(np.full(4, 2.0), np.array([1.0, 2.0, 3.0, 4.0]))
    assert result["corr"] is None
    assert result["mae"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("learned", "true", "message"),
    [
        (np.ones(3), np.ones(4), "differ in length"),
        (np.ones((3, 1)), np.ones(3), "1-D"),
        (np.array([1.0, np.nan]), np.ones(2), "NaN/inf"),
    ],
)
def test_lambda_agreement_rejects_bad_input(learned, true, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lambda_agreement(learned, true)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_encoder_outputs_are_rejected(bad_value: float) -> None:
    latents = gaussian_latents(n=100)
    codes = latents.copy()
    codes[7, 3] = bad_value
    with pytest.raises(ValueError, match="encoder outputs contain NaN/inf"):
        identifiability_scores(codes, latents)


def test_mismatched_sample_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="same number of samples.*100 and 99"):
        identifiability_scores(gaussian_latents(n=100), gaussian_latents(n=99))


def test_too_few_samples_are_rejected() -> None:
    latents = gaussian_latents(n=3)
    with pytest.raises(ValueError, match="too few samples"):
        identifiability_scores(latents, latents)


def test_mismatched_dimensions_between_splits_are_rejected() -> None:
    latents = gaussian_latents(n=100)
    with pytest.raises(ValueError, match="differ in dimension"):
        mcc(latents[:50], latents[:50], latents[50:, :3], latents[50:])


@pytest.mark.parametrize("train_fraction", [0.0, 1.0, 1.5])
def test_train_fraction_outside_unit_interval_is_rejected(train_fraction: float) -> None:
    latents = gaussian_latents(n=100)
    with pytest.raises(ValueError, match="train_fraction"):
        identifiability_scores(latents, latents, train_fraction=train_fraction)


def test_one_dimensional_input_and_unknown_method_are_rejected() -> None:
    latents = gaussian_latents(n=100)
    with pytest.raises(ValueError, match="2-D"):
        identifiability_scores(latents[:, 0], latents)
    with pytest.raises(ValueError, match="method"):
        mcc(*halves(latents, latents), method="kendall")


@pytest.mark.parametrize("kappa", [5.0, 10.0])
def test_mae_o_is_zero_for_the_ce_papers_prediction_f_equals_kappa_times_an_orthogonal_map(kappa):
    """The CE paper's MAE_o: mean |σ_k − 1/κ| of the no-intercept map f(x) → z; f = κ·O z gives σ_k = 1/κ."""
    from idexp.scorers.latents import _mae_o, held_out_scores

    head = Learned(heads={"label": np.eye(5)})  # a CE/DIET head: where the paper defines MAE_o

    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 5))
    rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    dgp = Truth(kappa=kappa)
    exact = held_out_scores(kappa * z[:1000] @ rotation, z[:1000], kappa * z[1000:] @ rotation, z[1000:])
    assert _mae_o(_prefixed(exact), dgp, head)["mae_o"] == pytest.approx(0, abs=1e-9)
    doubled = held_out_scores(2 * kappa * z[:1000] @ rotation, z[:1000], 2 * kappa * z[1000:] @ rotation, z[1000:])
    assert _mae_o(_prefixed(doubled), dgp, head)["mae_o"] == pytest.approx(0.5 / kappa)  # σ = 1/(2κ)
    assert _mae_o(_prefixed(exact), Truth(), head) == {}  # no κ: not defined
    assert _mae_o(_prefixed(exact), dgp, Learned()) == {}  # no head (InfoNCE, whose theory predicts σ = 1): not defined


def _prefixed(metrics: dict) -> dict:
    return {f"probe/{key}": value for key, value in metrics.items()}
