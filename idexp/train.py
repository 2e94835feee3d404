"""Entry point: compose the config, validate it, train, probe, and record the run folder."""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from idexp.callbacks import IdentifiabilityProbe
from idexp.config import ConfigError, building, validate
from idexp.module import IdentifiabilityModule, NonFiniteLossError
from idexp.relaunch import RunFolderTaken, check_same_run
from idexp.results import RunRecord, existing_record

log = logging.getLogger("idexp")

SUMMARY_ROWS = [("R² affine", "r2_affine"), ("R² orthogonal", "r2_orthogonal"), ("SV MAE (0 = orthogonal)", "sv_mae"),
                ("MCC Pearson", "mcc_pearson"), ("MCC Spearman", "mcc_spearman")]
EXTRA_ROWS = [("head W→v R² affine", "head_r2_affine"), ("head W→v R² orthogonal", "head_r2_orthogonal"),
              ("Λ corr (sorted)", "lambda_corr"), ("Λ MAE", "lambda_mae")]


def build(cfg: DictConfig) -> tuple[L.Trainer, IdentifiabilityModule, L.LightningDataModule, dict[str, L.Callback]]:
    """Instantiate every component; a bad value surfaces as a ConfigError naming its key."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    with building("dgp"):
        dgp = instantiate(cfg.dgp)
    with building("dataset"):
        datamodule = instantiate(cfg.dataset, dgp=dgp)
    with building("model"):
        encoder = instantiate(cfg.model)
    with building("loss"):
        loss = instantiate(cfg.loss)
    with building("optimizer"):
        scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
        module = IdentifiabilityModule(encoder, loss, instantiate(cfg.optimizer), scheduler)
    with building("callbacks"):
        callbacks = {name: instantiate(node) for name, node in cfg.callbacks.items() if node is not None}
    with building("logger"):
        loggers = [instantiate(node) for node in (cfg.get("logger") or {}).values() if node is not None]
    with building("trainer"):
        trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False)
    if hasattr(dgp, "condition_numbers"):
        log.info("mixing g: condition numbers per layer %s", [round(c, 2) for c in dgp.condition_numbers])
    return trainer, module, datamodule, callbacks


def train(cfg: DictConfig) -> dict:
    """Run one configured experiment; returns the probe metrics (also in `results.json`).

    In a folder that already holds a run (a re-launched sweep with a fixed `hydra.sweep.dir`, or a
    SLURM job requeued after preemption): a completed run is skipped and its metrics returned; an
    unfinished one resumes from `checkpoints/last.ckpt`. A folder holding a run of another
    configuration is left untouched and reported.
    """
    run_dir, overrides = Path(cfg.paths.output_dir), _task_overrides()
    try:
        validate(cfg)
        if (previous := existing_record(run_dir)) is not None:
            check_same_run(previous, cfg, overrides, run_dir)
            if previous.get("status") == "completed":
                log.info("%s already holds a completed run of this configuration; skipping it", run_dir)
                return previous["metrics"]
        trainer, module, datamodule, callbacks = build(cfg)
        probe = callbacks.get("probe")
        if not isinstance(probe, IdentifiabilityProbe):
            raise ConfigError("callbacks.probe is missing: the run would produce no scores. Fix: keep callbacks=default.")
    except ConfigError:
        _discard_empty_run_dir(run_dir)
        raise
    # DDP re-launches this script for ranks > 0 in the same folder; rank zero alone records the run.
    record = RunRecord(run_dir, OmegaConf.to_container(cfg, resolve=True), writer=rank_zero_only.rank == 0,
                       overrides=overrides)
    for logger in trainer.loggers:
        logger.log_hyperparams(record.config)
        if hasattr(dgp := datamodule.dgp, "condition_numbers"):
            logger.log_metrics({f"dgp/cond_layer{i}": c for i, c in enumerate(dgp.condition_numbers)}, step=0)
    resume = run_dir / "checkpoints" / "last.ckpt"
    resume = resume if resume.exists() else None
    if resume:
        log.info("resuming from %s", resume)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    except NonFiniteLossError as error:
        record.write("failed", error=str(error))
        raise
    except (KeyboardInterrupt, SystemExit) as error:  # Ctrl-C, and SIGTERM via Lightning's SIGTERMException
        _save_last_checkpoint(trainer, run_dir)
        reason = "SIGTERM" if type(error).__name__ == "SIGTERMException" else "Ctrl-C"
        record.write("interrupted", error=reason)
        raise RunInterrupted(f"{reason} at step {trainer.global_step}; the last state is in "
                             f"{run_dir / 'checkpoints' / 'last.ckpt'}") from None
    except BaseException as error:
        record.write("failed", error=f"{type(error).__name__}: {error}")
        raise
    record.write("completed", metrics=probe.metrics)
    return probe.metrics


def _task_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


class RunInterrupted(RuntimeError):
    """The user or the scheduler stopped the run; the folder is consistent and marked so."""


def _save_last_checkpoint(trainer: L.Trainer, run_dir: Path) -> None:
    try:
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    except Exception as error:  # never let the rescue hide the interruption
        log.warning("could not save the last checkpoint on interrupt: %s", error)


def _discard_empty_run_dir(run_dir: Path) -> None:
    """A config error must leave nothing behind: drop the folder Hydra made if it holds only its own files."""
    if run_dir.is_dir() and all(p.name in (".hydra", "train.log") for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def format_summary(metrics: dict, run_dir: Path, n_samples: int) -> str:
    lines = [f"Identifiability probe on {n_samples} fresh samples (fitted on one half, scored on the other):",
             f"  {'':26s}{'trained f':>12s}{'baseline h=g':>14s}"]
    for label, key in SUMMARY_ROWS:
        lines.append(f"  {label:26s}{_fmt(metrics.get('probe/' + key)):>12s}{_fmt(metrics.get('probe/baseline_' + key)):>14s}")
    lines += [f"  {label:26s}{_fmt(metrics['probe/' + key]):>12s}" for label, key in EXTRA_ROWS if ("probe/" + key) in metrics]
    lines.append(f"Run folder: {run_dir.resolve()}")
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    run_dir = Path(cfg.paths.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        metrics = train(cfg)
    except RunInterrupted as error:
        sys.exit(f"Interrupted: {error}")
    except (ConfigError, NonFiniteLossError) as error:
        kind = "Configuration error" if isinstance(error, ConfigError) else f"Training failed (see {run_dir / 'results.json'})"
        if multirun:  # one bad job must not stop the rest of a sweep; its results.json says why
            log.error("%s: %s", kind, error)
            if isinstance(error, RunFolderTaken):
                raise  # Hydra finishes the other jobs, then the sweep exits non-zero
            return None
        sys.exit(f"{kind}: {error}")
    finally:
        _finish_wandb()
    if rank_zero_only.rank != 0:
        return None
    print(format_summary(metrics, run_dir, cfg.callbacks.probe.n_samples), flush=True)
    return metrics.get("probe/r2_affine")


def _finish_wandb() -> None:
    """Close the W&B run inside the job, so the next job of a multirun starts its own."""
    if "wandb" in sys.modules:
        sys.modules["wandb"].finish()


if __name__ == "__main__":
    main()
