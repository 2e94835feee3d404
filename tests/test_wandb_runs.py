"""W&B runs that can be found again: group, name, tags and the headline summary, read back from real offline runs."""
from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import pytest

from idexp.run.record import read_results
from idexp.run.wandb_run import name_wandb_run, run_name
from tests.conftest import QUICK, compose_config, run_cli_in_process
from tests.wandb_offline import run_identity, summary

# QUICK without its launch setting (trainer.log_every_n_steps), which a name leaves out
QUICK_NAMED = [item for item in QUICK if not item.startswith("trainer.log_every_n_steps")]


def offline_run(run_dir: Path) -> Path:
    (run,) = run_dir.glob("wandb/offline-run-*")
    return run


def test_a_single_run_is_grouped_by_its_experiment_named_by_its_overrides_and_tagged(tmp_path):
    args = ["experiment=aninfonce", *QUICK, "seed=2", "tags=[baseline,v2]", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli_in_process(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = offline_run(tmp_path / "run")
    assert run_identity(run) == {"group": "aninfonce", "name": ",".join(["experiment=aninfonce", *QUICK_NAMED, "seed=2"]),
                                 "tags": ["baseline", "v2"]}
    headline = read_results(tmp_path / "run")["metrics"]["probe/headline"]
    assert summary(run)["headline"] == headline  # the summary value a runs table and a W&B sweep read


@pytest.mark.slow  # a two-job sweep with W&B; the default tier checks one run's group, name and tags
def test_a_multiruns_jobs_share_the_sweeps_group_and_are_named_by_their_axes(tmp_path):
    sweep = tmp_path / "logs" / "sweeps" / "two_seeds"
    result = run_cli_in_process(["-m", *QUICK, "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    identities = {job: run_identity(offline_run(sweep / job)) for job in ("0", "1")}
    assert identities == {job: {"group": "infonce+sphere/two_seeds", "name": ",".join([*QUICK_NAMED, f"seed={job}"]),
                                "tags": []} for job in ("0", "1")}
    # docs/sweeps.md's one command for the whole sweep: the installed wandb CLI takes every run it globs
    runs = sorted(glob.glob(f"{sweep}/*/wandb/offline-run-*"))
    listed = subprocess.run([sys.executable, "-m", "wandb", "sync", "--dry-run", *runs], capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0 and "Would sync 2 run(s)" in listed.stdout + listed.stderr


def test_a_name_leaves_out_launch_settings_and_shortens_sampled_decimals():
    overrides = ["hparams_search=infonce_optuna", "optimizer.lr=0.008552530909989666", "loss.temperature=0.1",
                 "logger=csv", "hydra.sweep.dir=x", "trainer.log_every_n_steps=5", "tags=[a]", "seed=1"]
    assert run_name(overrides) == "optimizer.lr=0.008553,loss.temperature=0.1,seed=1"
    assert run_name(["logger=csv"]) == "defaults"


def test_a_group_or_name_the_user_sets_is_kept(tmp_path):
    overrides = [*QUICK, "loss=ce", "dgp=clusters", "logger.wandb.group=mine"]
    cfg = compose_config(overrides, tmp_path)
    name_wandb_run(cfg, overrides)
    assert cfg.logger.wandb.group == "mine" and cfg.logger.wandb.name == ",".join([*QUICK_NAMED, "loss=ce", "dgp=clusters"])


def test_without_an_experiment_the_group_is_the_loss_and_the_data(tmp_path):
    for overrides, group in ([], "infonce+sphere"), (["dataset=dsprites"], "ce+dsprites"), (["experiment=ce_table3"], "ce_table3"):
        cfg = compose_config(overrides, tmp_path)
        name_wandb_run(cfg, overrides)
        assert cfg.logger.wandb.group == group


def test_a_tag_w_and_b_would_refuse_is_named_before_the_run_starts(tmp_path):
    long_tag = "x" * 65
    result = run_cli_in_process([*QUICK, f"tags=[ok,{long_tag}]", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"tags: the tag '{long_tag}' has 65 characters; W&B takes 1 to 64" in result.stderr
    assert not (tmp_path / "run").exists()
