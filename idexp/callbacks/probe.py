"""After training: how well does the encoder recover the ground truth, and up to which transformation?"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from idexp.scorers import LatentScores, ProbeSplit, Scorer
from idexp.scorers.base import numpy

log = logging.getLogger(__name__)


class IdentifiabilityProbe(L.Callback):
    """After training, fits linear probes from the encoder's codes to the data's ground truth and scores them.

    Runs once in `on_train_end` on rank zero. The datamodule says what to fit on and what to score on
    (`probe_data`: fresh DGP samples split by `train_fraction`, or a dataset's training and validation
    images); each of the `scorers` (the `probe` config group) scores the codes, and again the raw inputs as
    the untrained baseline (`probe/baseline_...`), so the table shows what training gained. A run that
    kept a best checkpoint (the best validation accuracy) is probed with those weights. Results land in
    `self.metrics`, every attached logger, and (as a plot) `probe.png` in `output_dir`.
    """

    def __init__(self, scorers: dict[str, Scorer] | None = None, n_samples: int = 8192, train_fraction: float = 0.5,
                 output_dir: str | None = None) -> None:
        self.scorers = list((scorers or {"latents": LatentScores(train_fraction)}).values())
        self.n_samples = n_samples
        self.train_fraction = train_fraction
        self.output_dir = Path(output_dir) if output_dir else None
        self.metrics: dict = {}
        self.warnings: list[str] = []

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.run(trainer, pl_module, trainer.datamodule)

    @rank_zero_only
    def run(self, trainer: L.Trainer, pl_module: L.LightningModule, datamodule: L.LightningDataModule) -> None:
        """Probe `pl_module`'s encoder: after training, or on its own (`train=false`, a finished run re-probed)."""
        started = time.perf_counter()
        _restore_best(trainer, pl_module)
        data = datamodule.probe_data(self.n_samples, self.train_fraction, pl_module.device)
        log.info("probing the encoder: fitted on %d %s, scored on %d %s", len(data.fit.targets), data.fit.name,
                 len(data.score.targets), data.score.name)
        (fit_codes, fit_inputs), (score_codes, score_inputs) = _encode(pl_module, data.fit), _encode(pl_module, data.score)
        metrics = {"probe/n_fit": len(fit_codes), "probe/n_score": len(score_codes)}
        for scorer in self.scorers:
            metrics |= _prefixed("probe/", scorer.scores(fit_codes, score_codes, data))
            metrics |= _prefixed("probe/baseline_", scorer.scores(fit_inputs, score_inputs, data))
        for scorer in self.scorers:
            metrics |= scorer.extras(metrics, pl_module.loss, datamodule)
        metrics["probe/seconds"] = time.perf_counter() - started
        self.metrics = metrics
        self.warnings = _below_baseline(metrics)

        figure_path = None
        if self.output_dir is not None and self.scorers:
            figure_path = self.output_dir / "probe.png"
            self.scorers[0].plot(fit_codes, score_codes, data, metrics, figure_path, pl_module.loss, datamodule)
        self._log(trainer, metrics, figure_path)

    @staticmethod
    def _log(trainer: L.Trainer, metrics: dict, figure_path: Path | None) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                _log_wandb(logger, metrics, scalars, figure_path)


def _encode(module: L.LightningModule, split: ProbeSplit) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's codes and the flattened raw inputs (the baseline's features) of one probe split."""
    was_training = module.training
    module.eval()
    codes, inputs = [], []
    with torch.no_grad():
        for x in split.inputs:
            codes.append(numpy(module.encoder(x)))
            inputs.append(numpy(x.flatten(1)))
    module.train(was_training)
    return np.concatenate(codes), np.concatenate(inputs)


def _restore_best(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the weights of the best checkpoint, when a checkpoint callback monitors a score (image runs)."""
    for callback in trainer.checkpoint_callbacks:
        if callback.monitor and callback.best_model_path and Path(callback.best_model_path).exists():
            state = torch.load(callback.best_model_path, map_location=module.device, weights_only=False)["state_dict"]
            module.load_state_dict(state)
            log.info("probing the best checkpoint %s (%s = %.4f)", callback.best_model_path, callback.monitor,
                     float(callback.best_model_score))
            return


def _below_baseline(metrics: dict) -> list[str]:
    """Training that leaves f worse than the observations themselves has learned nothing useful
    (kept in `warnings`; meaningful only for a trained encoder, so the caller reports it)."""
    trained, baseline = metrics.get("probe/r2_affine"), metrics.get("probe/baseline_r2_affine")
    if trained is None or baseline is None or not trained < baseline:
        return []
    warning = (f"the trained encoder decodes the latents worse than the untrained baseline (R² {trained:.3f} vs "
               f"{baseline:.3f}): training did not converge. Fix: check optimizer.lr and trainer.max_steps.")
    return [warning]


def _log_wandb(logger: WandbLogger, metrics: dict, scalars: dict, figure_path: Path | None) -> None:
    import wandb

    run = logger.experiment
    run.summary.update(scalars)
    if "probe/r2_affine_per_dim" in metrics:
        _log_latent_table(run, metrics)
    if figure_path is not None and figure_path.exists():
        run.log({"probe/plot": wandb.Image(str(figure_path))})


def _log_latent_table(run, metrics: dict) -> None:
    import wandb

    per_dim = [[k, metrics["probe/r2_affine_per_dim"][k], metrics["probe/mcc_pearson_per_dim"][k]]
               for k in range(len(metrics["probe/r2_affine_per_dim"]))]
    run.log({"probe/per_latent": wandb.Table(columns=["latent", "r2_affine", "mcc_pearson"], data=per_dim)})


def _prefixed(prefix: str, scores: dict) -> dict:
    return {prefix + key: value for key, value in scores.items()}
