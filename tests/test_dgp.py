"""Tests of the synthetic data generating processes against closed forms and scipy's samplers."""

import json
import math
import re
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import special, stats

import idexp.dgp.sampling as sampling
from idexp.dgp import (
    AnisotropicNormal,
    Box,
    ClusterDGP,
    Concentrated,
    GeneralizedNormal,
    InvertibleMLP,
    LatentDGP,
    Laplace,
    Normal,
    Sphere,
    TruncatedLaplace,
    Uniform,
    VonMisesFisher,
)
from tests.conftest import QUICK, run_cli_in_process

N = 20_000
KS_ALPHA = 1e-3  # all draws are seeded, so a test either always passes or always fails
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def generator(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def mean_resultant_length(dim: int, kappa: float) -> float:
    """A_d(kappa) = E<mu, z> under vMF(mu, kappa) on S^{d-1}."""
    return special.ive(dim / 2, kappa) / special.ive(dim / 2 - 1, kappa)


def random_unit_vectors(n: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim, generator=generator(seed)), dim=-1)


def assert_same_distribution(sample: torch.Tensor, reference, message: str = "") -> None:
    """Two-sample KS test when `reference` is an array, one-sample when it is a CDF."""
    p_value = stats.ks_2samp(sample.cpu().numpy(), reference).pvalue if isinstance(
        reference, np.ndarray
    ) else stats.kstest(sample.cpu().numpy(), reference).pvalue
    assert p_value > KS_ALPHA, f"{message} KS p = {p_value:.2g}"


# --- spaces ---------------------------------------------------------------------------------------


def test_sphere_uniform_is_unit_norm_and_isotropic():
    z = Sphere(5).uniform(N, generator())
    assert torch.allclose(z.norm(dim=-1), torch.ones(N))
    assert z.mean(0).abs().max() < 0.02
    assert (z.T @ z / N - torch.eye(5) / 5).abs().max() < 0.01


def test_box_uniform_fills_the_box():
    z = Box(3, low=-2.0, high=1.0).uniform(N, generator())
    assert z.min() >= -2 and z.max() <= 1
    assert_same_distribution(z[:, 1], stats.uniform(loc=-2, scale=3).cdf)


def test_centers():
    assert torch.equal(Sphere(3).center(), torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(Box(2, low=-1.0, high=3.0).center(), torch.tensor([1.0, 1.0]))


def test_box_truncates_noise_per_coordinate_like_a_truncated_normal():
    mean, scale = 0.9, 0.5
    z = Normal(scale).sample(torch.full((N, 2), mean), Box(2), generator())
    truncated = stats.truncnorm(a=(0 - mean) / scale, b=(1 - mean) / scale, loc=mean, scale=scale)
    for coordinate in z.T:
        assert_same_distribution(coordinate, truncated.cdf)


def test_box_resampling_gives_up_when_the_mean_is_outside():
    with pytest.raises(RuntimeError, match="outside"):
        Normal(1e-3).sample(torch.full((4, 2), 5.0), Box(2), generator())


# --- von Mises-Fisher -----------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [3, 10])
@pytest.mark.parametrize("kappa", [1.0, 10.0, 50.0, 1000.0])
def test_vmf_matches_scipy(dim, kappa):
    mu = random_unit_vectors(1, dim, seed=dim)
    z = VonMisesFisher(kappa).sample(mu.expand(N, -1), Sphere(dim), generator())
    assert torch.allclose(z.norm(dim=-1), torch.ones(N), atol=1e-5)
    cosine = z @ mu[0]
    standard_error = cosine.std().item() / N**0.5
    assert abs(cosine.mean().item() - mean_resultant_length(dim, kappa)) < 4 * standard_error
    reference = stats.vonmises_fisher(mu[0].double().numpy(), kappa).rvs(N, random_state=0)
    assert_same_distribution(cosine, reference @ mu[0].double().numpy(), f"d={dim} kappa={kappa}")
    assert_same_distribution(z[:, 0], reference[:, 0], f"first coordinate, d={dim} kappa={kappa}")


def test_vmf_with_a_mean_per_row_is_rotationally_symmetric_around_each_mean():
    """In each row's frame: E<mu,z>^2 = 1 - (d-1) A/kappa and E<t,z>^2 = A/kappa for t _|_ mu."""
    dim, kappa = 6, 10.0
    mu = random_unit_vectors(N, dim, seed=1)
    z = VonMisesFisher(kappa).sample(mu, Sphere(dim), generator())
    tangent = random_unit_vectors(N, dim, seed=2)
    tangent = F.normalize(tangent - (tangent * mu).sum(-1, keepdim=True) * mu, dim=-1)
    along, across = (z * mu).sum(-1), (z * tangent).sum(-1)
    a = mean_resultant_length(dim, kappa)
    assert abs(along.mean().item() - a) < 0.005
    assert abs((along**2).mean().item() - (1 - (dim - 1) * a / kappa)) < 0.005
    assert abs(across.mean().item()) < 0.005
    assert abs((across**2).mean().item() - a / kappa) < 0.005


def test_vmf_around_e1_has_a_uniform_tangent_direction():
    """On S^2 (the tangent sphere for d = 4) every coordinate is uniform on [-1, 1] (Archimedes)."""
    z = VonMisesFisher(50.0).sample(Sphere(4).center().expand(N, -1), Sphere(4), generator())
    assert abs(z[:, 0].mean().item() - mean_resultant_length(4, 50.0)) < 0.002
    direction = F.normalize(z[:, 1:], dim=-1)
    for coordinate in direction.T:
        assert_same_distribution(coordinate, stats.uniform(loc=-1, scale=2).cdf)
    barely_off_e1 = torch.tensor([1.0, 1e-20, 0.0, 0.0]).expand(N, -1)  # |e_1 - mean|^2 underflows
    z = VonMisesFisher(50.0).sample(barely_off_e1, Sphere(4), generator())
    assert torch.allclose(z.norm(dim=-1), torch.ones(N))


@pytest.mark.parametrize("dim", [3, 10])
@pytest.mark.parametrize("kappa", [1e9, 1e12])
def test_vmf_at_huge_kappa_is_exact_and_as_cheap_as_at_small_kappa(monkeypatch, dim, kappa):
    """1 - w ~ 1e-9 is below float32's resolution of w, yet the draw stays exact and takes few rounds.

    For large kappa, 2 kappa (1 - <mean, z>) = kappa |z - mean|^2 is chi^2(d - 1) up to O(1 / kappa).
    """
    monkeypatch.setattr(sampling, "MAX_REJECTION_ROUNDS", 20)  # it used to run out of 1000 rounds
    mu = random_unit_vectors(N, dim, seed=dim)
    z = VonMisesFisher(kappa).sample(mu, Sphere(dim), generator())
    assert z.dtype == torch.float32 and z.isfinite().all()
    assert torch.allclose(z.norm(dim=-1), torch.ones(N), atol=1e-5)
    cosine = (z.double() * mu.double()).sum(-1)
    assert abs(cosine.mean().item() - (1 - (dim - 1) / (2 * kappa))) < 1e-6
    assert cosine.min().item() > 1 - 1e-6
    # the tangent part of a draw around e_1 keeps full float32 precision: test its exact law there
    e1 = Sphere(dim).center().expand(N, -1)
    tangent = VonMisesFisher(kappa).sample(e1, Sphere(dim), generator(1))[:, 1:].double()
    assert_same_distribution(kappa * (tangent**2).sum(-1), stats.chi2(dim - 1).cdf, f"around e_1, kappa={kappa:g}")
    # float64 means give float64 draws, exact around any mean
    z64 = VonMisesFisher(kappa).sample(mu.double(), Sphere(dim), generator(2))
    assert z64.dtype == torch.float64
    assert_same_distribution(kappa * ((z64 - mu.double()) ** 2).sum(-1), stats.chi2(dim - 1).cdf, f"kappa={kappa:g}")


def test_vmf_draws_in_few_rounds_at_every_concentration(monkeypatch):
    monkeypatch.setattr(sampling, "MAX_REJECTION_ROUNDS", 20)
    for dim in (2, 3, 100):
        for kappa in (1e-300, 1e-6, 1.0, 1e6, 1e100, 1e300):
            z = VonMisesFisher(kappa).sample(random_unit_vectors(2000, dim, seed=0), Sphere(dim), generator())
            assert torch.allclose(z.norm(dim=-1), torch.ones(2000), atol=1e-5), (dim, kappa)


@pytest.mark.parametrize("kappa", [math.inf, math.nan, 0.0, -1.0, None])
def test_vmf_refuses_a_kappa_that_cannot_work(kappa):
    with pytest.raises(ValueError, match=r"kappa=.* must be a positive finite number for VonMisesFisher\. Fix: e\.g\. kappa=10"):
        VonMisesFisher(kappa)


def test_vmf_rejects_the_box():
    with pytest.raises(ValueError, match="sphere"):
        VonMisesFisher(1.0).sample(torch.full((2, 3), 0.5), Box(3), generator())


# --- anisotropic normal ---------------------------------------------------------------------------


def test_anisotropic_lambdas():
    assert AnisotropicNormal(5).lambdas.tolist() == [25.0, 25.0, 5.0, 5.0, 5.0]
    linspace = AnisotropicNormal(10, "linspace").lambdas
    assert linspace.dtype == torch.float32
    logged = [5, 7.222, 9.444, 11.667, 13.889, 16.111, 18.333, 20.556, 22.778, 25]  # AnInfoNCE logs
    assert np.allclose(linspace, logged, atol=1e-3)
    assert AnisotropicNormal(2, [1.0, 3.0]).lambdas.tolist() == [1.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambdas": [1.0, 2.0]}, "has 2 entries, but dim=3"),
        ({"lambdas": [1.0, 0.0, 2.0]}, "positive"),
        ({"lambdas": "random"}, "unknown"),
        ({"threshold": 0.0}, "threshold"),
    ],
)
def test_anisotropic_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AnisotropicNormal(3, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambdas": [1.0, math.inf, 2.0]}, "positive finite numbers"),
        ({"lambdas": [1.0, math.nan, 2.0]}, "positive finite numbers"),
        ({"lambdas": [1e40, 1.0, 2.0]}, "float32's range"),
        ({"threshold": math.inf}, "threshold=inf must be a positive finite number.*threshold=null"),
        ({"threshold": 1e-9}, "threshold >= 1e-06"),
    ],
)
def test_anisotropic_refuses_values_that_cannot_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AnisotropicNormal(3, **kwargs)


def test_anisotropic_refuses_a_shell_its_proposals_miss_and_names_settings_that_work(monkeypatch):
    """dim=40 with the defaults: |z + eps| ~ sqrt(1 + sum 1/lambda) = 2.6, the shell 1 +- 0.1 is all but never hit
    (this ran out of rejection rounds after 10 minutes). The suggested settings do work, in few rounds."""
    with pytest.raises(ValueError, match="none of 32768 trial proposals") as error:
        AnisotropicNormal(40)
    message = str(error.value)
    threshold = float(re.search(r"threshold >= ([\d.e+-]+)", message).group(1))
    low, high = (float(v) for v in re.search(r"low=([\d.e+-]+), high=([\d.e+-]+)", message).groups())
    assert "threshold=null" in message
    monkeypatch.setattr(sampling, "MAX_REJECTION_ROUNDS", 20)
    anchors = random_unit_vectors(500, 40, seed=0)
    for conditional in (AnisotropicNormal(40, threshold=threshold), AnisotropicNormal(40, low=low, high=high),
                        AnisotropicNormal(40, threshold=None)):
        z = conditional.sample(anchors, Sphere(40), generator())
        assert torch.allclose(z.norm(dim=-1), torch.ones(500), atol=1e-5)
    AnisotropicNormal(20)  # the defaults still work where they always did
    with pytest.raises(ValueError, match=r"lambdas \d+ times larger \(every lambda x"):
        AnisotropicNormal(5, [0.01] * 5)


def test_anisotropic_tangent_variances_are_inverse_precisions():
    """Anchored at e_k, coordinates j != k of the positive are eps_j / |e_k + eps| ~ eps_j."""
    lambdas = torch.tensor([1e4, 2e4, 4e4, 8e4])
    dim = len(lambdas)
    anchors = torch.eye(dim).repeat(N // dim, 1)  # rows cycle through e_0 .. e_{d-1}
    conditional = AnisotropicNormal(dim, lambdas.tolist(), threshold=None)
    z_pos = conditional.sample(anchors, Sphere(dim), generator())
    deviation = z_pos - anchors
    for k in range(dim):
        rows = anchors[:, k] == 1
        for j in set(range(dim)) - {k}:
            assert abs(deviation[rows, j].var().item() * lambdas[j].item() - 1) < 0.06


def test_anisotropic_rejection_matches_brute_force():
    """Against a numpy reference: draw many proposals, keep those in the shell, project."""
    dim, threshold = 4, 0.1
    conditional = AnisotropicNormal(dim, threshold=threshold)
    anchor = random_unit_vectors(1, dim, seed=3)
    z_pos = conditional.sample(anchor.expand(N, -1), Sphere(dim), generator())
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(20 * N, dim)) / np.sqrt(conditional.lambdas.numpy())
    proposals = anchor.numpy() + noise
    norms = np.linalg.norm(proposals, axis=-1, keepdims=True)
    reference = (proposals / norms)[np.abs(norms[:, 0] - 1) < threshold]
    for j in range(dim):
        assert_same_distribution(z_pos[:, j], reference[:, j], f"coordinate {j}")
    without_rejection = AnisotropicNormal(dim, threshold=None).sample(
        anchor.expand(N, -1), Sphere(dim), generator()
    )
    assert stats.ks_2samp(without_rejection[:, 0].numpy(), reference[:, 0]).pvalue < 1e-6


# --- i.i.d. noise ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditional", "reference"),
    [
        (Normal(0.3), stats.norm(scale=0.3)),
        (Laplace(0.7), stats.laplace(scale=0.7)),
        (GeneralizedNormal(0.5, beta=0.6), stats.gennorm(0.6, scale=0.5)),
        (GeneralizedNormal(1.0, beta=4.0), stats.gennorm(4.0, scale=1.0)),
        (GeneralizedNormal(2.0, beta=100.0), stats.gennorm(100.0, scale=2.0)),  # Gamma(1/100) underflows
    ],
    ids=repr,
)
def test_iid_noise_distributions(conditional, reference):
    """A huge box never truncates, so the positive minus its mean is the raw noise."""
    mean = torch.zeros(N, 2)
    noise = conditional.sample(mean, Box(2, low=-1e6, high=1e6), generator())
    for coordinate in noise.T:
        assert_same_distribution(coordinate, reference.cdf)


def test_iid_noise_on_the_sphere_is_projected_back():
    mean = random_unit_vectors(100, 3, seed=4)
    z_pos = Laplace(0.5).sample(mean, Sphere(3), generator(7))
    expected = F.normalize(mean + Laplace(0.5).noise((100, 3), generator(7)), dim=-1)
    assert torch.allclose(z_pos, expected)


@pytest.mark.parametrize("kwargs", [{"scale": 0.0}, {"scale": 1.0, "beta": -1.0}])
def test_noise_rejects_non_positive_parameters(kwargs):
    with pytest.raises(ValueError, match="positive"):
        GeneralizedNormal(**{"beta": 2.0, **kwargs})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Normal(math.inf), "scale=inf must be a positive finite number for Normal"),
        (lambda: Laplace(math.nan), "scale=nan must be a positive finite number for Laplace"),
        (lambda: GeneralizedNormal(1.0, math.inf), "beta=inf must be a positive finite number"),
        (lambda: TruncatedLaplace(math.inf, 2.0), "scale=inf must be a positive finite number"),
        (lambda: TruncatedLaplace(1.0, math.nan), "bound=nan must be a positive finite number"),
        (lambda: TruncatedLaplace(1.0, 1e31), r"Fix: bound <= 1e\+30"),
        (lambda: Normal(1e31), r"Fix: scale <= 1e\+29"),
        (lambda: GeneralizedNormal(1.0, beta=0.01), r"Fix: beta >= 0\.067 at this scale"),
    ],
)
def test_noise_refuses_values_that_cannot_work_naming_a_range_that_does(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_noise_at_the_extremes_of_its_range_stays_on_the_sphere():
    """Noise ~1e25 (F.normalize returned 0 there) and the heaviest accepted tails give unit vectors."""
    mean = random_unit_vectors(N, 3, seed=5)
    for conditional in (Normal(1e25), GeneralizedNormal(1.0, beta=0.07), Laplace(1e-30)):
        z = conditional.sample(mean, Sphere(3), generator())
        assert z.isfinite().all() and torch.allclose(z.norm(dim=-1), torch.ones(N), atol=1e-5), conditional


def truncated_laplace_cdf(loc: float, scale: float, low: float, high: float):
    """The reference: scipy's Laplace CDF renormalised to [low, high]."""
    laplace = stats.laplace(loc=loc, scale=scale)
    return lambda x: (laplace.cdf(x) - laplace.cdf(low)) / (laplace.cdf(high) - laplace.cdf(low))


@pytest.mark.parametrize("bound", [1.0, 2.0, 3.0])
def test_truncated_laplace_matches_the_truncated_distribution_with_absolute_bounds(bound):
    """Each ambient coordinate is Laplace(mean_j, b) cut to [-bound, bound], wherever the mean sits in it."""
    conditional, means = TruncatedLaplace(scale=1.0, bound=bound), [0.9, -0.3, 0.0]
    mean = torch.tensor(means).expand(N, 3)
    x = conditional.ambient(mean, Sphere(3), generator(3))
    assert x.abs().max() <= bound and x.abs().max() > 0.98 * bound  # the support reaches the bounds, never past
    for coordinate, loc in zip(x.T, means):
        assert_same_distribution(coordinate, truncated_laplace_cdf(loc, 1.0, -bound, bound), f"mean {loc}")


def test_truncated_laplace_far_from_its_mean_is_exact_on_either_side():
    """Bounds many scales away from the mean: the draw hugs the near bound, the same on both sides (no CDF
    rounding to 1 piling every draw onto the bound)."""
    conditional = TruncatedLaplace(scale=0.01, bound=0.5)
    above = conditional.ambient(torch.full((N, 2), 0.9), Sphere(2), generator(5))[:, 0]
    below = conditional.ambient(torch.full((N, 2), -0.9), Sphere(2), generator(6))[:, 0]
    assert above.unique().numel() > N // 2 and below.unique().numel() > N // 2
    assert (0.5 - above).mean().item() == pytest.approx(0.01, rel=0.05)  # an exponential of scale 0.01 below the bound
    assert_same_distribution(-below, above.numpy())


def test_truncated_laplace_on_the_sphere_is_the_projected_truncated_draw():
    mean = random_unit_vectors(500, 5, seed=1)
    conditional = TruncatedLaplace(scale=0.5, bound=1.0)
    z_pos = conditional.sample(mean, Sphere(5), generator(9))
    assert torch.allclose(z_pos, F.normalize(conditional.ambient(mean, Sphere(5), generator(9)), dim=-1))
    assert torch.allclose(z_pos.norm(dim=-1), torch.ones(500))
    assert (z_pos * mean).sum(-1).mean() > 0.5  # concentrated around its anchor


def test_truncated_laplace_in_a_box_stays_in_the_box_and_the_bounds():
    mean = torch.full((N, 2), 0.5)
    x = TruncatedLaplace(scale=0.3, bound=0.8).sample(mean, Box(2, low=0.0, high=1.0), generator(2))
    assert x.min() >= 0.0 and x.max() <= 0.8
    assert_same_distribution(x[:, 0], truncated_laplace_cdf(0.5, 0.3, 0.0, 0.8))


@pytest.mark.parametrize("scale", [1e6, 1e16, 1e300])
def test_truncated_laplace_with_a_huge_scale_is_uniform_between_the_bounds(scale):
    """The CDF used to round to 0.5 on the whole interval, leaving two distinct values for scale = 1e16."""
    x = TruncatedLaplace(scale=scale, bound=1.0).ambient(torch.full((N, 2), 0.3), Sphere(2), generator(4))
    for coordinate in x.T:
        assert_same_distribution(coordinate, stats.uniform(loc=-1, scale=2).cdf, f"scale {scale:g}")


def test_truncated_laplace_with_a_tiny_scale_stays_at_its_clamped_mean():
    x = TruncatedLaplace(scale=1e-300, bound=0.5).ambient(torch.tensor([[0.3, 0.9, -0.7]]).expand(N, 3),
                                                          Sphere(3), generator())
    assert torch.equal(x, torch.tensor([[0.3, 0.5, -0.5]]).expand(N, 3))


@pytest.mark.parametrize("kwargs", [{"scale": 0.0, "bound": 1.0}, {"scale": 1.0, "bound": -2.0}])
def test_truncated_laplace_rejects_non_positive_parameters(kwargs):
    with pytest.raises(ValueError, match="positive"):
        TruncatedLaplace(**kwargs)


# --- marginals ------------------------------------------------------------------------------------


def test_concentrated_marginal_is_the_projected_noise_around_e1():
    z = Concentrated(Laplace(1.0)).sample(N, Sphere(3), generator())
    rng = np.random.default_rng(0)
    reference = np.array([1.0, 0.0, 0.0]) + rng.laplace(scale=1.0, size=(N, 3))
    reference /= np.linalg.norm(reference, axis=-1, keepdims=True)
    for j in range(3):
        assert_same_distribution(z[:, j], reference[:, j], f"coordinate {j}")


def test_concentrated_marginal_in_a_box_centres_on_the_midpoint():
    z = Concentrated(Normal(0.1)).sample(N, Box(2, low=2.0, high=4.0), generator())
    assert torch.allclose(z.mean(0), torch.tensor([3.0, 3.0]), atol=0.005)
    assert_same_distribution(z[:, 0], stats.norm(loc=3.0, scale=0.1).cdf)


def test_uniform_marginal_uses_the_space():
    assert torch.equal(Uniform().sample(10, Box(2), generator(5)), Box(2).uniform(10, generator(5)))


# --- mixing ---------------------------------------------------------------------------------------


def test_mixing_is_invertible():
    mixing = InvertibleMLP(10, n_layers=3, generator=generator()).double()
    z = torch.randn(1000, 10, generator=generator(1), dtype=torch.float64)
    assert torch.allclose(mixing.inverse(mixing(z)), z, atol=1e-10)
    assert not torch.allclose(mixing(z), z)


def test_mixing_structure():
    """Column-normalised square layers with a leaky ReLU between (not after) them, all frozen."""
    mixing = InvertibleMLP(4, n_layers=2, negative_slope=0.3, generator=generator())
    first, second = mixing.weights
    z = torch.randn(100, 4, generator=generator(1))
    hidden = z @ first.T
    assert torch.allclose(mixing(z), torch.where(hidden > 0, hidden, 0.3 * hidden) @ second.T)
    assert torch.allclose(mixing.weights.norm(dim=-2), torch.ones(2, 4))
    assert list(mixing.parameters()) == [] and not mixing.weights.requires_grad


def test_mixing_condition_numbers_respect_the_threshold():
    mixing = InvertibleMLP(
        10, n_layers=3, cond_threshold_ratio=0.25, n_candidates=5000, generator=generator()
    )
    achieved = torch.linalg.cond(mixing.weights)
    assert np.allclose(achieved, mixing.condition_numbers, rtol=1e-4)
    assert all(c <= t for c, t in zip(mixing.condition_numbers, mixing.condition_thresholds))


def test_lower_threshold_ratio_gives_better_conditioning():
    best = InvertibleMLP(10, cond_threshold_ratio=0.0, n_candidates=5000, generator=generator())
    median = InvertibleMLP(10, cond_threshold_ratio=0.5, n_candidates=5000, generator=generator())
    assert max(best.condition_numbers) < min(median.condition_numbers)
    assert max(best.condition_thresholds) < min(median.condition_thresholds)


def test_mixing_is_reproducible_from_its_generator():
    def weights(seed: int) -> torch.Tensor:
        return InvertibleMLP(5, n_candidates=1000, generator=generator(seed)).weights

    assert torch.equal(weights(0), weights(0))
    assert not torch.allclose(weights(0), weights(1))


def test_layer_is_a_uniform_pick_among_the_k_best_of_the_candidates_plus_one():
    """Then the pick's quantile F(cond) is a uniform mixture of Beta(j, N + 2 - j), j = 1..k."""
    dim, n_candidates, ratio, repeats = 3, 20, 0.25, 2000
    k = int(ratio * n_candidates) + 1
    draws = 2 * torch.rand(200_000, dim, dim, generator=generator(1)) - 1
    reference_conds = np.sort(torch.linalg.cond(draws / draws.norm(dim=-2, keepdim=True)).numpy())
    rng = generator(0)
    picked = [
        InvertibleMLP(dim, 1, cond_threshold_ratio=ratio, n_candidates=n_candidates, generator=rng)
        .condition_numbers[0]
        for _ in range(repeats)
    ]
    quantiles = np.searchsorted(reference_conds, picked) / len(reference_conds)
    ranks = np.arange(1, k + 1)

    def mixture_cdf(u):
        return stats.beta.cdf(np.asarray(u)[..., None], ranks, n_candidates + 2 - ranks).mean(-1)

    assert_same_distribution(torch.tensor(quantiles), mixture_cdf)


def test_mixing_construction_is_fast():
    start = time.perf_counter()
    InvertibleMLP(10, 3, cond_threshold_ratio=0.0, n_candidates=25_000, generator=generator())
    assert time.perf_counter() - start < 2.0  # < 1 s on an idle 2-core CPU


# --- processes ------------------------------------------------------------------------------------


def latent_dgp(seed: int = 0, conditional=None) -> LatentDGP:
    conditional = conditional or VonMisesFisher(10.0)
    mixing = {"n_layers": 2, "n_candidates": 1000}
    return LatentDGP(Sphere(5), Uniform(), conditional, mixing, seed=seed)


def cluster_dgp(seed: int = 0, kappa: float = 10.0) -> ClusterDGP:
    mixing = {"n_layers": 2, "n_candidates": 1000}
    return ClusterDGP(5, 8, 40, Uniform(), VonMisesFisher(kappa), mixing, seed=seed)


@pytest.mark.parametrize("device", DEVICES)
def test_latent_dgp_sample(device):
    dgp = latent_dgp().to(device)
    batch = dgp.sample(64)
    assert set(batch) == {"z", "z_pos", "x", "x_pos"}
    for value in batch.values():
        assert value.shape == (64, 5) and value.dtype == torch.float32
        assert value.device == dgp.device
    assert dgp.device.type == device and dgp.dim == 5
    assert torch.allclose(batch["z"].norm(dim=-1), torch.ones(64, device=device))
    assert torch.allclose(batch["x"], dgp.mixing(batch["z"]))
    assert torch.allclose(batch["x_pos"], dgp.mixing(batch["z_pos"]))


def test_latent_dgp_in_a_box():
    dgp = LatentDGP(Box(4), Uniform(), Normal(0.05), {"n_candidates": 100}, seed=0)
    batch = dgp.sample(1000)
    assert ((batch["z_pos"] >= 0) & (batch["z_pos"] <= 1)).all()
    assert (batch["z_pos"] - batch["z"]).std() < 0.06


def test_latent_dgp_is_reproducible_from_its_seed():
    first, again, other = latent_dgp(0), latent_dgp(0), latent_dgp(1)
    assert torch.equal(first.mixing.weights, again.mixing.weights)
    assert not torch.allclose(first.mixing.weights, other.mixing.weights)
    batch, batch_again, batch_other = first.sample(32), again.sample(32), other.sample(32)
    assert all(torch.equal(batch[key], batch_again[key]) for key in batch)
    assert not torch.allclose(batch["z"], batch_other["z"])
    assert not torch.equal(first.sample(32)["z"], batch["z"])  # the training stream moves on
    assert torch.equal(first.sample(8, generator(3))["x"], again.sample(8, generator(3))["x"])


def test_latent_dgp_mixing_from_kwargs_or_instance():
    built = InvertibleMLP(5, n_layers=2, n_candidates=1000, generator=generator(0))
    assert torch.equal(latent_dgp(0).mixing.weights, built.weights)  # built from the seed
    assert LatentDGP(Sphere(5), Uniform(), VonMisesFisher(1.0), built, seed=9).mixing is built
    with pytest.raises(ValueError, match="dim"):
        LatentDGP(Sphere(4), Uniform(), VonMisesFisher(1.0), built, seed=0)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Sphere(1), r"dim=1 is impossible: the sphere S\^\(dim-1\) needs dim >= 2"),
    (lambda: AnisotropicNormal(1), "dim=1 is impossible"),
    (lambda: Box(0), "dim=0 must be a whole number >= 1"),
    (lambda: Box(3, low=1.0, high=1.0), "low=1.0 and high=1.0 leave the box empty"),
    (lambda: LatentDGP(Box(3), Uniform(), VonMisesFisher(1.0), {"n_candidates": 10}, seed=0),
     "conditional=VonMisesFisher is defined on the sphere only, but space=Box. Fix: dgp=sphere"),
    (lambda: LatentDGP(Sphere(3), Uniform(), VonMisesFisher(1.0), {"n_candidates": 10}, seed=0, dim=4),
     "dim=4 disagrees with the 3 dimensions of space=Sphere"),
    (lambda: ClusterDGP(5, 1, 10, Uniform(), VonMisesFisher(1.0), {"n_candidates": 10}, seed=0), "n_clusters=1 must be at least 2"),
    (lambda: ClusterDGP(1, 5, 10, Uniform(), VonMisesFisher(1.0), {"n_candidates": 10}, seed=0), "dim=1 is impossible"),
])
def test_a_process_refuses_values_it_cannot_use_naming_its_arguments_and_a_fix(build, message):
    with pytest.raises(ValueError, match=message) as error:
        build()
    assert "Fix:" in str(error.value)


def test_latent_dgp_exposes_ground_truth():
    anisotropic = latent_dgp(conditional=AnisotropicNormal(5, "linspace"))
    assert np.array_equal(anisotropic.truth().lambdas, np.linspace(5, 25, 5, dtype=np.float32))
    truth = latent_dgp().truth()
    assert truth.lambdas is None and truth.kappa == 10.0 and truth.index_vectors == {}
    assert list(truth.facts) == ["dgp/cond_layer0", "dgp/cond_layer1"]


@pytest.mark.parametrize("device", DEVICES)
def test_cluster_dgp_sample(device):
    dgp = cluster_dgp().to(device)
    batch = dgp.sample(N)
    assert set(batch) == {"z", "z_pos", "x", "x_pos", "label", "instance"}
    assert all(value.device == dgp.device for value in batch.values())
    assert batch["label"].dtype == batch["instance"].dtype == torch.int64
    assert set(batch["instance"].unique().tolist()) == set(range(40))
    assert torch.equal(batch["label"], batch["instance"] % 8)
    assert torch.equal(dgp.cluster_of(batch["instance"]), batch["label"])
    assert torch.allclose(batch["x"], dgp.mixing(batch["z"]))
    assert torch.allclose(dgp.cluster_vectors.norm(dim=-1), torch.ones(8, device=device))


def test_cluster_dgp_concentrates_around_cluster_vectors():
    """z and z_pos are independent vMF draws around v: E<z, v> = A and E<z, z_pos> = A^2."""
    dgp = cluster_dgp(kappa=10.0)
    batch = dgp.sample(N)
    centers = dgp.cluster_vectors[batch["label"]]
    a = mean_resultant_length(5, 10.0)
    assert abs((batch["z"] * centers).sum(-1).mean().item() - a) < 0.005
    assert abs((batch["z_pos"] * centers).sum(-1).mean().item() - a) < 0.005
    assert abs((batch["z"] * batch["z_pos"]).sum(-1).mean().item() - a**2) < 0.01


def test_cluster_dgp_is_reproducible_from_its_seed():
    first, again, other = cluster_dgp(0), cluster_dgp(0), cluster_dgp(1)
    assert torch.equal(first.cluster_vectors, again.cluster_vectors)
    assert torch.equal(first.mixing.weights, again.mixing.weights)
    assert not torch.allclose(first.cluster_vectors, other.cluster_vectors)
    batch, batch_again = first.sample(16), again.sample(16)
    assert all(torch.equal(batch[key], batch_again[key]) for key in batch)
    assert not torch.equal(batch["instance"], other.sample(16)["instance"])


def test_fewer_instances_than_clusters_draws_only_the_first_clusters_as_the_papers_code():
    """CE Table 3's |C| = 10⁴ row with N = 10³: instance i is in cluster i mod |C|, so labels stay below N."""
    dgp = ClusterDGP(5, 10000, 1000, Uniform(), VonMisesFisher(10.0), {"n_layers": 2, "n_candidates": 10}, seed=0)
    labels = dgp.sample(20000)["label"]
    assert int(labels.max()) < 1000 and len(labels.unique()) > 990
    vectors = dgp.truth().index_vectors  # the head rows a probe compares: the drawn classes', every instance's
    assert vectors["label"].shape == (1000, 5) and vectors["instance"].shape == (1000, 5)
    assert np.array_equal(vectors["instance"][7], dgp.cluster_vectors[7].numpy())
    assert dgp.cluster_vectors.shape == (10000, 5)
    with pytest.raises(ValueError, match="n_instances"):
        ClusterDGP(5, 10, 0, Uniform(), VonMisesFisher(1.0), {"n_candidates": 10}, seed=0)


# --- the CLI at extreme concentrations ------------------------------------------------------------


def test_cli_trains_with_a_huge_kappa(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli_in_process(["logger=none", *QUICK, "dgp.conditional.kappa=1e9", f"hydra.run.dir={run_dir}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"


def test_cli_refuses_an_infinite_kappa_before_making_a_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli_in_process(["logger=none", *QUICK, "dgp.conditional.kappa=inf", f"hydra.run.dir={run_dir}"], tmp_path)
    assert result.returncode != 0
    assert "dgp.conditional.kappa" in result.stderr and "positive finite number" in result.stderr
    assert "Traceback" not in result.stderr
    assert not run_dir.exists() and not list(tmp_path.rglob("results.json"))
