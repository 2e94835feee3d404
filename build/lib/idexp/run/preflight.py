"""Checks made before Hydra creates the run folder, so a bad value or an unusable folder leaves nothing behind.

Hydra calls `on_run_start` with the composed config before it makes the run folder; a ConfigError
here ends the command with one message. Hydra turns exceptions raised by callbacks into warnings,
so the callback exits itself. Sweep jobs are validated one by one inside the job (`idexp.train`),
where a bad job is recorded and the others run. A value that a component checks itself (a DGP's, a
dataset's, the probe's) is refused when the job builds that component, before any work; `idexp.train`
then removes what the launch wrote into its new folder, so that too leaves nothing behind.
"""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from idexp.config import ConfigError, validate
from idexp.run.lock import FolderInUse, hold, is_launching_rank


class Preflight(Callback):
    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _exit_on_error(lambda: (validate(_as_in_job(config)), usable_folder("hydra.run.dir", config.hydra.run.dir),
                                _hold("hydra.run.dir", config.hydra.run.dir)))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _exit_on_error(lambda: (usable_folder("hydra.sweep.dir", config.hydra.sweep.dir),
                                _hold("hydra.sweep.dir", config.hydra.sweep.dir)))


def _hold(key: str, folder: str) -> None:
    """Hold the folder before Hydra writes into it: a second launch into it is refused untouched."""
    if is_launching_rank():  # DDP starts the other ranks in rank zero's folder
        try:
            hold(folder, key)
        except FolderInUse as error:
            raise ConfigError(str(error)) from None


def _as_in_job(config: DictConfig) -> DictConfig:
    """The config as the job will see it: Hydra's runtime values set, the run folder known."""
    HydraConfig.instance().set_config(config)
    job = copy.deepcopy(config)
    with open_dict(job):
        job.paths.output_dir = str(config.hydra.run.dir)
    return job


def _exit_on_error(check) -> None:
    try:
        check()
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")


def usable_folder(key: str, path: str) -> None:
    """Raise ConfigError unless `path` is, or can be made, a writable folder (Hydra makes it next)."""
    folder = Path(path)
    fix = f"Fix: choose a writable folder, e.g. {key}=logs/my_run, or move every run with IDEXP_LOG_DIR=<folder>."
    if not str(path).strip():
        raise ConfigError(f"{key}='' would write the run into the current folder ({Path.cwd()}). {fix}")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{key}={path} is an existing file, not a folder. {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{key}={path} cannot be created ({error.strerror}). {fix}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={path} is not writable. {fix}")
