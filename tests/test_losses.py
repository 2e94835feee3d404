"""Losses against slow per-pair reference formulas, plus the contract the training module relies on."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor, nn

from idexp.losses import DIET, AnInfoNCE, InfoNCE, SupervisedCE

DIM = 3


@pytest.fixture(autouse=True)
def seed() -> None:
    torch.manual_seed(0)


# ---------------------------------------------------------------- slow reference formulas


def dot(a: list[float], b: list[float]) -> float:
    return sum(ak * bk for ak, bk in zip(a, b))


def neg_lp(p: float):
    return lambda a, b: -sum(abs(ak - bk) ** p for ak, bk in zip(a, b))


def neg_half_weighted_sq(lambdas: list[float]):
    return lambda a, b: -0.5 * sum(lk * (ak - bk) ** 2 for lk, ak, bk in zip(lambdas, a, b))


def reference_infonce(h: Tensor, h_pos: Tensor, similarity, temperature: float) -> float:
    """Mean over anchors i of -log softmax_j(sim(h_i, h⁺_j) / τ) at j = i."""
    h, h_pos = h.tolist(), h_pos.tolist()
    total = 0.0
    for i, anchor in enumerate(h):
        logits = [similarity(anchor, candidate) / temperature for candidate in h_pos]
        total += -logits[i] + math.log(sum(math.exp(logit) for logit in logits))
    return total / len(h)


def reference_nt_xent(z1: Tensor, z2: Tensor, similarity) -> float:
    """2B anchors; anchor k's positive is its other view, its negatives every other sample except itself."""
    z = z1.tolist() + z2.tolist()
    batch_size, total = len(z1), 0.0
    for k, anchor in enumerate(z):
        positive = (k + batch_size) % len(z)
        denominator = sum(math.exp(similarity(anchor, z[j])) for j in range(len(z)) if j != k)
        total += -similarity(anchor, z[positive]) + math.log(denominator)
    return total / len(z)


def reference_linear_head_ce(h: Tensor, weight: Tensor, targets: Tensor) -> float:
    h, weight, targets = h.tolist(), weight.tolist(), targets.tolist()
    total = 0.0
    for row, target in zip(h, targets):
        logits = [dot(w, row) for w in weight]
        total += -logits[target] + math.log(sum(math.exp(logit) for logit in logits))
    return total / len(h)


def pair(batch_size: int, noise: float = 0.3) -> dict[str, Tensor]:
    x = torch.randn(batch_size, DIM)
    return {"x": x, "x_pos": x + noise * torch.randn(batch_size, DIM)}


def close(expected: float):
    """float32 loss vs float64 reference."""
    return pytest.approx(expected, rel=1e-5, abs=1e-6)


def set_lambdas(loss: AnInfoNCE, lambdas: Tensor) -> None:
    with torch.no_grad():
        loss.raw_lambdas.copy_(lambdas.expm1().log())  # inverse softplus


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_infonce_dot_matches_reference(temperature: float) -> None:
    batch = pair(5)
    loss, _ = InfoNCE(temperature=temperature)(nn.Identity(), batch)
    assert loss.item() == close(reference_infonce(batch["x"], batch["x_pos"], dot, temperature))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("batch_size", [5, 30])  # 30 > 25 puts p = 2 on cdist's matmul path
def test_infonce_lp_matches_reference(p: float, batch_size: int) -> None:
    batch = pair(batch_size)
    loss, _ = InfoNCE(temperature=0.5, metric="lp", p=p)(nn.Identity(), batch)
    expected = reference_infonce(batch["x"], batch["x_pos"], neg_lp(p), 0.5)
    assert loss.item() == close(expected)


@pytest.mark.parametrize("metric, p", [("dot", 2.0), ("lp", 1.0), ("lp", 2.0)])
def test_infonce_with_anchor_negatives_is_clica_s_loss(metric: str, p: float) -> None:
    """cl-ica's LpSimCLRLoss(simclr_compatibility_mode=True) / SimCLRLoss at α = 0.5, written out per anchor:
    -sim(h_i, h⁺_i)/τ + log(exp(sim(h_i, h⁺_i)/τ) + Σ_k exp(sim(h_i, h_k)/τ)), k over every anchor."""
    batch, temperature = pair(6), 1.0
    h, h_pos = batch["x"].tolist(), batch["x_pos"].tolist()
    sim = dot if metric == "dot" else neg_lp(p)
    expected = 0.0
    for i in range(len(h)):
        positive = sim(h[i], h_pos[i]) / temperature
        candidates = [positive] + [sim(h[i], h_k) / temperature for h_k in h]
        expected += (-positive + math.log(sum(math.exp(c) for c in candidates))) / len(h)
    loss, _ = InfoNCE(temperature=temperature, metric=metric, p=p, negatives="anchors")(nn.Identity(), batch)
    assert loss.item() == close(expected)


def test_the_clica_preset_uses_clica_s_loss_form_at_the_temperature_its_sphere_needs(tmp_path) -> None:
    from tests.conftest import compose_config

    cfg = compose_config(["experiment=clica"], tmp_path)
    assert cfg.loss.negatives == "anchors" and cfg.loss.temperature == 1 / cfg.dgp.conditional.kappa


@pytest.mark.parametrize("batch_size", [2, 3, 6])
def test_aninfonce_matches_reference(batch_size: int) -> None:
    batch, loss_fn = pair(batch_size), AnInfoNCE(DIM)
    set_lambdas(loss_fn, torch.tensor([0.5, 2.0, 7.0]))
    loss, _ = loss_fn(nn.Identity(), batch)
    expected = reference_nt_xent(batch["x"], batch["x_pos"], neg_half_weighted_sq([0.5, 2.0, 7.0]))
    assert loss.item() == close(expected)


@pytest.mark.parametrize("batch_size", [2, 3, 6])
def test_aninfonce_official_layout_matches_the_official_candidates(batch_size: int) -> None:
    """The official code (losses.py, AnInfoNCELoss): first-view anchors z1_i take z1_j and z2_j (j ≠ i) and
    their positive; second-view anchors z2_i take z2_j (j ≠ i), the first view's s(z1_i, z2_j) (j ≠ i) and
    their positive."""
    lambdas = [0.5, 2.0, 7.0]
    batch, loss_fn, sim = pair(batch_size), AnInfoNCE(DIM, layout="official"), neg_half_weighted_sq(lambdas)
    set_lambdas(loss_fn, torch.tensor(lambdas))
    z1, z2 = batch["x"].tolist(), batch["x_pos"].tolist()
    total = 0.0
    for i in range(batch_size):
        others = [j for j in range(batch_size) if j != i]
        positive = sim(z1[i], z2[i])
        for candidates in ([sim(z1[i], z1[j]) for j in others] + [sim(z1[i], z2[j]) for j in others],
                           [sim(z2[i], z2[j]) for j in others] + [sim(z1[i], z2[j]) for j in others]):
            total += -positive + math.log(sum(math.exp(c) for c in candidates + [positive]))
    loss, _ = loss_fn(nn.Identity(), batch)
    assert loss.item() == close(total / (2 * batch_size))


def test_the_official_layout_is_a_loss_setting_of_the_aninfonce_preset(tmp_path) -> None:
    from idexp.train import build
    from tests.conftest import compose_config

    cfg = compose_config(["experiment=aninfonce", "loss.layout=official", "logger=none"], tmp_path)
    assert build(cfg)[1].loss.layout == "official" and "layout" not in cfg  # under loss, not a global key


def test_aninfonce_with_isotropic_lambda_is_euclidean_infonce_over_both_views() -> None:
    temperature, batch, loss_fn = 0.3, pair(5), AnInfoNCE(DIM)
    set_lambdas(loss_fn, torch.full((DIM,), 2 / temperature))
    loss, _ = loss_fn(nn.Identity(), batch)
    euclidean = lambda a, b: neg_lp(2.0)(a, b) / temperature  # noqa: E731
    assert loss.item() == close(reference_nt_xent(batch["x"], batch["x_pos"], euclidean))


def test_aninfonce_is_symmetric_in_the_two_views() -> None:
    batch, loss_fn = pair(5), AnInfoNCE(DIM)
    swapped = {"x": batch["x_pos"], "x_pos": batch["x"]}
    assert loss_fn(nn.Identity(), batch)[0].item() == pytest.approx(loss_fn(nn.Identity(), swapped)[0].item())


def test_aninfonce_handles_batch_sizes_changing_between_calls() -> None:
    loss_fn = AnInfoNCE(DIM)
    lambdas = loss_fn.lambdas.tolist()
    for batch_size in (7, 3, 4):
        batch = pair(batch_size)
        expected = reference_nt_xent(batch["x"], batch["x_pos"], neg_half_weighted_sq(lambdas))
        assert loss_fn(nn.Identity(), batch)[0].item() == close(expected)


def test_aninfonce_lambdas_are_softplus_of_a_small_gaussian_init() -> None:
    loss_fn = AnInfoNCE(1000, init_std=0.1)
    assert loss_fn.raw_lambdas.std().item() == pytest.approx(0.1, rel=0.1)
    assert torch.equal(loss_fn.lambdas, F.softplus(loss_fn.raw_lambdas).detach())
    assert not loss_fn.lambdas.requires_grad
    _, logs = loss_fn(nn.Identity(), {"x": torch.randn(4, 1000), "x_pos": torch.randn(4, 1000)})
    assert logs["loss/lambda_min"] == loss_fn.lambdas.min() and logs["loss/lambda_max"] == loss_fn.lambdas.max()


def test_supervised_ce_matches_reference() -> None:
    x, label = torch.randn(6, DIM), torch.tensor([0, 1, 2, 3, 1, 0])
    loss_fn = SupervisedCE(DIM, n_classes=4)
    loss, _ = loss_fn(nn.Identity(), {"x": x, "label": label})
    assert loss.item() == close(reference_linear_head_ce(x, loss_fn.head_weight, label))
    assert loss_fn.head_weight.shape == (4, DIM) and loss_fn.head.bias is None


@pytest.mark.parametrize("normalize_rows", [False, True])
def test_diet_matches_reference(normalize_rows: bool) -> None:
    x, instance = torch.randn(6, DIM), torch.tensor([4, 0, 2, 3, 1, 4])
    loss_fn = DIET(DIM, n_instances=5, normalize_rows=normalize_rows)
    weight = loss_fn.head_weight.clone()
    expected_weight = F.normalize(weight, dim=1) if normalize_rows else weight
    loss, _ = loss_fn(nn.Identity(), {"x": x, "instance": instance})
    assert loss.item() == close(reference_linear_head_ce(x, expected_weight, instance))


def test_diet_row_normalisation_projects_in_place_and_changes_the_loss() -> None:
    batch = {"x": torch.randn(6, DIM), "instance": torch.tensor([4, 0, 2, 3, 1, 4])}
    raw, normalised = DIET(DIM, 5), DIET(DIM, 5, normalize_rows=True)
    with torch.no_grad():
        raw.head.weight.mul_(3.0)
    normalised.load_state_dict(raw.state_dict())
    raw_loss, _ = raw(nn.Identity(), batch)
    normalised_loss, _ = normalised(nn.Identity(), batch)
    assert torch.allclose(normalised.head_weight.norm(dim=1), torch.ones(5))
    assert not torch.allclose(raw.head_weight.norm(dim=1), torch.ones(5))
    assert abs(raw_loss.item() - normalised_loss.item()) > 1e-3


@pytest.mark.parametrize("make_loss", [lambda p: SupervisedCE(DIM, n_classes=4, label_noise=p),
                                       lambda p: DIET(DIM, n_instances=4, label_noise=p)], ids=["supervised", "diet"])
def test_label_noise_corrupts_training_targets_only(make_loss) -> None:
    """0 %: the clean loss; 100 %: in training, targets independent of the true ones; in eval, the truth."""
    torch.manual_seed(0)
    x, target = torch.randn(6, DIM), torch.tensor([0, 1, 2, 3, 1, 0])
    clean, noisy = make_loss(0.0), make_loss(1.0)
    noisy.load_state_dict(clean.state_dict())
    batch = {"x": x, "label": target, "instance": target}
    expected = reference_linear_head_ce(x, clean.head_weight, target)
    assert all(clean(nn.Identity(), batch)[0].item() == close(expected) for _ in range(3))
    assert any(noisy(nn.Identity(), batch)[0].item() != close(expected) for _ in range(3))
    noisy.eval()
    assert noisy(nn.Identity(), batch)[0].item() == close(expected)


@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0])
def test_label_noise_replaces_a_label_by_a_uniform_draw_with_its_probability(noise: float) -> None:
    torch.manual_seed(1)
    n_classes, n = 10, 50_000
    target = torch.randint(n_classes, (n,))
    corrupted = SupervisedCE(DIM, n_classes=n_classes, label_noise=noise).corrupt(target)
    kept = (corrupted == target).float().mean().item()
    assert kept == pytest.approx(1 - noise + noise / n_classes, abs=0.01)  # a uniform draw may hit the truth
    if noise == 1.0:  # uniform over all classes, whatever the true label
        counts = torch.bincount(corrupted[target == 3], minlength=n_classes).numpy()
        assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("noise", [-0.1, 1.5])
def test_label_noise_outside_zero_to_one_is_refused(noise: float) -> None:
    with pytest.raises(ValueError, match=rf"label_noise={noise} must be a probability in \[0, 1\]"):
        DIET(DIM, n_instances=4, label_noise=noise)


def test_accuracy_counts_positives_ranked_first() -> None:
    x = torch.randn(6, DIM)
    aligned, shifted = {"x": x, "x_pos": x.clone()}, {"x": x, "x_pos": x.roll(1, dims=0)}
    for loss_fn in (InfoNCE(metric="lp"), AnInfoNCE(DIM)):
        assert loss_fn(nn.Identity(), aligned)[1]["loss/accuracy"]().item() == 1.0
        assert loss_fn(nn.Identity(), shifted)[1]["loss/accuracy"]().item() == 0.0
    supervised = SupervisedCE(DIM, n_classes=DIM)
    with torch.no_grad():
        supervised.head.weight.copy_(torch.eye(DIM))
    one_hot = {"x": torch.eye(DIM), "label": torch.tensor([0, 1, 2])}
    assert supervised(nn.Identity(), one_hot)[1]["loss/accuracy"]().item() == 1.0
    one_hot["label"] = torch.tensor([1, 2, 0])
    assert supervised(nn.Identity(), one_hot)[1]["loss/accuracy"]().item() == 0.0


# ---------------------------------------------------------------- gradients and the training contract

CONTRASTIVE = {
    "infonce-dot": lambda: InfoNCE(),
    "infonce-l1": lambda: InfoNCE(metric="lp", p=1.0),
    "infonce-l2": lambda: InfoNCE(metric="lp", p=2.0),
    "infonce-l3": lambda: InfoNCE(metric="lp", p=3.0),
    "aninfonce": lambda: AnInfoNCE(DIM),
}


@pytest.mark.parametrize("make_loss", CONTRASTIVE.values(), ids=CONTRASTIVE.keys())
@pytest.mark.parametrize("batch_size", [4, 32])  # 32 > 25 puts p = 2 on cdist's matmul path
def test_gradients_are_finite_when_outputs_coincide(make_loss, batch_size: int) -> None:
    loss_fn, batch = make_loss(), pair(batch_size)
    batch["x"][1] = batch["x"][0]
    batch["x_pos"][0] = batch["x"][0]  # h_0 = h_1 = h⁺_0: zero distances within and across views
    for tensor in batch.values():
        tensor.requires_grad_()
    loss, _ = loss_fn(nn.Identity(), batch)
    loss.backward()
    gradients = [batch["x"].grad, batch["x_pos"].grad] + [p.grad for p in loss_fn.parameters()]
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in gradients)


class CountingEncoder(nn.Module):
    """Records the shape of every input the wrapped module is called on."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module, self.input_shapes = module, []

    def forward(self, x: Tensor) -> Tensor:
        self.input_shapes.append(tuple(x.shape))
        return self.module(x)


ALL_LOSSES = {
    **CONTRASTIVE,
    "supervised": lambda: SupervisedCE(DIM, n_classes=3),
    "diet": lambda: DIET(DIM, n_instances=5, normalize_rows=True),
}


def full_batch(batch_size: int) -> dict[str, Tensor]:
    return {**pair(batch_size), "label": torch.arange(batch_size) % 3, "instance": torch.arange(batch_size) % 5}


@pytest.mark.parametrize("make_loss", ALL_LOSSES.values(), ids=ALL_LOSSES.keys())
def test_encoder_is_called_once_on_only_the_required_keys(make_loss) -> None:
    loss_fn, encoder = make_loss(), CountingEncoder(nn.Linear(DIM, DIM))
    batch = {key: value for key, value in full_batch(6).items() if key in loss_fn.requires}
    loss, logs = loss_fn(encoder, batch)
    n_views = 2 if "x_pos" in loss_fn.requires else 1
    assert encoder.input_shapes == [(n_views * 6, DIM)]
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    assert "loss/accuracy" in logs
    values = [value() if callable(value) else value for value in logs.values()]  # callables: only on logged steps
    assert all(value.dim() == 0 and not value.requires_grad for value in values)


def test_learned_temperature_is_a_parameter_that_receives_gradients() -> None:
    assert list(InfoNCE(temperature=0.2).parameters()) == []
    loss_fn = InfoNCE(temperature=0.2, learn_temperature=True)
    (log_temperature,) = loss_fn.parameters()
    loss, logs = loss_fn(nn.Identity(), pair(5))
    loss.backward()
    assert logs["loss/temperature"].item() == pytest.approx(0.2)
    assert torch.isfinite(log_temperature.grad) and log_temperature.grad.abs() > 0


def train(loss_fn: nn.Module, batch: dict[str, Tensor], steps: int = 60) -> list[float]:
    """A few Adam steps of a linear encoder, the loss's parameters in their own group at ``loss_fn.lr``."""
    encoder = nn.Linear(DIM, DIM)
    groups = [{"params": encoder.parameters()}]
    if own := list(loss_fn.parameters()):
        groups.append({"params": own, "lr": loss_fn.lr or 1e-2})
    optimizer = torch.optim.Adam(groups, lr=1e-2)
    history = []
    for _ in range(steps):
        loss, _ = loss_fn(encoder, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


CONTRASTIVE_TOYS = {
    **CONTRASTIVE,
    "infonce-learned-temperature": lambda: InfoNCE(temperature=1.0, metric="lp", learn_temperature=True),
}
CLASSIFIERS = {
    "supervised": lambda: SupervisedCE(DIM, n_classes=3),
    "diet": lambda: DIET(DIM, n_instances=5),
    "diet-normalised-rows": lambda: DIET(DIM, n_instances=5, normalize_rows=True),
}


@pytest.mark.parametrize("make_loss", CONTRASTIVE_TOYS.values(), ids=CONTRASTIVE_TOYS.keys())
def test_adam_reduces_contrastive_losses_on_close_positive_pairs(make_loss) -> None:
    x = torch.randn(64, DIM)
    history = train(make_loss(), {"x": x, "x_pos": x + 0.05 * torch.randn(64, DIM)})
    assert history[-1] < 0.8 * history[0]


@pytest.mark.parametrize("make_loss", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_adam_reduces_classification_losses_on_separable_clusters(make_loss) -> None:
    # 5 well-separated clusters; a sample's instance is its cluster and its class the cluster mod 3.
    instance = torch.arange(64) % 5
    x = 3 * torch.randn(5, DIM)[instance] + 0.1 * torch.randn(64, DIM)
    history = train(make_loss(), {"x": x, "label": instance % 3, "instance": instance})
    assert history[-1] < 0.8 * history[0]


@pytest.mark.skipif(not torch.accelerator.is_available(), reason="needs an accelerator")
@pytest.mark.parametrize("make_loss", ALL_LOSSES.values(), ids=ALL_LOSSES.keys())
def test_losses_run_on_the_accelerator(make_loss) -> None:
    device = torch.accelerator.current_accelerator()
    loss_fn, encoder = make_loss().to(device), nn.Linear(DIM, DIM).to(device)
    batch = {key: value.to(device) for key, value in full_batch(7).items()}
    loss, logs = loss_fn(encoder, batch)
    loss.backward()
    assert loss.device.type == device.type and all(v.device.type == device.type for v in logs.values())
