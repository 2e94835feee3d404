"""End-to-end runs through the real Hydra config, Lightning trainer, probe and loggers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from idexp.run.record import read_results
from idexp.train import train
from tests.conftest import QUICK, ROOT, compose_config, run_cli, run_cli_in_process
from tests.wandb_offline import summary as offline_summary

def test_infonce_recovers_the_latents_and_records_the_run(learned_run):
    tmp_path, metrics = learned_run  # the shared LEARNS run (logger=csv): its folder, read only
    assert metrics["probe/r2_affine"] > 0.95
    assert metrics["probe/r2_affine"] > metrics["probe/baseline_r2_affine"] + 0.05
    record = read_results(tmp_path)
    assert record["status"] == "completed"
    assert record["metrics"]["probe/r2_affine"] == metrics["probe/r2_affine"]
    assert record["config"]["dgp"]["dim"] == 5 and record["wall_time_s"] > 0
    assert (tmp_path / "probe.png").stat().st_size > 10_000
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    logged = pd.read_csv(next(tmp_path.glob("csv/version_*")) / "metrics.csv")
    assert "probe/r2_affine" in logged and "train/loss" in logged
    accuracy = logged["train/loss/accuracy"].dropna()  # evaluated on the logged steps alone, every 50th
    assert len(accuracy) == 800 // 50 and accuracy.between(0, 1).all() and accuracy.iloc[-1] > accuracy.iloc[0]


@pytest.mark.parametrize("overrides,keys", [
    (["loss=aninfonce"], ["probe/lambda_corr", "probe/lambda_mae", "probe/r2_affine_high_lambda"]),
    (["dgp/conditional=anisotropic"], ["probe/r2_affine_high_lambda", "probe/r2_affine_low_lambda"]),
    (["loss=ce", "dgp=clusters"], ["probe/head_r2_affine", "probe/head_r2_orthogonal"]),
    (["loss=diet", "dgp=clusters", "loss.normalize_rows=true"], ["probe/head_r2_affine"]),
])
def test_loss_specific_scores_are_reported(tmp_path, overrides, keys):
    metrics = train(compose_config([*overrides, "logger=none", *QUICK], tmp_path))
    for key in keys + ["probe/r2_affine", "probe/mcc_pearson", "probe/baseline_r2_affine"]:
        assert key in metrics
    assert read_results(tmp_path)["status"] == "completed"


def test_same_seed_same_metrics_on_cpu(tmp_path):
    first = train(compose_config(["logger=none", "seed=7", *QUICK], tmp_path / "a"))
    second = train(compose_config(["logger=none", "seed=7", *QUICK], tmp_path / "b"))
    other = train(compose_config(["logger=none", "seed=8", *QUICK], tmp_path / "c"))
    first.pop("probe/seconds"), second.pop("probe/seconds"), other.pop("probe/seconds")
    assert first == second
    assert first["probe/r2_affine"] != other["probe/r2_affine"]


def test_wandb_offline_run_holds_the_probe_scores(tmp_path, capfd):
    metrics = train(compose_config(["logger=wandb", *QUICK], tmp_path))
    assert "wandb: WARNING" not in capfd.readouterr().err  # W&B stays silent: the summary is the last thing on screen
    import wandb

    wandb.finish()
    runs = list(tmp_path.glob("wandb/offline-run-*"))
    assert len(runs) == 1
    summary = offline_summary(runs[0])
    assert summary["probe/r2_affine"] == pytest.approx(metrics["probe/r2_affine"])
    assert "probe/mcc_pearson" in summary and "probe/baseline_r2_affine" in summary


def test_diverging_loss_fails_clearly_and_is_recorded(tmp_path):
    result = run_cli_in_process(["loss=ce", "dgp=clusters", "model.output=none", "optimizer.lr=1e12", "logger=none",
                      *QUICK, "trainer.max_steps=200"], tmp_path)
    assert result.returncode != 0
    assert "Training failed" in result.stderr and "Fix: lower optimizer.lr" in result.stderr
    assert "Traceback" not in result.stderr
    record = json.loads(next((tmp_path / "logs").rglob("results.json")).read_text())
    assert record["status"] == "failed" and "step" in record["error"]


@pytest.mark.slow  # the default tier stops runs with SIGTERM in test_reliability.py (the grace test)
def test_sigterm_leaves_a_consistent_folder(tmp_path):
    env_args = ["logger=none", *QUICK, "trainer.max_steps=1000000", "callbacks.checkpoint.every_n_train_steps=20"]
    env = {**os.environ, "WANDB_MODE": "offline", "IDEXP_LOG_DIR": str(tmp_path / "logs")}
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *env_args], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "logs").rglob("last.ckpt")) and time.time() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode != 0
    record = json.loads(next((tmp_path / "logs").rglob("results.json")).read_text())
    assert record["status"] == "interrupted"
    assert list((tmp_path / "logs").rglob("checkpoints/last.ckpt"))


def test_cli_run_prints_summary_and_two_runs_never_share_a_folder(tmp_path):
    args = ["logger=none", *QUICK]
    first, second = run_cli_in_process(args, tmp_path), run_cli_in_process(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "R² affine" in first.stdout and "Run folder:" in first.stdout
    folders = {line.split("Run folder: ")[1] for r in (first, second) for line in r.stdout.splitlines() if "Run folder:" in line}
    assert len(folders) == 2
    for folder in folders:
        assert json.loads((Path(folder) / "results.json").read_text())["status"] == "completed"


@pytest.mark.slow  # two ranks as processes (14 s); test_imagenet.py's slow DDP run trains and probes too
def test_ddp_on_cpu_runs_two_ranks_and_rank_zero_alone_reports(tmp_path):
    result = run_cli(["logger=csv", *QUICK, "trainer=ddp", "trainer.accelerator=cpu"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert result.stdout.count("Run folder:") == 1
    (folder,) = [p.parent for p in (tmp_path / "logs").rglob("results.json")]
    record = json.loads((folder / "results.json").read_text())
    assert record["status"] == "completed" and 0 < record["metrics"]["probe/r2_affine"] <= 1
    assert record["config"]["trainer"]["strategy"] == "ddp"


def test_train_false_probes_the_initial_encoder_without_training(tmp_path):
    metrics = train(compose_config(["logger=csv", "train=false", *QUICK], tmp_path))
    record = read_results(tmp_path)
    assert record["status"] == "completed" and record["config"]["train"] is False and "warnings" not in record
    assert 0 < metrics["probe/r2_affine"] < metrics["probe/baseline_r2_affine"]  # a random MLP loses information
    assert not (tmp_path / "checkpoints").exists()
    logged = pd.read_csv(next(tmp_path.glob("csv/version_*")) / "metrics.csv")
    assert "probe/r2_affine" in logged and "train/loss" not in logged
