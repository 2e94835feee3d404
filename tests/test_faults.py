"""Faults a cluster scheduler or a user inflicts on real runs (real subprocesses, real signals)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import QUICK, ROOT, run_cli

ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 120, every: float = 0.02) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(every)


def scores(run_dir: Path) -> dict:
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed" and record["metrics"], record.get("error")
    return {k: v for k, v in record["metrics"].items() if k != "probe/seconds"}


@pytest.mark.slow  # three launches with a 400,000-sample probe; the default tier kills a launch in test_reliability.py
def test_a_run_killed_during_the_probe_is_probed_when_relaunched(tmp_path):
    """SIGKILL while the probe runs (last.ckpt already holds the final step): the re-launch probes it."""
    args = ["logger=none", *QUICK, "trainer.max_steps=40", "callbacks.checkpoint.every_n_train_steps=20",
            "dataset.probe_fit=200000", "dataset.probe_score=200000"]
    reference = run_cli([*args, f"hydra.run.dir={tmp_path / 'reference'}"], tmp_path)
    assert reference.returncode == 0, reference.stderr

    run_dir = tmp_path / "killed"
    process = start([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for(lambda: "probing the encoder" in ((run_dir / "train.log").read_text() if (run_dir / "train.log").exists() else ""))
    process.kill()
    process.communicate(timeout=60)
    assert json.loads((run_dir / "results.json").read_text())["status"] == "running"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 40

    relaunched = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr
    assert re.search(r"R² affine +\d\.\d{4} +\d\.\d{4}", relaunched.stdout)  # scores, not "-"
    assert scores(run_dir) == scores(tmp_path / "reference")


# Three processes per stop, so both stops are in the slow tier (CI runs it); the default tier sends SIGTERM
# in test_reliability.py (the grace test) and resumes an unfinished run in test_resume.py
@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_run_stopped_and_relaunched_ends_as_if_never_stopped(tmp_path, stop):
    args = ["logger=none", *QUICK, "trainer.max_steps=1500", "callbacks.checkpoint.every_n_train_steps=20"]
    with (tmp_path / "reference.log").open("w") as output:  # the run never stopped, launched alongside the others
        reference = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, f"hydra.run.dir={tmp_path / 'reference'}"],
                                     cwd=tmp_path, env=ENV, stdout=output, stderr=subprocess.STDOUT)

    run_dir = tmp_path / "stopped"
    process = start([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").exists())
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "Traceback" not in stderr
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "interrupted", "the run ended before the signal arrived"
    assert record["error"] == ("Ctrl-C" if stop == signal.SIGINT else "SIGTERM")
    stopped_at = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    assert 20 <= stopped_at < 1500

    relaunched = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr
    assert reference.wait(timeout=300) == 0, (tmp_path / "reference.log").read_text()[-3000:]
    assert scores(run_dir) == scores(tmp_path / "reference")


@pytest.mark.slow  # waits out W&B's timeouts; the default tier fails a W&B start in test_reliability.py (no key)
def test_a_logger_that_cannot_start_fails_the_run_clearly_and_in_bounded_time(tmp_path):
    """An online W&B run against a server that accepts connections but never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    env = {**ENV, "WANDB_MODE": "online", "WANDB_API_KEY": "0123456789abcdef" * 2 + "01234567",
           "WANDB_BASE_URL": f"http://127.0.0.1:{silent.getsockname()[1]}", "IDEXP_LOG_DIR": str(tmp_path / "logs")}
    try:
        result = subprocess.run([sys.executable, str(ROOT / "train.py"), "logger=wandb", "logger.wandb.mode=online",
                                 "logger.wandb.settings.init_timeout=5", "logger.wandb.settings.login_timeout=5", *QUICK],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    finally:
        silent.close()
    assert result.returncode != 0
    assert "Logger start failed" in result.stderr and "W&B could not start" in result.stderr
    assert "logger.wandb.mode=offline" in result.stderr and "wandb sync" in result.stderr
    assert "Traceback" not in result.stderr
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "logs").rglob("results.json")]
    assert record["status"] == "failed" and "W&B could not start" in record["error"]
