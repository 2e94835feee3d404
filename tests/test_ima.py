"""The IMA contrast's known answers: 0 for orthogonal columns and conformal maps, the closed form of a shear,
≥ 0 always (Hadamard), invariant to rescaling the latents."""
import math

import pytest
import torch

from idexp.metrics.ima import ima_contrast, local_ima_contrast


def test_orthogonal_columns_give_zero_and_any_jacobian_at_least_zero():
    generator = torch.Generator().manual_seed(0)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=generator))
    scaled = rotation[:, :4] * torch.tensor([0.1, 2.0, 5.0, 30.0], dtype=torch.float64)  # 6 × 4: D > d
    assert local_ima_contrast(scaled[None]).item() == pytest.approx(0, abs=1e-12)
    generic = torch.randn(500, 5, 5, generator=generator)
    assert (local_ima_contrast(generic) > 0).all()


@pytest.mark.parametrize("shear", [0.3, 1.0, 4.0])
def test_a_linear_shear_has_its_closed_form_everywhere(shear):
    """[[1, s], [0, 1]]: columns of norm 1 and √(1 + s²), determinant 1, so C_IMA = ½ log(1 + s²)."""
    matrix = torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=torch.float64)
    latents = torch.randn(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert ima_contrast(lambda z: z @ matrix.T, latents) == pytest.approx(0.5 * math.log(1 + shear**2), rel=1e-10)


def test_a_nonlinear_conformal_map_gives_zero_and_a_non_conformal_one_does_not():
    """exp on the complex plane, (x, y) → eˣ(cos y, sin y), is conformal: its Jacobian is a scaled rotation."""
    latents = torch.rand(1000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1

    def complex_exp(z):
        return torch.exp(z[..., :1]) * torch.cat([torch.cos(z[..., 1:]), torch.sin(z[..., 1:])], dim=-1)

    assert ima_contrast(complex_exp, latents) == pytest.approx(0, abs=1e-12)
    bent = lambda z: torch.stack([z[..., 0] + z[..., 1] ** 2, z[..., 1]], dim=-1)  # noqa: E731  (column 2 tilts)
    assert ima_contrast(bent, latents) > 0.05


def test_rescaling_the_latents_leaves_the_contrast_unchanged():
    generator = torch.Generator().manual_seed(3)
    mixing = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    latents = torch.randn(400, 3, dtype=torch.float64, generator=generator)
    scales = torch.tensor([0.2, 1.0, 7.0], dtype=torch.float64)
    assert ima_contrast(lambda z: mixing(z / scales), latents * scales) == pytest.approx(ima_contrast(mixing, latents), rel=1e-9)


def test_moebius_mixing_is_conformal_invertible_and_keeps_its_pole_outside_the_sources():
    from idexp.dgp import Moebius

    mixing = Moebius(3, generator=torch.Generator().manual_seed(4)).double()
    assert (mixing.pole.abs() > 0.5).all()
    sources = torch.rand(2000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) - 0.5
    assert torch.allclose(mixing.inverse(mixing(sources)), sources, atol=1e-6)  # drawn in float32
    assert ima_contrast(mixing, sources) == pytest.approx(0, abs=1e-10)


def test_orthogonal_layers_are_rotations_and_positive_ones_break_ima():
    """The IMA-VAE paper's contrast: orthogonal weights keep each layer's columns orthogonal (one layer: C_IMA = 0),
    weights U(1, 3) point every column the same way (a large C_IMA)."""
    from idexp.dgp import InvertibleMLP

    sources = torch.rand(2000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) - 0.5
    rotations = InvertibleMLP(3, n_layers=2, weights="orthogonal", generator=torch.Generator().manual_seed(7)).double()
    assert torch.allclose(rotations.weights.mT @ rotations.weights, torch.eye(3, dtype=torch.float64).expand(2, 3, 3), atol=1e-6)
    one_layer = InvertibleMLP(3, n_layers=1, weights="orthogonal", generator=torch.Generator().manual_seed(7)).double()
    positive = InvertibleMLP(3, n_layers=2, weights="positive", generator=torch.Generator().manual_seed(7)).double()
    assert ((positive.weights >= 1) & (positive.weights <= 3)).all()
    assert ima_contrast(one_layer, sources) == pytest.approx(0, abs=1e-10)
    assert ima_contrast(positive, sources) > 1.0 > ima_contrast(rotations, sources)
    assert torch.allclose(positive.inverse(positive(sources)), sources, atol=1e-8)
    with pytest.raises(ValueError, match="weights='haar' is not a way to draw the mixing's layers"):
        InvertibleMLP(3, weights="haar")


def test_dgp_moebius_composes_and_samples_through_hydra(tmp_path):
    from hydra.utils import instantiate

    from tests.conftest import compose_config

    dgp = instantiate(compose_config(["dgp=moebius", "seed=3"], tmp_path).dgp)
    batch = dgp.sample(512, generator=torch.Generator().manual_seed(0))
    assert batch["z"].min() >= -0.5 and batch["z"].max() <= 0.5 and torch.isfinite(batch["x"]).all()
    assert torch.allclose(dgp.mixing.inverse(batch["x"]), batch["z"], atol=1e-4)


def test_vae_loss_is_the_negative_elbo_of_torch_distributions():
    """One reparameterised sample: −log N(x | g(z), decoder_var) + KL(q ‖ N(0, I)), as torch.distributions computes them."""
    from torch.distributions import Normal, kl_divergence

    from idexp.losses import VAE
    from idexp.models import MLP, GaussianEncoder

    torch.manual_seed(0)
    encoder, decoder = GaussianEncoder(5, 3, hidden=[16]), MLP(3, 5, hidden=[16], output="none")
    loss = VAE(decoder, decoder_var=0.01)
    x = torch.randn(64, 5)
    torch.manual_seed(1)
    value, logs = loss(encoder, {"x": x})
    mean, log_var = encoder.posterior(x)
    torch.manual_seed(1)
    z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    expected = (-Normal(decoder(z), 0.1).log_prob(x).sum(-1)
                + kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["loss/kl"].item() > 0 and torch.equal(encoder(x), mean)  # the probe scores the posterior mean
    with pytest.raises(ValueError, match="decoder_var=0 must be a positive finite variance"):
        VAE(decoder, decoder_var=0)
    with pytest.raises(TypeError, match="Fix: model=vae_mlp"):
        loss(MLP(5, 3, hidden=[16]), {"x": x})


@pytest.mark.slow  # a training run (8 s): the default tier keeps its 5 minutes
def test_loss_vae_runs_end_to_end_on_the_moebius_dgp(tmp_path):
    """`python train.py loss=vae dgp=moebius` picks the posterior encoder and trains; the probe scores its mean."""
    from tests.conftest import run_cli_in_process

    result = run_cli_in_process(["loss=vae", "dgp=moebius", "logger=csv", "trainer=cpu", "trainer.max_steps=300",
                                 "dataset.probe_fit=512", "dataset.probe_score=512", f"hydra.run.dir={tmp_path / 'run'}"],
                                tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["config"]["model"]["_target_"] == "idexp.models.GaussianEncoder"
    assert record["status"] == "completed" and 0 < record["metrics"]["probe/r2_affine"] <= 1
    assert record["metrics"]["probe/cima_mixing"] == pytest.approx(0, abs=1e-4)  # the Möbius map is conformal
    assert record["metrics"]["probe/cima_decoder"] > 0
    assert "IMA contrast C_IMA" in result.stdout


def test_ima_scorer_scores_the_true_mixing_at_the_latents_and_the_decoder_at_the_codes():
    import numpy as np

    from idexp.dgp import Moebius
    from idexp.ground_truth import Learned, ProbeData, ProbeSplit, Truth, latent_factors
    from idexp.scorers import IMAScores

    shear = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        shear.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    latents = np.random.default_rng(8).uniform(-0.5, 0.5, (300, 2))
    data = ProbeData(ProbeSplit([], latents, "fit"), ProbeSplit([], latents, "score"), latent_factors(2),
                     truth=Truth(mixing=shear))
    scorer = IMAScores(max_samples=200)
    assert scorer.scores(latents.astype(np.float32), latents, data) == {}
    scores = scorer.extras({}, data, Learned(decoder=Moebius(2, generator=torch.Generator().manual_seed(9))))
    assert scores["cima_mixing"] == pytest.approx(0.5 * math.log(5), rel=1e-5)  # ½ log(1 + 2²)
    assert scores["cima_decoder"] == pytest.approx(0, abs=1e-5)  # conformal
    assert IMAScores().extras({}, data, Learned()) == {"cima_mixing": pytest.approx(0.5 * math.log(5), rel=1e-5)}
    lines = IMAScores.summary({"probe/cima_decoder": 0.25, "probe/cima_mixing": 0.0}, trained=True)
    assert lines == ["IMA contrast C_IMA (0: orthogonal Jacobian columns): learned decoder 0.2500, true mixing 0.0000"]
    assert IMAScores.summary({"probe/cima_mixing": 0.0}, trained=True) == []  # no decoder: nothing printed
