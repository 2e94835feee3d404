"""Entry point: compose the config, validate it, train, probe, and record the run folder."""
from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from warnings import filterwarnings

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from idexp.callbacks import AtomicCheckpointIO, IdentifiabilityProbe
from idexp.callbacks.last_checkpoint import UnreadableCheckpoint, resume_checkpoint
from idexp.callbacks.run_check import RunCheck
from idexp.config import ARGUMENT_ERRORS, ConfigError, building, config_warnings, unread_additions, validate
from idexp.run.interrupts import ctrl_c_stops_at_step_end
from idexp.run.launchers import missing_hydra_plugin
from idexp.run.loggers import LoggerStartError, logger_start_message, no_terminal_input, time_limit
from idexp.run.memory import memory_message, out_of_memory
from idexp.module import IdentifiabilityModule, NonFiniteLossError
from idexp.run.relaunch import RunFolderTaken, check_same_run, restore_hydra_files
from idexp.run.renamed import upgrade_overrides
from idexp.run.record import RunRecord, existing_record
from idexp.run.wandb_run import name_wandb_run, summarise_headline
from idexp.run.lock import FolderInUse, hold, held, is_launching_rank, release
from idexp.scorers import SCORERS, Scorer, headline

log = logging.getLogger("idexp")

def build(cfg: DictConfig) -> tuple[L.Trainer, IdentifiabilityModule, L.LightningDataModule, dict[str, L.Callback]]:
    """Instantiate every component; a bad value surfaces as a ConfigError naming its key."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    with building("dataset"):  # a synthetic dataset builds its DGP (dataset.dgp is ${dgp})
        datamodule = instantiate(cfg.dataset)
    with building("model"):
        encoder = instantiate(cfg.model)
    with building("loss"):
        loss = instantiate(cfg.loss)
    with building("optimizer"):
        scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
        module = IdentifiabilityModule(encoder, loss, instantiate(cfg.optimizer), scheduler)
        module.optimizer([{"params": list(encoder.parameters())}])  # its own checks, before the folder is kept
    with building("callbacks"):
        callbacks = {name: instantiate(node) for name, node in cfg.callbacks.items() if node is not None}
    with building("logger"):
        loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values() if node is not None]
    with building("trainer"):
        # every checkpoint is written whole or not at all: a kill during a save leaves the old file
        plugins = [*instantiate(cfg.trainer.get("plugins") or []), AtomicCheckpointIO()]
        trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False, plugins=plugins)
    return trainer, module, datamodule, callbacks


def train(cfg: DictConfig) -> dict:
    """Run one configured experiment; returns the probe metrics (also in `results.json`).

    In a folder that already holds a run (a re-launched sweep with a fixed `hydra.sweep.dir`, or a
    SLURM job requeued after preemption): a completed run is skipped and its metrics returned; an
    unfinished one resumes from `checkpoints/last.ckpt` (and, if its training was complete, is only
    probed). A folder holding a run of another configuration is left untouched and reported.
    """
    run_dir, overrides = Path(cfg.paths.output_dir), _task_overrides()
    acquired = is_launching_rank() and not held(run_dir)  # a single run holds it since the preflight
    if acquired:  # a sweep job: Hydra has already written into its folder
        try:
            hold(run_dir, "hydra.run.dir")
        except FolderInUse as error:
            if (holder_record := existing_record(run_dir)) is not None:
                restore_hydra_files(holder_record, run_dir)
            raise RunFolderTaken(str(error)) from None
    try:
        previous = existing_record(run_dir)
        try:
            return _train(cfg, run_dir, overrides, previous)
        except ConfigError:  # refused at start-up: a new folder keeps nothing of this launch
            if previous is None:
                discard_new_run_dir(run_dir)
            raise
    finally:
        if acquired:
            release(run_dir)


def _train(cfg: DictConfig, run_dir: Path, overrides: list[str], previous: dict | None) -> dict:
    """The run's lifecycle: validate -> build -> start loggers -> fit -> probe -> record."""
    validate(cfg)  # the checks that span groups; each component checks its own values when built
    if previous is not None:
        check_same_run(previous, cfg, overrides, run_dir)
        if previous.get("status") == "completed" and previous.get("metrics"):
            log.info("%s already holds a completed run of this configuration; skipping it", run_dir)
            return previous["metrics"]
    continue_wandb_run(cfg, previous)
    name_wandb_run(cfg, overrides)
    warnings = config_warnings(cfg) + [f"+{key} is a key that nothing reads (no component under it takes it), so it has no effect. "
                "Fix: check its spelling against `python train.py --cfg job`." for key in unread_additions(cfg, overrides)]
    for warning in warnings:
        log.warning(warning)
    trainer, module, datamodule, callbacks = build(cfg)  # each component's own checks, before the folder is kept
    probe = callbacks.get("probe")
    if not isinstance(probe, IdentifiabilityProbe):
        raise ConfigError("callbacks.probe is missing: the run would produce no scores. Fix: keep callbacks=default.")
    # DDP re-launches this script for ranks > 0 in the same folder; rank zero alone records the run.
    with RunRecord(run_dir, OmegaConf.to_container(cfg, resolve=True), writer=rank_zero_only.rank == 0,
                   overrides=overrides, earlier_wall_time_s=(previous or {}).get("wall_time_s") or 0.0) as record:
        start_loggers(trainer.loggers, record)
        trains = cfg.get("train", True)  # fit, then probe (on_train_end), or probe alone
        if trains:
            _fit_and_probe(trainer, module, datamodule, probe, record)
        else:  # probe only: the encoder as initialised (or loaded) scores what the architecture gives for free
            probe.run(trainer, module, datamodule)
            for logger in trainer.loggers:  # fit would have flushed them
                logger.finalize("success")
        if rank_zero_only.rank != 0:
            return probe.metrics
        summarise_headline(trainer.loggers, probe.metrics)
        late = [w for c in callbacks.values() if isinstance(c, RunCheck) for w in c.warnings] if trains else []
        late += probe.data_warnings  # a score left undefined is said, trained or not
        for warning in late:
            log.warning(warning)
        warnings += late
        record.complete(probe.metrics, warnings=warnings)  # "completed" only with the scores
        return probe.metrics


def _fit_and_probe(trainer: L.Trainer, module: IdentifiabilityModule, datamodule: L.LightningDataModule,
                   probe: IdentifiabilityProbe, record: RunRecord) -> None:
    """Train (from `last.ckpt` when there is one), then probe; every way out leaves the record true."""
    run_dir = record.path.parent
    try:
        resume = resume_checkpoint(run_dir / "checkpoints")
    except UnreadableCheckpoint as error:
        record.write("failed", error=str(error))
        raise
    if resume:
        log.info("resuming from %s", resume)
    with ctrl_c_stops_at_step_end(lambda: _training_done(trainer)) as stop:
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
            if not probe.metrics:  # training was already complete (killed during the probe): probe it now
                probe.run(trainer, module, datamodule)
        except NonFiniteLossError as error:
            record.write("failed", error=str(error))
            raise
        except (KeyboardInterrupt, SystemExit) as error:  # Ctrl-C, and SIGTERM via Lightning's SIGTERMException
            stop.disarm()
            reason = stop.reason or ("SIGTERM" if type(error).__name__ == "SIGTERMException" else "Ctrl-C")
            if not stop.mid_step:
                _save_last_checkpoint(trainer, run_dir)
            record.write("interrupted", error=reason)
            raise RunInterrupted(f"{reason} at step {trainer.global_step}; the last state is in "
                                 f"{run_dir / 'checkpoints' / 'last.ckpt'}") from None
        except BaseException as error:
            if out_of_memory(error) and trainer.global_step == 0:  # a bad value, not a fault
                message = memory_message(error, record.config)
                record.write("failed", error=message)
                raise ConfigError(message) from None
            raise  # any other fault: the record, on leaving its block, writes it as failed


def _training_done(trainer: L.Trainer) -> bool:
    try:
        return bool(trainer.fit_loop.done)
    except Exception:  # not set up yet
        return False


def _task_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


class RunInterrupted(RuntimeError):
    """The user or the scheduler stopped the run; the folder is consistent and marked so."""


def continue_wandb_run(cfg: DictConfig, previous: dict | None) -> None:
    """A relaunched run (a requeue, a resume) logs into the W&B run it started, so its history stays whole."""
    run_id = (previous or {}).get("wandb_run_id")
    if run_id and OmegaConf.select(cfg, "logger.wandb") is not None:
        with open_dict(cfg):
            cfg.logger.wandb.id, cfg.logger.wandb.resume = run_id, "allow"


def start_loggers(loggers, record: RunRecord) -> None:
    """Start every logger now, within a bounded time and with no prompt (a cluster job has no one to answer
    one), so one that cannot start fails the run clearly."""
    for logger in loggers:
        try:
            with time_limit(LOGGER_START_TIMEOUT_S), no_terminal_input():
                logger.log_hyperparams(record.config)
                if isinstance(logger, WandbLogger):
                    record.identities["wandb_run_id"] = logger.experiment.id
        except ARGUMENT_ERRORS as error:  # a value it cannot take, e.g. logger.wandb.mode=sideways
            message = f"logger: {' '.join(str(error).split())[:400]}. Fix: correct the logger.* values."
            record.write("failed", error=message)
            raise ConfigError(message) from None
        except BaseException as error:
            message = logger_start_message(logger, error)
            record.write("failed", error=message)
            raise LoggerStartError(message) from None
    if record.identities:
        record.write("running")  # a relaunch after a kill finds them


LOGGER_START_TIMEOUT_S = 120


def _save_last_checkpoint(trainer: L.Trainer, run_dir: Path) -> None:
    try:
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    except Exception as error:  # never let the rescue hide the interruption
        log.warning("could not save the last checkpoint on interrupt: %s", error)


# What a launch writes into its run folder before the first training step.
STARTUP_FILES = (".hydra", "train.log", "results.json", "results.json.tmp", "wandb", "csv", "checkpoints")


def discard_new_run_dir(run_dir: Path) -> None:
    """A run refused at start-up leaves nothing behind: remove what this launch wrote into its new folder,
    then the folder if that emptied it (a folder the user chose keeps everything else in it)."""
    _finish_wandb()  # an open W&B run would write into the folder again
    for name in STARTUP_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    release(run_dir)  # last: until the folder is empty, no other launch may start in it
    with contextlib.suppress(OSError):
        run_dir.rmdir()


def format_summary(metrics: dict, run_dir: Path, warnings: list[str] = (), trained: bool = True,
                   scorers: Iterable[type[Scorer]] = SCORERS) -> str:
    """Each scorer's table of the recorded metrics, the warnings, then where the run and its W&B run are."""
    lines = [line for scorer in scorers for line in scorer.summary(metrics, trained)]
    lines += [f"Warning: {warning}" for warning in warnings]
    if wandb_runs := sorted((run_dir / "wandb").glob("*run-*")):
        run = wandb_runs[-1].resolve()
        offline = sorted(path for path in wandb_runs if path.name.startswith("offline-"))
        upload = run if len(offline) == 1 else f"{run.parent}/offline-run-*"  # a relaunch continues the same run
        lines.append(f"W&B run: {run}" + (f" (upload: wandb sync {upload})" if offline else ""))
    lines.append(f"Run folder: {run_dir.resolve()}")
    return "\n".join(lines)


def main() -> None:
    """The command line: `python train.py [overrides]` (console script `idexp-train`)."""
    # conf/ and conf/local/ are optional places for the user's own presets (see conf/README.md)
    filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=.* is not available")
    filterwarnings("ignore", message=r"You defined a `validation_step` but have no `val_dataloader`")  # a DGP's stream
    filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch ended")  # we resume exactly
    filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")  # Lightning's own use of torch
    if problem := missing_hydra_plugin(sys.argv[1:]):
        sys.exit(f"Configuration error: {problem}")
    try:
        sys.argv[1:], notes = upgrade_overrides(sys.argv[1:])  # an earlier release's names for the same settings
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")
    for note in notes:
        print(note, file=sys.stderr)
    run()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def run(cfg: DictConfig) -> float | None:
    run_dir = Path(cfg.paths.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        metrics = train(cfg)
    except RunInterrupted as error:
        sys.exit(f"Interrupted: {error}")
    except (ConfigError, NonFiniteLossError, LoggerStartError, UnreadableCheckpoint) as error:
        kind = _failure_kind(error, run_dir)
        if multirun:  # one bad job must not stop the rest of a sweep; its results.json says why
            log.error("%s: %s", kind, error)
            if isinstance(error, RunFolderTaken):
                raise  # Hydra finishes the other jobs, then the sweep exits non-zero
            return None
        sys.exit(f"{kind}: {error}")
    except Exception as error:
        _append_traceback(run_dir)  # the folder keeps it, a sweep's job too (Hydra re-raises it later, never into the job's log)
        if multirun:
            raise
        sys.exit(f"Training failed: {type(error).__name__}: {error}\nThe traceback is in {run_dir / 'train.log'}; "
                 f"the run is recorded in {run_dir / 'results.json'}.")
    finally:
        _finish_wandb()
    if rank_zero_only.rank != 0:
        return None
    warnings = (existing_record(run_dir) or {}).get("warnings", [])
    print(format_summary(metrics, run_dir, warnings, trained=cfg.get("train", True), scorers=configured_scorers(cfg)),
          flush=True)
    return headline(metrics)  # None (a failed trial for a sweeper) where there is no finite score


def configured_scorers(cfg: DictConfig) -> list[type[Scorer]]:
    """The classes of the run's scorers (the `probe` group: a user's own included), whose tables the summary prints."""
    with contextlib.suppress(Exception):  # a config from before the probe group: the packaged scorers
        return [type(node) for node in instantiate(cfg.probe).values() if isinstance(node, Scorer)]
    return list(SCORERS)


def _failure_kind(error: Exception, run_dir: Path) -> str:
    if isinstance(error, ConfigError):
        return "Configuration error"
    kind = {LoggerStartError: "Logger start failed", UnreadableCheckpoint: "Cannot resume"}.get(type(error), "Training failed")
    return f"{kind} (see {run_dir / 'results.json'})"


def _append_traceback(run_dir: Path) -> None:
    with contextlib.suppress(OSError), (run_dir / "train.log").open("a") as log_file:
        traceback.print_exc(file=log_file)


def _finish_wandb() -> None:
    """Close the W&B run inside the job, so the next job of a multirun starts its own."""
    if "wandb" in sys.modules:
        sys.modules["wandb"].finish()


if __name__ == "__main__":
    main()
