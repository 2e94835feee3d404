"""Bad values through the real command line: refused before any work, one message, no traceback, no folder."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from idexp.run.record import read_results
from idexp.train import train
from tests.conftest import QUICK, ROOT, compose_config, copy_run, run_cli, run_cli_in_process

REFUSED = [
    (["dataset.probe_score=2"], "dataset.probe_score=2: the probe needs at least 10 fresh samples"),
    (["dataset.probe_fit=many"], "dataset.probe_fit='many': the probe needs at least 10 fresh samples"),
    (["callbacks.probe.n_samples=512,1024"], "only a single value of them can be translated"),
    (["seed=abc"], "seed='abc' must be an integer from 0 to 2^32 - 1"),
    (["hydra.run.dir=/proc/idexp/run"], "hydra.run.dir=/proc/idexp/run cannot be created"),
    (["loss=ce", "dgp=clusters", "loss.n_classes=7"], "loss.n_classes=7, but the data provide 100 values"),
    (["dataset.batch_size=10000000000"], "dataset.batch_size=10000000000 does not fit in memory: the first training step asked for"),
    (["trainer=gpu"], "no GPU was found"),
    (["trainer.devices=0"], "trainer.devices=0 leaves nothing to train on"),
    (["model.hidden=[32,0,32]"], "model.hidden=[32, 0, 32] must list positive integer widths"),
    (["callbacks.checkpoint.every_n_train_steps=0"], "every_n_train_steps=0 would never save a checkpoint"),
    (["experiment=ce_table3", "scale=nosuch"], "scale='nosuch' is not one of the choices quick, paper"),
    (["loss=diet", "dgp=sphere"], "needs instance indices"),
    (["logger.wandb.mode=sideways"], "logger: 1 validation error for Settings mode Input should be 'online', 'offline'"),
    (["optimizer.weight_decay=-1"], "optimizer: Invalid weight_decay value: -1"),  # the optimizer is built before the folder is kept
    (["dataset.batch_size=2.5"], "dataset.batch_size=2.5 must be a whole number of samples"),
    (["loss.temperature=inf"], "loss.temperature=inf must be a positive finite number"),
    (["dgp.conditional.kappa=inf"], "dgp.conditional.kappa=inf must be a positive finite number"),
    (["dgp=box", "dgp/conditional=normal", "dgp.conditional.scale=50"], "samples still outside after 1000 resampling rounds"),
    # refused by the component's constructor while the job builds it, after Hydra made the folder
    (["dgp.dim=1"], "dgp.dim=1 is impossible"),
    (["dgp=clusters", "dgp.n_instances=1"], "dgp.n_instances=1 must be at least 2"),
    (["loss=vae", "dgp=moebius", "model=mlp"], "loss._target_=idexp.losses.VAE needs an encoder with posterior(), which "
                                               "model._target_=idexp.models.MLP does not define. Fix: model=vae_convnet or model=vae_mlp."),
    (["dgp=ima_mlp_gaussian", "dgp/marginal=uniform"], "Euclidean(dim=3) has no uniform distribution. Fix: dgp/marginal=normal"),
    (["loss=vae", "dgp=moebius", "loss/prior=uniform", "model.bounded=false"],
     "loss.prior._target_=idexp.losses.priors.UniformPrior lives on the unit cube, but model.bounded=false. Fix: choose the prior"),
    (["dgp=moebius", "dgp.mixing.type=spline"], "dgp.mixing.type='spline' is not a mixing. Fix: dgp.mixing.type=one of mlp, moebius"),
    (["dgp=box", "dgp.mixing.weights=haar"], "mixing.weights='haar' is not a way to draw the mixing's layers. Fix: dgp.mixing.weights=one of uniform"),
]
if __import__("torch").cuda.is_available():
    REFUSED = [case for case in REFUSED if case[0] != ["trainer=gpu"]]
# A batch that asks the allocator for more memory than the machine has is refused in a process of its own (where
# memory is overcommitted, a large allocation can succeed and be killed later); the other refusals run in-process.
NEEDS_A_PROCESS = "dataset.batch_size=10000000000"


def assert_refused(result: subprocess.CompletedProcess, message: str, logs) -> None:
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    refusals = [line for line in result.stderr.splitlines() if line.startswith("Configuration error: ")]
    assert len(refusals) == 1 and message in refusals[0] and "Fix:" in refusals[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not [p for p in logs.rglob("*") if p.is_file()], "a refused run left files behind"


@pytest.mark.parametrize("overrides,message", REFUSED, ids=[" ".join(o) for o, _ in REFUSED])
def test_bad_value_is_refused_before_any_work(tmp_path, overrides, message):
    cli = run_cli if NEEDS_A_PROCESS in overrides else run_cli_in_process
    assert_refused(cli(["logger=wandb", *QUICK, *overrides], tmp_path), message, tmp_path / "logs")


def test_an_existing_file_as_run_folder_is_refused(tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    result = run_cli_in_process(["logger=none", *QUICK, f"hydra.run.dir={taken}"], tmp_path)
    assert_refused(result, f"hydra.run.dir={taken} is an existing file, not a folder", tmp_path / "logs")
    assert taken.read_text() == "mine"


@pytest.mark.slow  # a second memory-exhausting process; the default tier refuses that batch in the table above
def test_a_user_chosen_folder_keeps_its_own_files_when_a_run_is_refused(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = run_cli(["logger=none", *QUICK, f"hydra.run.dir={folder}", "dataset.batch_size=10000000000"], tmp_path)
    assert result.returncode != 0 and "does not fit in memory" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.slow  # needs a new interpreter that has never loaded the plugin (seconds of imports for one message)
def test_a_launcher_whose_extra_is_missing_names_the_extra(tmp_path):
    hide_plugin = ("import sys; sys.modules['hydra_plugins.hydra_submitit_launcher'] = None; "
                   f"sys.argv = ['train.py', 'launcher=submitit_local', '-m', 'logger=none']; "
                   f"sys.path.insert(0, {str(ROOT)!r}); from idexp.train import main; main()")
    result = subprocess.run([sys.executable, "-c", hide_plugin], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "launcher=submitit_local needs Hydra's 'submitit_local' launcher plugin" in result.stderr
    assert "pip install -e '.[cluster]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists()


def test_an_added_key_that_nothing_reads_is_named(tmp_path, caplog):
    cfg = compose_config(["logger=none", *QUICK, "+learning_rate=0.1", "+trainer.gradient_clip_val=1.0"], tmp_path)
    with caplog.at_level("WARNING", logger="idexp"):
        train(cfg)
    record = read_results(tmp_path)
    assert any("+learning_rate is a key that nothing reads" in w for w in record["warnings"])
    assert not any("gradient_clip_val" in w for w in record["warnings"])  # the Trainer takes it
    assert "+learning_rate is a key that nothing reads" in caplog.text


def test_a_loss_that_never_falls_is_reported(tmp_path):
    cfg = compose_config(["logger=none", *QUICK, "trainer.max_steps=60", "callbacks.loss_check.warmup_steps=40",
                          "callbacks.loss_check.window=10", "optimizer.lr=1e-9"], tmp_path)
    train(cfg)
    record = read_results(tmp_path)
    assert record["status"] == "completed"
    assert any("the training loss has not fallen after 40 steps" in w for w in record["warnings"])


def test_a_loss_held_up_by_label_noise_is_not_reported_as_a_learning_rate_fault(tmp_path, caplog):
    cfg = compose_config(["logger=none", *QUICK, "trainer.max_steps=60", "callbacks.loss_check.warmup_steps=40",
                          "callbacks.loss_check.window=10", "optimizer.lr=1e-9", "experiment=ce_fig6", "loss=ce",
                          "loss.label_noise=1"], tmp_path)
    with caplog.at_level("INFO", logger="idexp"):
        train(cfg)
    assert not any("has not fallen" in w for w in read_results(tmp_path).get("warnings", []))
    assert "as expected with loss.label_noise=1" in caplog.text


def test_a_run_that_learns_has_no_warning(learned_run):
    folder, _ = learned_run  # LEARNS: dgp.dim=5, batch 256, 800 steps, probe on 2048 samples, hidden [128,128]
    assert "warnings" not in read_results(folder)


def test_a_head_with_the_wrong_size_is_refused_in_process(tmp_path):
    from idexp.config import ConfigError

    with pytest.raises(ConfigError, match="loss.n_instances=5, but the data provide 1000 values"):
        train(compose_config(["logger=none", *QUICK, "loss=diet", "dgp=clusters", "loss.n_instances=5"], tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_completed_without_scores_is_not_averaged(tmp_path, quick_run):
    from idexp.report.collect import collect_runs

    copy_run(quick_run[0], tmp_path / "good")  # a completed ["logger=none", *QUICK] run
    (tmp_path / "bad").mkdir()
    record = {**read_results(tmp_path / "good"), "metrics": {}}
    (tmp_path / "bad" / "results.json").write_text(json.dumps(record))
    runs = collect_runs([tmp_path])
    assert len(runs.completed) == 1
    assert [r["error"] for r in runs.unfinished] == ["marked completed but holds no scores: re-launch it to probe it"]


def test_a_usable_but_weak_value_is_warned_about_with_its_real_cause(tmp_path):
    """A batch of 2 and a probe fitted on 20 samples for 10 latents complete, and their records say why
    their numbers mean little (not "training did not converge")."""
    train(compose_config([*QUICK, "logger=none", "dataset.batch_size=2"], tmp_path / "batch"))
    assert any("dataset.batch_size=2 leaves each sample only 1 other" in w for w in read_results(tmp_path / "batch")["warnings"])
    train(compose_config([*QUICK, "logger=none", "dataset.probe_fit=20"], tmp_path / "probe"))
    warnings = read_results(tmp_path / "probe")["warnings"]
    assert any("fits the probes on 20 samples for 10 latents" in w for w in warnings), warnings
    assert not any("did not converge" in w for w in warnings), warnings
