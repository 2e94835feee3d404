"""Re-running a configuration in its own folder: completed runs are skipped, unfinished ones resume."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from idexp.run.relaunch import RunFolderTaken
from idexp.run.record import read_results
from idexp.train import train
from tests.conftest import QUICK, compose_config, copy_run

STEPS = [*QUICK, "logger=csv", "trainer.log_every_n_steps=5", "callbacks.checkpoint.every_n_train_steps=10"]


@pytest.fixture(scope="module")
def steps_run(tmp_path_factory) -> tuple:
    """A completed STEPS run, trained once: each test works on a copy of its folder."""
    folder = tmp_path_factory.mktemp("steps_run")
    return folder, train(compose_config(STEPS, folder))


def logged_steps(version_dir) -> list[int]:
    with (version_dir / "metrics.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")]


def test_a_completed_run_is_skipped_and_left_untouched(tmp_path, steps_run):
    tmp_path, first = copy_run(steps_run[0], tmp_path / "run"), steps_run[1]
    before = (tmp_path / "results.json").read_bytes()
    again = train(compose_config(STEPS, tmp_path))
    assert again == json.loads(json.dumps(first))
    assert (tmp_path / "results.json").read_bytes() == before
    assert len(list(tmp_path.glob("csv/version_*"))) == 1  # no second training happened


def test_an_unfinished_run_resumes_from_its_last_checkpoint(tmp_path):
    """A run stopped at step 20 of 40 (its step-20 state as last.ckpt) continues from there."""
    constant = "scheduler=null"  # so that a 20-step run's state is the 40-step run's state at step 20
    train(compose_config([*STEPS, "trainer.max_steps=20", constant], tmp_path / "short"))
    train(compose_config([*STEPS, "trainer.max_steps=40", constant], tmp_path))
    shutil.copy(tmp_path / "short" / "checkpoints" / "last.ckpt", tmp_path / "checkpoints" / "last.ckpt")
    shutil.rmtree(tmp_path / "short")
    record = read_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({**record, "status": "interrupted", "wall_time_s": 1000.0}))

    metrics = train(compose_config([*STEPS, "trainer.max_steps=40", constant], tmp_path))
    assert read_results(tmp_path)["status"] == "completed" and "probe/r2_affine" in metrics
    assert 1000 < read_results(tmp_path)["wall_time_s"] < 1300  # the first launch's time counts too
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 40
    first, resumed = sorted(tmp_path.glob("csv/version_*"))
    assert max(logged_steps(first)) >= 35
    assert logged_steps(resumed) and min(logged_steps(resumed)) >= 20  # continued from step 20, no restart


def test_a_moved_run_folder_is_still_recognised(tmp_path, steps_run):
    """Settings derived from the folder (checkpoint dir, probe output) follow it when it moves."""
    copy_run(steps_run[0], tmp_path / "cluster")
    shutil.move(tmp_path / "cluster", tmp_path / "laptop")
    before = (tmp_path / "laptop" / "results.json").read_bytes()
    train(compose_config(STEPS, tmp_path / "laptop"))
    assert (tmp_path / "laptop" / "results.json").read_bytes() == before


def test_a_folder_holding_another_configuration_is_refused_and_left_as_is(tmp_path, steps_run):
    tmp_path = copy_run(steps_run[0], tmp_path / "run")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(RunFolderTaken, match=r"already holds a run of another configuration \(.*"
                       r"trainer.max_steps: 30 -> 40.*\)\. It is left as is\. Fix: re-launch with the same overrides"):
        train(compose_config([*STEPS, "trainer.max_steps=40"], tmp_path))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_setting_added_since_the_run_at_its_default_is_the_same_run(tmp_path, steps_run):
    """A folder written by an older idexp, whose config lacks a key added since, is still skipped."""
    tmp_path = copy_run(steps_run[0], tmp_path / "run")
    record = read_results(tmp_path)
    del record["config"]["callbacks"]["probe"]["feature_cache"], record["config"]["dgp"]["conditional"]["kappa"]
    record["config"]["dgp"]["retired_setting"] = 3  # and one removed since
    (tmp_path / "results.json").write_text(json.dumps(record))
    before = (tmp_path / "results.json").read_bytes()
    train(compose_config(STEPS, tmp_path))
    assert (tmp_path / "results.json").read_bytes() == before  # skipped as completed

    with pytest.raises(RunFolderTaken, match=r"dgp.conditional.kappa: None -> 20"):  # set on the command line now
        train(compose_config([*STEPS, "dgp.conditional.kappa=20"], tmp_path))
