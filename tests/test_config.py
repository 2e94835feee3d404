"""Every config option composes and builds; every impossible value stops early with a useful message."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import open_dict

from idexp.config import ConfigError, building
from idexp.train import build, train
from tests.conftest import QUICK, compose_config, run_cli_in_process

CONF = Path(__file__).resolve().parents[1] / "idexp" / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_have_the_documented_options():
    assert {"sphere", "box", "clusters"} <= set(options("dgp"))
    assert {"vmf", "anisotropic", "laplace", "normal", "gennorm"} <= set(options("dgp/conditional"))
    assert {"infonce", "aninfonce", "ce", "diet"} <= set(options("loss"))
    assert {"default", "cpu", "gpu", "ddp", "debug"} <= set(options("trainer"))
    assert {"wandb", "csv", "none"} <= set(options("logger"))


LATENT_LOSSES = ["infonce", "aninfonce"]
CLUSTER_LOSSES = ["ce", "diet", "infonce", "aninfonce"]


@pytest.mark.parametrize("dgp,loss", [("sphere", l) for l in LATENT_LOSSES] + [("box", "infonce")]
                         + [("clusters", l) for l in CLUSTER_LOSSES])
def test_dgp_and_loss_build_and_sample(tmp_path, dgp, loss):
    cfg = compose_config([f"dgp={dgp}", f"loss={loss}", "logger=none", *QUICK], tmp_path)
    trainer, module, datamodule, probe = build(cfg)
    batch = datamodule.dgp.sample(16)
    loss_value, _ = module.loss(module.encoder, batch)
    assert loss_value.ndim == 0 and loss_value.isfinite()


@pytest.mark.parametrize("conditional", options("dgp/conditional"))
def test_every_conditional_builds_on_the_sphere(tmp_path, conditional):
    cfg = compose_config([f"dgp/conditional={conditional}", "logger=none", *QUICK], tmp_path)
    _, _, datamodule, _ = build(cfg)
    batch = datamodule.dgp.sample(32)
    assert batch["x"].shape == batch["x_pos"].shape == (32, cfg.dgp.dim)


# encoders of image datasets: built on a dataset file by tests/test_dislib.py
IMAGE_MODELS = ("image", "linear", "mlp_dislib", "convnet", "resnet18", "vae_convnet")
IMAGENET_MODELS = ("resnet50", "vit_b_16", "projection")  # built by tests/test_imagenet.py


@pytest.mark.parametrize("option", [f"model={m}" for m in options("model") if m not in IMAGE_MODELS + IMAGENET_MODELS] + [f"trainer={t}" for t in options("trainer")]
                         + [f"logger={g}" for g in options("logger")])
def test_model_trainer_logger_options_build(tmp_path, option):
    if option == "trainer=ddp":
        pytest.skip("DDP launches processes: test_train.py runs it for real")
    if option == "trainer=gpu":
        pytest.importorskip("torch").cuda.is_available() or pytest.skip("no GPU here")
    cfg = compose_config([option, *QUICK], tmp_path)
    trainer, module, _, _ = build(cfg)
    assert module.encoder(__import__("torch").randn(4, cfg.dgp.dim)).shape == (4, cfg.dgp.dim)


BAD = [
    (["dgp.dim=1"], "dgp.dim=1"),
    (["dgp.conditional.kappa=-1"], "dgp.conditional.kappa=-1"),
    (["loss=aninfonce", "dgp.conditional.lambdas=[1,2,3]"], "dgp.conditional.lambdas=[1, 2, 3] has 3 entries, but dgp.dim=10"),
    (["loss=aninfonce", "dgp.conditional.lambdas=[1,2,3,4,5,6,7,8,9,-1]"], "must all be positive"),
    (["loss=aninfonce", "dgp.conditional.lambdas=trimodal"], "'trimodal' is unknown"),
    (["loss=diet"], "Fix: add dgp=clusters"),
    (["loss=ce"], "Fix: add dgp=clusters"),
    (["dgp=clusters", "dgp.n_instances=1"], "dgp.n_instances=1 must be at least 2"),
    (["dataset.batch_size=1"], "dataset.batch_size=1"),
    (["trainer.max_steps=0"], "trainer.max_steps=0"),
    # dgp=box sets a scale for its conditional, which the sphere's conditionals do not take: the real problem first
    (["dgp=box", "loss=aninfonce"], "dgp.conditional=AnisotropicNormal is defined on the sphere only, but dgp.space=Box"),
    (["dgp=sphere", "dgp/conditional=vmf", "+dgp.conditional.scale=2"],
     "dgp.conditional.scale=2 is not an argument of idexp.dgp.conditionals.VonMisesFisher"),
    (["dgp=box", "loss=aninfonce", "~dgp.conditional.scale"], "dgp.conditional=AnisotropicNormal is defined on the sphere only, but dgp.space=Box"),
    (["dgp=box", "dgp/conditional=vmf", "~dgp.conditional.scale"], "dgp.conditional=VonMisesFisher is defined on the sphere only"),
    (["model.activation=swish"], "model: activation='swish' is unknown"),
    (["seed=-1"], "seed=-1 must be an integer from 0 to 2^32 - 1"),
    (["dgp.seed=abc"], "dgp.seed='abc' must be an integer"),
    (["trainer.accelerator=tpu"], "trainer.accelerator=tpu, but no tpu was found"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps=0 must be a positive finite number"),
    (["loss=aninfonce", "loss.lr=0"], "loss.lr=0 must be a positive finite number"),
    (["loss.metric=lp", "loss.p=-1"], "loss: p=-1 must be positive"),
    (["model.width_unit=0"], "has a layer of width < 1"),
    # checked by the component that takes the value, named by the key the user sets
    (["dgp=clusters", "dgp.n_clusters=1"], "dgp.n_clusters=1 must be at least 2"),
    (["dgp=box", "dgp.space.dim=3"], "dgp.dim=10 disagrees with the 3 dimensions of dgp.space=Box. Fix: drop the dgp.space.dim override"),
    (["loss=aninfonce", "dgp.conditional.threshold=0"], "dgp.conditional.threshold=0 must be a positive finite number"),
    (["dgp/conditional=gennorm", "dgp.conditional.beta=0"], "dgp.conditional.beta=0 must be a positive finite number"),
    (["dgp/conditional=truncated_laplace", "dgp.conditional.bound=-1"], "dgp.conditional.bound=-1 must be a positive finite number"),
    (["dgp=clusters", "dgp/marginal@dgp.cluster_marginal=laplace", "dgp.cluster_marginal.noise.scale=-2"],
     "dgp.cluster_marginal.noise.scale=-2 must be a positive finite number for Laplace. Fix: e.g. dgp.cluster_marginal.noise.scale=0.1"),
    (["dataset.n_classes=4"], "dataset.n_classes=4, but the DGP has no n_clusters"),
    (["dataset.latent_dim=3"], "dataset.latent_dim=3, but the DGP has dim=10"),
    (["dataset.probe_fit=5"], "dataset.probe_fit=5: the probe needs at least 10 fresh samples"),
]


@pytest.mark.parametrize("overrides,message", BAD)
def test_bad_values_stop_before_any_work_with_a_named_key(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    cfg = compose_config(["logger=none", *QUICK, *overrides], run_dir)
    with pytest.raises(ConfigError, match="Fix") as error:
        train(cfg)
    assert message in str(error.value)
    assert not (run_dir / "results.json").exists()


@pytest.mark.parametrize("overrides,message", [
    (["dgp.dim=1"], "dgp.dim=1 is impossible"),
    (["dgp.conditional.kappa=-1"], "dgp.conditional.kappa=-1 must be a positive finite number"),
    (["loss=aninfonce", "dgp.conditional.lambdas=[1,2]"], "dgp.conditional.lambdas=[1, 2] has 2 entries, but dgp.dim=10"),
])
def test_a_dgp_built_inside_the_dataset_names_its_own_keys(tmp_path, overrides, message):
    """With dataset.dgp: ${dgp} the DGP is built under `building("dataset")`: a value it refuses is still named by
    the key the user sets (dgp.*), not by the node that interpolates it (dataset.dgp.*)."""
    cfg = compose_config(["logger=none", *overrides], tmp_path)
    with open_dict(cfg):
        cfg.dataset.dgp = "${dgp}"
    with pytest.raises(ConfigError) as error, building("dataset"):
        instantiate(cfg.dataset)
    assert str(error.value).startswith(message) and "Fix:" in str(error.value)


def test_cli_bad_value_prints_one_message_and_writes_nothing(tmp_path):
    result = run_cli_in_process(["loss=diet", "dgp=sphere"], tmp_path)
    assert result.returncode != 0
    assert "Configuration error: loss._target_=idexp.losses.DIET needs instance indices" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "logs").rglob("results.json"))
    assert not list((tmp_path / "logs").rglob(".hydra"))


def test_cli_misspelled_group_lists_the_options(tmp_path):
    result = run_cli_in_process(["loss=infonse"], tmp_path)
    assert result.returncode != 0
    assert "Could not find 'loss/infonse'" in result.stderr and "aninfonce" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_cli_help_and_cfg_job_show_the_options(tmp_path):
    help_text = run_cli_in_process(["--help"], tmp_path).stdout
    assert "dgp: box, clusters, ima_mlp, ima_mlp_gaussian, moebius, sphere" in help_text and "loss: aninfonce, ce, diet, infonce, vae" in help_text
    assert "decoder: convnet, mlp" in help_text and "loss/prior: beta, normal, uniform" in help_text
    job = run_cli_in_process(["--cfg", "job", "dgp.dim=5", "dgp.conditional.kappa=50", "seed=3", "logger=csv"], tmp_path).stdout
    assert "dim: 5" in job and "kappa: 50" in job and "CSVLogger" in job and "seed: 3" in job


def test_users_own_presets_in_conf_and_conf_local_are_found(tmp_path):
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "mine.yaml").write_text("# @package _global_\ndgp:\n  dim: 7\n")
    (tmp_path / "conf" / "local" / "launcher").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "launcher" / "site.yaml").write_text(
        "# @package _global_\ndefaults:\n  - joblib\nhydra:\n  launcher:\n    n_jobs: 1\n")
    job = run_cli_in_process(["--cfg", "job", "experiment=mine"], tmp_path)
    assert job.returncode == 0 and "dim: 7" in job.stdout, job.stderr
    hydra = run_cli_in_process(["--cfg", "hydra", "launcher=site"], tmp_path)
    assert hydra.returncode == 0 and "n_jobs: 1" in hydra.stdout and "JoblibLauncher" in hydra.stdout, hydra.stderr
    elsewhere = run_cli_in_process(["--cfg", "job"], tmp_path / "conf")  # no conf/ there: no warning, the packaged defaults
    assert elsewhere.returncode == 0 and "not available" not in elsewhere.stderr
