"""Shared helpers: real Hydra composition of the packaged configs, and running the real CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Before torch loads (here and in every CLI subprocess, which inherits the environment): OpenMP threads that
# wait at a barrier sleep instead of spinning. On a 2-core machine that is busy with anything else (a CLI
# subprocess beside pytest, DDP ranks, other jobs) spinning threads steal each other's core: a 200-step
# run took 88 s instead of 5 s. The thread count, and so the numerics, stay as they are.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
# Small and quick, but still a real run through every component.
QUICK = ["trainer=cpu", "trainer.max_steps=30", "trainer.log_every_n_steps=10", "dataset.batch_size=64",
         "callbacks.probe.n_samples=512", "model.hidden=[32,32]"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose `train.yaml` exactly as the CLI does, with its run folder at `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_module("idexp.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def run_cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python train.py ARGS` as a user would, with run folders under `cwd`."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "IDEXP_LOG_DIR": str(cwd / "logs")}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
