"""After training: how well does the encoder recover the ground truth, and up to which transformation?"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from idexp.callbacks.run_check import RunCheck
from idexp.config import PROBE_FIT_PER_PARAMETER
from idexp.ground_truth import ProbeSplit
from idexp.progress import counted
from idexp.scorers import LatentScores, Scorer
from idexp.scorers.base import BASELINE, HEADLINE, N_FIT, N_SCORE, PREFIX, SECONDS, numpy

log = logging.getLogger(__name__)


class IdentifiabilityProbe(RunCheck):
    """After training, fits linear probes from the encoder's codes to the data's ground truth and scores them.

    Runs once in `on_train_end` on rank zero. The datamodule says what to fit on and what to score on
    (`probe_data`: `dataset.probe_fit` and `dataset.probe_score` fresh DGP samples, or a dataset's training
    and validation images); each of the `scorers` (the `probe` config group) scores the codes, and again the raw inputs as
    the untrained baseline (`probe/baseline_...`), so the table shows what training gained. A run that
    kept a best checkpoint (the best validation accuracy) is probed with those weights. Results land in
    `self.metrics`, every attached logger, and (as a plot) `probe.png` in `output_dir`.

    Codes of samples with identities (ImageNet's annotated images) are cached in `feature_cache`, keyed by
    those identities and a digest of the encoder's weights, so probing the same encoder again (a re-scored
    run, a requeued job) reads no images.
    """

    def __init__(self, scorers: dict[str, Scorer] | None = None, output_dir: str | None = None,
                 feature_cache: str | None = None) -> None:
        super().__init__()  # its `warnings` are about training (meaningful for a trained encoder only)
        # the probe group may also hold settings that the datamodule reads (probe.annotations): not scorers
        scorers = scorers or {"latents": LatentScores()}
        self.scorers = [scorer for scorer in scorers.values() if isinstance(scorer, Scorer)]
        self.output_dir = Path(output_dir) if output_dir else None
        self.feature_cache = Path(feature_cache) if feature_cache else None
        self.metrics: dict = {}
        self.data_warnings: list[str] = []  # about what was scored: undefined scores and their causes

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.run(trainer, pl_module, trainer.datamodule)

    @rank_zero_only
    def run(self, trainer: L.Trainer, pl_module: L.LightningModule, datamodule: L.LightningDataModule) -> None:
        """Probe `pl_module`'s encoder: after training, or on its own (`train=false`, a finished run re-probed)."""
        started = time.perf_counter()
        _restore_best(trainer, pl_module)
        data = datamodule.probe_data(pl_module.device)
        log.info("probing the encoder on %d %s%s", len(data.fit.targets), data.fit.name,
                 f", scored on {len(data.score.targets)} {data.score.name}" if data.score is not None else "")
        # the raw inputs go chunk by chunk to each scorer's baseline stream, never all held at once
        baselines = {scorer: scorer.stream(data, baseline=True) for scorer in self.scorers if scorer.baseline}
        fit_codes = self._encode(pl_module, data.fit, "fit", [stream.fit for stream in baselines.values()])
        score_codes = (self._encode(pl_module, data.score, "score", [stream.score for stream in baselines.values()])
                       if data.score is not None else None)
        metrics = {N_FIT.key: len(fit_codes), N_SCORE.key: 0 if score_codes is None else len(score_codes)}
        for scorer in self.scorers:
            metrics |= _prefixed(PREFIX, scorer.scores(fit_codes, score_codes, data))
            if scorer in baselines:
                metrics |= _prefixed(PREFIX + BASELINE, baselines[scorer].result())
        learned = pl_module.loss.learned()
        for scorer in self.scorers:
            metrics |= _prefixed(PREFIX, scorer.extras(metrics, data, learned))
        if self.scorers:  # the one value a sweeper optimises, whichever the family
            metrics[HEADLINE.key] = metrics.get(self.scorers[0].headline.key)
        metrics |= data.truth.facts
        metrics[SECONDS.key] = time.perf_counter() - started
        self.metrics = metrics
        self.warnings = [w for scorer in self.scorers if scorer.warns_below_baseline
                         for w in _below_baseline(scorer, metrics, fit_codes.shape[1])]
        self.data_warnings = [warning for scorer in self.scorers for warning in scorer.warnings]

        figure_path = None
        if self.output_dir is not None and self.scorers:
            figure_path = self.output_dir / "probe.png"
            self.scorers[0].plot(fit_codes, score_codes, data, metrics, figure_path, learned)
        self._log(trainer, metrics, figure_path)

    def _log(self, trainer: L.Trainer, metrics: dict, figure_path: Path | None) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        tables = {name: table for scorer in self.scorers for name, table in scorer.tables(metrics).items()}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                _log_wandb(logger, scalars, tables, figure_path)


    def _encode(self, module: L.LightningModule, split: ProbeSplit, role: str, inputs_to: list) -> np.ndarray:
        """The codes of one probe split (from the feature cache when it holds them, and no baseline needs the
        inputs); each batch's flattened raw inputs go to every callable of `inputs_to`."""
        cache = self.feature_cache / f"{role}.npz" if self.feature_cache and split.ids is not None and not inputs_to else None
        digest = _weights_digest(module.encoder) if cache else None
        if cache and (codes := _cached_codes(cache, split.ids, digest)) is not None:
            log.info("probe features of %d %s read from %s", len(codes), split.name, cache)
            return codes
        batches = counted(split.inputs, len(split.targets), f"probe: encoding the {split.name} ({role})", " samples")
        codes = encode(module.encoder, batches, len(split.targets), inputs_to)
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(".tmp.npz")  # a run killed while writing leaves no half cache
            np.savez(temporary, ids=np.asarray(split.ids), codes=codes, digest=digest)
            temporary.replace(cache)
        return codes


def encode(encoder: torch.nn.Module, batches, n: int, inputs_to=()) -> np.ndarray:
    """The encoder's codes of the `n` samples in `batches` (in eval mode, no gradients), written into one array
    as they come; each batch's flattened inputs are handed to every callable of `inputs_to` and then dropped."""
    was_training = encoder.training
    encoder.eval()
    codes, filled = None, 0
    with torch.inference_mode():
        for x in batches:
            batch = numpy(encoder(x))
            if codes is None:
                codes = np.empty((n, *batch.shape[1:]), dtype=batch.dtype)
            codes[filled:filled + len(batch)] = batch
            filled += len(batch)
            if inputs_to:
                flat = numpy(x.flatten(1))
                for consume in inputs_to:
                    consume(flat)
    encoder.train(was_training)
    if codes is None or filled != n:
        raise RuntimeError(f"the probe's batches held {filled} samples, not the {n} its targets describe")
    return codes


def _weights_digest(encoder: torch.nn.Module) -> str:
    """A fingerprint of every parameter and buffer (a random projection's matrix is a buffer)."""
    digest = hashlib.sha1()
    for tensor in [*encoder.parameters(), *encoder.buffers()]:
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _cached_codes(path: Path, ids: list[str], digest: str) -> np.ndarray | None:
    """The cached codes, if they are of these samples under these weights."""
    if not path.exists():
        return None
    try:
        with np.load(path) as cached:
            if str(cached["digest"]) == digest and cached["ids"].tolist() == list(ids):
                return cached["codes"]
    except (OSError, KeyError, ValueError) as error:
        log.warning("ignoring the unreadable feature cache %s (%s)", path, error)
    return None


def _restore_best(trainer: L.Trainer, module: L.LightningModule) -> None:
    """Load the weights of the best checkpoint, when a checkpoint callback monitors a score (image runs)."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor and callback.best_model_path and Path(callback.best_model_path).exists():
            state = torch.load(callback.best_model_path, map_location=module.device, weights_only=False)["state_dict"]
            module.load_state_dict(state)
            log.info("probing the best checkpoint %s (%s = %.4f)", callback.best_model_path, callback.monitor,
                     float(callback.best_model_score))
            return


def _below_baseline(scorer: Scorer, metrics: dict, code_dim: int) -> list[str]:
    """Training that leaves f worse than the observations themselves has learned nothing useful
    (kept in `warnings`; meaningful only for a trained encoder, so the caller reports it)."""
    score = scorer.headline
    trained, baseline = metrics.get(score.key), metrics.get(score.baseline_key)
    if trained is None or baseline is None or not trained < baseline:
        return []
    if metrics.get(N_FIT.key, 0) < PROBE_FIT_PER_PARAMETER * (code_dim + 1):  # the probe, not training, is the cause
        return []
    warning = (f"the trained encoder decodes the ground truth worse than the untrained baseline ({score.label} "
               f"{trained:.3f} vs {baseline:.3f}): training did not converge. Fix: check optimizer.lr and trainer.max_steps.")
    return [warning]


def _log_wandb(logger: WandbLogger, scalars: dict, tables: dict, figure_path: Path | None) -> None:
    import wandb

    run = logger.experiment
    run.summary.update(scalars)
    for name, (columns, rows) in tables.items():
        run.log({PREFIX + name: wandb.Table(columns=columns, data=rows)})
    if figure_path is not None and figure_path.exists():
        run.log({PREFIX + "plot": wandb.Image(str(figure_path))})


def _prefixed(prefix: str, scores: dict) -> dict:
    return {prefix + key: value for key, value in scores.items()}
