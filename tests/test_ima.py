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


def test_the_official_mlp_sweeps_sources_are_gaussian_on_all_of_r_d(tmp_path):
    """dgp=ima_mlp_gaussian: N(0, I) sources, untruncated (the Euclidean space), mixed by orthogonal layers."""
    from hydra.utils import instantiate

    from tests.conftest import compose_config

    dgp = instantiate(compose_config(["dgp=ima_mlp_gaussian"], tmp_path).dgp)
    z = dgp.sample(20000, generator=torch.Generator().manual_seed(0))["z"]
    assert z.mean(0).abs().max() < 0.03 and (z.std(0) - 1).abs().max() < 0.03 and z.abs().max() > 3.5
    assert torch.allclose(dgp.mixing.weights[0] @ dgp.mixing.weights[0].T, torch.eye(3), atol=1e-5)


def test_vae_loss_is_the_negative_elbo_of_torch_distributions():
    """One reparameterised sample: −log N(x | g(z), decoder_var) + KL(q ‖ N(0, I)), as torch.distributions computes them."""
    from torch.distributions import Normal, kl_divergence

    from idexp.losses import VAE
    from idexp.models import MLP, GaussianMLP

    torch.manual_seed(0)
    encoder = GaussianMLP(5, 3, hidden=[16])
    decoder = MLP(3, 5, hidden=[16], output="none")
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


@pytest.mark.parametrize("prior", ["uniform", "beta"])
def test_a_prior_on_the_unit_cube_estimates_the_kl_as_torch_distributions_does(prior):
    """z = sigmoid(u), u ~ N(mean, σ²): the one-sample KL term is log q(z|x) − log p(z) with q the Gaussian pushed
    through the sigmoid, as torch.distributions' TransformedDistribution and Beta give them, at every sample."""
    from torch.distributions import Beta, Normal, SigmoidTransform, TransformedDistribution, Uniform

    from idexp.losses.priors import BetaPrior, UniformPrior

    torch.manual_seed(0)
    mean, log_var = torch.randn(256, 3, dtype=torch.float64), torch.randn(256, 3, dtype=torch.float64) - 1
    u = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    q = TransformedDistribution(Normal(mean, (0.5 * log_var).exp()), [SigmoidTransform()])
    chosen = UniformPrior() if prior == "uniform" else BetaPrior(2.0, 5.0)
    p = Uniform(0.0, 1.0) if prior == "uniform" else Beta(torch.tensor(2.0, dtype=torch.float64), 5.0)
    z = torch.sigmoid(u)
    expected = (q.log_prob(z) - p.log_prob(z)).sum(-1)
    assert torch.allclose(chosen.kl(u, mean, log_var), expected, atol=1e-8)
    assert torch.equal(chosen.latents(u), z)
    with pytest.raises(ValueError, match="Fix: e.g. loss.prior.alpha=3"):
        BetaPrior(0.0, 1.0)


def test_loss_prior_picks_the_unit_cube_for_encoder_and_decoder_alike(tmp_path):
    """`loss/prior=uniform` sets the encoder's codes into the unit cube (sigmoid of the mean), where the decoder
    reads them; a prior and an encoder that disagree are refused with the fix."""
    from hydra.utils import instantiate

    from idexp.losses.priors import NormalPrior, UniformPrior
    from idexp.models import GaussianMLP
    from tests.conftest import compose_config

    default = compose_config(["loss=vae", "dgp=moebius"], tmp_path / "normal")
    assert default.model.bounded is False and default.loss.prior._target_.endswith("NormalPrior")
    assert default.loss.decoder._target_ == "idexp.models.MLP" and default.loss.decoder.hidden == [10, 10]
    assert instantiate(default.model).net.net[1].out_features == 30  # 10 units per latent, as the paper's
    assert instantiate(default.model).net.net[2].negative_slope == 0.2
    cfg = compose_config(["loss=vae", "dgp=moebius", "loss/prior=uniform"], tmp_path / "uniform")
    encoder, loss = instantiate(cfg.model), instantiate(cfg.loss)
    assert encoder.bounded and isinstance(loss.prior, UniformPrior)
    x = torch.randn(32, 3)
    assert torch.allclose(encoder(x), encoder.posterior(x)[0].sigmoid())
    value, _ = loss(encoder, {"x": x})
    assert torch.isfinite(value)
    from idexp.losses import VAE

    with pytest.raises(ValueError, match="Fix: pick the prior with its group, loss/prior=normal"):
        VAE(loss.decoder, prior=NormalPrior())(encoder, {"x": x})
    with pytest.raises(ValueError, match="model.bounded"):
        VAE(loss.decoder, prior=UniformPrior())(GaussianMLP(3, 3, hidden=[8]), {"x": x})


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
    assert record["config"]["model"]["_target_"] == "idexp.models.GaussianMLP"
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


@pytest.mark.slow  # a conv VAE's training run on a tiny dSprites file
def test_the_dsprites_vae_trains_a_conv_decoder_and_probes_every_factor(tmp_path, monkeypatch):
    """`experiment=ima_vae_dsprites`: a conv encoder and decoder, a Beta prior (codes in the unit cube), the best
    checkpoint by validation −ELBO, then the factor read-out and the decoder's C_IMA."""
    import json

    from tests.conftest import compose_config, run_cli_in_process
    from tests.dislib_files import dsprites_overrides, write_dsprites

    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    paper = compose_config(["experiment=ima_vae_dsprites", "scale=paper", "logger=none"], tmp_path / "p")
    assert (paper.dataset.subset, paper.dataset.batch_size, paper.trainer.max_epochs) == (0.0814, 64, 150)
    assert paper.model.bounded and paper.optimizer.lr == 1e-3 and paper.scheduler is None
    assert paper.callbacks.best.monitor == "val/loss" and paper.callbacks.early_stop is None
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process(["experiment=ima_vae_dsprites", *dsprites_overrides(path)[1:], "dataset.subset=1.0",
                                 "logger=csv", "trainer=cpu", "trainer.max_epochs=1", "dataset.batch_size=32",
                                 "dataset.loader.num_workers=0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["status"] == "completed" and (tmp_path / "run" / "checkpoints" / "best.ckpt").exists()
    assert record["config"]["loss"]["decoder"]["_target_"] == "idexp.models.ConvDecoder"
    assert -1 <= record["metrics"]["probe/pearson/posX"] <= 1 and record["metrics"]["probe/cima_decoder"] >= 0
    assert "probe/cima_mixing" not in record["metrics"]  # images have no mixing to compare with


def test_the_ima_vae_preset_and_its_official_values(tmp_path):
    """experiment=ima_vae at both scales, and the official Möbius sweep's row found by a run's own settings."""
    import pandas as pd
    from hydra.utils import instantiate

    from idexp.report.paper import IMA_VAE
    from tests.conftest import compose_config

    quick = compose_config(["experiment=ima_vae", "logger=none"], tmp_path / "q")
    paper = compose_config(["experiment=ima_vae", "scale=paper", "dgp=ima_mlp", "logger=none"], tmp_path / "p")
    assert (quick.trainer.max_steps, paper.trainer.max_steps) == (20000, 98400)  # 150 epochs of 656 batches
    assert quick.dataset.batch_size == 64 and quick.optimizer.lr == 1e-3 and quick.scheduler is None
    assert quick.model.bounded and quick.dgp.mixing.type == "moebius" and paper.dgp.mixing.weights == "positive"
    assert instantiate(paper.dgp).sample(8)["z"].abs().max() <= 0.5  # the Möbius rows' sources, another mixing
    run = pd.Series({"dgp.mixing.type": "moebius", "loss.prior._target_": "idexp.losses.priors.UniformPrior",
                     "dgp.dim": 3, "loss.decoder_var": 1e-4})
    assert IMA_VAE.lookup(run) == {"MCC": 96.2, "C_IMA decoder": 0.0019}
    assert IMA_VAE.lookup(run.drop("loss.decoder_var")) is None
    assert IMA_VAE.lookup({**run, "dgp.mixing.type": "mlp"}) is None


def test_the_ima_vae_report_tests_each_claim_on_the_means_and_draws_its_figure(tmp_path):
    """Known runs: Möbius MCC rising with γ², its decoder's C_IMA falling, the generic MLP's decoder below its
    mixing's C_IMA and recovered worse: every claim reproduced (✓); a seed that flips the last one: ✗."""
    import pandas as pd

    from idexp.report.collect import Runs
    from idexp.report.figures import claims_markdown
    from idexp.report.ima_vae import FIGURE, draw

    rows = []
    for seed in range(3):
        for gamma2, mcc_moebius, cima_moebius, mcc_mlp in [(10, 0.2, 1.4, 0.3), (1e3, 0.9, 0.05, 0.5), (1e4, 0.95, 0.01, 0.55)]:
            common = {"loss.decoder_var": 1 / gamma2, "probe/mcc_pearson": None, "seed": seed}
            rows.append({**common, "dgp.mixing.type": "moebius", "probe/mcc_pearson": mcc_moebius + 0.01 * seed,
                         "probe/cima_decoder": cima_moebius, "probe/cima_mixing": 0.0})
            rows.append({**common, "dgp.mixing.type": "mlp", "dgp.mixing.weights": "positive",
                         "probe/mcc_pearson": mcc_mlp, "probe/cima_decoder": 0.2, "probe/cima_mixing": 1.1})
    runs = Runs(pd.DataFrame(rows), varied=["loss.decoder_var", "dgp"])
    table = claims_markdown(FIGURE, runs)
    assert table.count("✓") == 4, table
    assert "21.0 at γ² = 10, highest 96.0 at γ² = 10⁴" in table and "MLP, positive weights (not IMA), γ² = 10³: 0.900 ± 0.000" in table
    assert draw(runs, tmp_path / "ima_vae.png") == [tmp_path / "ima_vae.png"] and (tmp_path / "ima_vae.png").stat().st_size > 0
    flipped = pd.DataFrame(rows).assign(**{"probe/mcc_pearson": lambda f: f["probe/mcc_pearson"].where(
        f["dgp.mixing.type"] == "moebius", 0.99)})
    assert "✗ γ² = 10³" in claims_markdown(FIGURE, Runs(flipped, varied=["loss.decoder_var", "dgp"]))
