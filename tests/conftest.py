"""Shared helpers: real Hydra composition of the packaged configs, and running the real CLI."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import traceback
import warnings
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
         "dataset.probe_fit=256", "dataset.probe_score=256", "model.hidden=[32,32]"]
# Small enough for seconds on a CPU, hard enough that a broken loss, encoder or probe fails it.
LEARNS = ["trainer=cpu", "dgp.dim=5", "dataset.batch_size=256",
          "trainer.max_steps=800", "dataset.probe_fit=1024", "dataset.probe_score=1024", "model.hidden=[128,128]"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory) -> tuple[Path, dict]:
    """One LEARNS run with the CSV logger, trained once for every test that reads what it wrote: its folder and
    the metrics `train` returned. Read it; never write into it."""
    from idexp.train import train

    folder = tmp_path_factory.mktemp("learned_run")
    return folder, train(compose_config([*LEARNS, "logger=csv"], folder))


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> tuple[Path, dict]:
    """One QUICK run (no logger), trained once: its folder and metrics. Tests that change a run folder work on
    `copy_run(quick_run[0], ...)`."""
    from idexp.train import train

    folder = tmp_path_factory.mktemp("quick_run")
    return folder, train(compose_config(["logger=none", *QUICK], folder))


def copy_run(folder: Path, to: Path) -> Path:
    """A copy of a finished run or sweep folder at `to` (a run folder may be moved: it is recognised there)."""
    to.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(folder, to))


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


def run_cli_in_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python train.py ARGS` run by this process: the same `idexp.train.main()` with the same argv, folder and
    environment, its output and exit status as the interpreter gives them (a SystemExit message printed to stderr
    with status 1, an uncaught exception's traceback with status 1, warnings printed to stderr under the default
    filters, the run folder's lock released as at exit), without starting a new Python that imports torch and
    Lightning (seconds each). For refusals, printed configs and runs whose test is not about a process; signals,
    kills, locks held by another launch, DDP and memory exhaustion use `run_cli`."""
    from idexp.run import lock as run_lock
    from idexp.train import main

    stdout, stderr = io.StringIO(), io.StringIO()
    held_before = set(run_lock._held)
    saved = sys.argv, Path.cwd(), {key: os.environ.get(key) for key in ("IDEXP_LOG_DIR", "WANDB_MODE", "WANDB_SILENT")}
    sys.argv = [str(ROOT / "train.py"), *args]
    os.chdir(cwd)
    os.environ.update({"IDEXP_LOG_DIR": str(cwd / "logs"), "WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    GlobalHydra.instance().clear()
    try:
        with _logging_as_before(), _warnings_as_in_a_new_interpreter(), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            try:
                main()
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
                if not isinstance(exit.code, (int, type(None))):
                    print(exit.code, file=sys.stderr)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        for folder in set(run_lock._held) - held_before:  # what the process's exit would release
            run_lock.release(folder)
        GlobalHydra.instance().clear()
        sys.argv = saved[0]
        os.chdir(saved[1])
        for key, value in saved[2].items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return subprocess.CompletedProcess([str(ROOT / "train.py"), *args], code, stdout.getvalue(), stderr.getvalue())


@contextlib.contextmanager
def _warnings_as_in_a_new_interpreter():
    """pytest records warnings and filters them by pyproject.toml; a new `python` prints them to stderr, with
    its default filters (DeprecationWarning and the like ignored outside __main__)."""
    def print_to_stderr(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = print_to_stderr
        yield


@contextlib.contextmanager
def _logging_as_before():
    """Hydra sets up logging for each run (handlers on the root logger, one writing the run's train.log):
    put every logger back as it was, as the end of a process would."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate, logger.disabled) for logger in loggers]
    try:
        yield
    finally:
        for logger, handlers, level, propagate, disabled in saved:
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled
