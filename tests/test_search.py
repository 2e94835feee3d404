"""Hyperparameter search: real Optuna sweeps through the CLI, a trial that fails, and the W&B sweep file's command."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import optuna
import pytest
import yaml
from omegaconf import OmegaConf

from idexp.scorers import headline
from tests.conftest import QUICK, ROOT, run_cli_in_process
from tests.wandb_offline import summary


def trials(sweep) -> dict:
    """Each trial folder's results.json, by job number."""
    return {path.parent.name: json.loads(path.read_text()) for path in sweep.glob("*/results.json")}


def test_an_optuna_search_runs_its_trials_and_names_the_best(tmp_path):
    sweep = tmp_path / "search"
    result = run_cli_in_process(["-m", "hparams_search=infonce_optuna", "hydra.sweeper.n_trials=3", *QUICK,
                                 "logger=none", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = trials(sweep)
    assert sorted(runs) == ["0", "1", "2"] and all(run["status"] == "completed" for run in runs.values())
    sampled = {(run["config"]["optimizer"]["lr"], run["config"]["loss"]["temperature"]) for run in runs.values()}
    assert len(sampled) == 3  # each trial got its own values

    best = OmegaConf.load(sweep / "optimization_results.yaml")
    (best_run,) = [run for run in runs.values()
                   if run["metrics"]["probe/headline"] == max(r["metrics"]["probe/headline"] for r in runs.values())]
    assert best.best_value == best_run["metrics"]["probe/headline"]
    assert dict(best.best_params) == {"optimizer.lr": best_run["config"]["optimizer"]["lr"],
                                      "loss.temperature": best_run["config"]["loss"]["temperature"]}


@pytest.mark.slow  # a search of its own; the default tier runs one search (the test above)
def test_a_failed_trial_is_recorded_as_failed_by_optuna_and_the_search_goes_on(tmp_path):
    """A diverging run returns None: Hydra's Optuna sweeper tells Optuna the trial FAILED and runs the next one."""
    sweep, storage = tmp_path / "search", f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ["-m", "hparams_search=infonce_optuna", "hydra.sweeper.n_trials=3", f"hydra.sweeper.storage={storage}",
            "optimizer.lr=choice(0.003)", "loss.temperature=choice(1e-40,0.1)",  # 1e-40: the loss is NaN at once
            *QUICK, "logger=none", f"hydra.sweep.dir={sweep}"]
    result = run_cli_in_process(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "the training loss became nan" in output and "Failed experiment" in output

    runs = trials(sweep)
    study = optuna.load_study(study_name="infonce_optuna", storage=storage)
    told = {str(trial.number): (trial.params["loss.temperature"], trial.state, trial.value) for trial in study.trials}
    assert sorted(told) == sorted(runs) == ["0", "1", "2"]
    assert {temperature for temperature, _, _ in told.values()} == {1e-40, 0.1}  # the sampler's seed draws both
    for job, (temperature, state, value) in told.items():
        if temperature == 0.1:
            assert runs[job]["status"] == "completed" and state == optuna.trial.TrialState.COMPLETE
            assert value == runs[job]["metrics"]["probe/headline"]
        else:
            assert runs[job]["status"] == "failed" and state == optuna.trial.TrialState.FAIL and value is None
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_params["loss.temperature"] == 0.1


@pytest.mark.slow  # a search of its own; the default tier runs one search (the test above)
def test_a_search_in_which_every_trial_failed_says_so_without_a_traceback(tmp_path):
    sweep = tmp_path / "search"
    result = run_cli_in_process(["hparams_search=infonce_optuna", "hydra.sweeper.n_trials=2", "loss.temperature=choice(1e-40)",
                                 *QUICK, "logger=none", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Search failed: none of the 2 trials of hparams_search=infonce_optuna gave a headline score" in result.stderr
    assert "the training loss became nan" in result.stderr and "Fix: narrow hydra.sweeper.params" in result.stderr
    assert [run["status"] for run in trials(sweep).values()] == ["failed", "failed"]


def test_a_headline_that_is_missing_or_not_finite_is_no_headline():
    """Optuna refuses NaN and the sweeper's fallback then stops the whole search: such a trial reports None."""
    assert headline({"probe/headline": 0.5}) == 0.5
    for metrics in ({"probe/headline": math.nan}, {"probe/headline": math.inf}, {"probe/headline": None}, {}):
        assert headline(metrics) is None


def test_the_aninfonce_search_sweeps_the_aninfonce_experiment(tmp_path):
    result = run_cli_in_process(["hparams_search=aninfonce_optuna", "--cfg", "all"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load(result.stdout)
    assert config["table"] == "aninfonce" and config["hydra"]["mode"] == "MULTIRUN"
    assert config["hydra"]["sweeper"]["direction"] == "maximize" and config["hydra"]["sweeper"]["sampler"]["seed"] == 1234
    assert set(config["hydra"]["sweeper"]["params"]) == {"optimizer.lr", "loss.lr"}


@pytest.mark.slow  # needs a new interpreter that has never loaded the plugin (seconds of imports for one message)
def test_a_search_whose_extra_is_missing_names_the_extra(tmp_path):
    hide_plugin = ("import sys; sys.modules['hydra_plugins.hydra_optuna_sweeper'] = None; "
                   "sys.argv = ['train.py', 'hparams_search=infonce_optuna', 'logger=none']; "
                   f"sys.path.insert(0, {str(ROOT)!r}); from idexp.train import main; main()")
    result = subprocess.run([sys.executable, "-c", hide_plugin], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "hparams_search=infonce_optuna needs Hydra's 'optuna' sweeper plugin" in result.stderr
    assert "pip install -e '.[cluster]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists()


def wandb_agent_command(sweep_file, values: dict) -> list[str]:
    """The command W&B's agent runs for one trial of `sweep_file` (wandb_agent's expansion of its `command:`
    macros), with `values` as the sampled parameters."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    config = yaml.safe_load(sweep_file.read_text())
    macros = create_sweep_command_args({"args": {key: {"value": value} for key, value in values.items()}})
    macros |= {"env": ["/usr/bin/env"], "interpreter": [sys.executable], "program": [config["program"]]}
    return [part for item in config["command"]
            for part in (macros[item[2:-1]] if item.startswith("${") else [item])]


@pytest.mark.slow  # a process as W&B's agent starts it (imports, then a run); the default tier runs searches in-process
def test_the_wandb_sweep_files_command_runs_train_py_with_its_parameters(tmp_path):
    sweep_file = ROOT / "docs" / "wandb_sweep.yaml"
    config = yaml.safe_load(sweep_file.read_text())
    values = {key: spec["min"] for key, spec in config["parameters"].items()}  # one point of the search space
    command = wandb_agent_command(sweep_file, values)
    assert "logger.wandb.mode=online" in command and "optimizer.lr=0.0001" in command
    # no network here: the same command, offline, shortened
    command = [part.replace("mode=online", "mode=offline") for part in command] + [*QUICK, f"hydra.run.dir={tmp_path / 'run'}"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["config"]["optimizer"]["lr"] == values["optimizer.lr"]
    assert record["config"]["loss"]["temperature"] == values["loss.temperature"]
    (run,) = (tmp_path / "run").glob("wandb/offline-run-*")
    assert config["metric"]["name"] == "headline" and summary(run)["headline"] == record["metrics"]["probe/headline"]
