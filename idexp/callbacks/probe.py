"""After training: how well does the encoder invert the DGP, and up to which transformation?"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from idexp.metrics import affine_r2, identifiability_scores, lambda_agreement, orthogonal_r2
from idexp.plots import plot_probe

log = logging.getLogger(__name__)


class IdentifiabilityProbe(L.Callback):
    """Fits linear/permutation probes from f(x) to the true latents z on fresh DGP samples.

    Runs once in `on_train_end` on rank zero: the probes are fitted on the first half of
    `n_samples` fresh samples and scored on the other half. The same scores for the untrained
    baseline h = g (the observations themselves) show what training gained. For losses with a
    classification head, the head's rows are probed against their cluster vectors; for a learned
    Λ, it is compared with the DGP's ground truth. Results land in `self.metrics`, every attached
    logger, and (as a plot) `probe.png` in `output_dir`.
    """

    def __init__(self, n_samples: int = 8192, train_fraction: float = 0.5, output_dir: str | None = None) -> None:
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
        log.info("probing the encoder on %d fresh samples", self.n_samples)
        batch = datamodule.probe_batch(self.n_samples, pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            codes = _numpy(pl_module.encoder(batch["x"]))
        pl_module.train(was_training)
        latents, observations = _numpy(batch["z"]), _numpy(batch["x"])

        metrics = _prefixed("probe/", identifiability_scores(codes, latents, self.train_fraction))
        metrics |= _prefixed("probe/baseline_", identifiability_scores(observations, latents, self.train_fraction))
        metrics |= self._head_scores(pl_module.loss, datamodule.dgp)
        metrics |= self._lambda_scores(pl_module.loss, datamodule.dgp)
        metrics |= self._concentration_split(metrics["probe/r2_affine_per_dim"], datamodule.dgp)
        metrics["probe/seconds"] = time.perf_counter() - started
        self.metrics = metrics
        self.warnings = _below_baseline(metrics)

        figure_path = None
        if self.output_dir is not None:
            figure_path = self.output_dir / "probe.png"
            plot_probe(codes, latents, self.train_fraction, metrics, figure_path, _lambdas(pl_module.loss, datamodule.dgp))
        self._log(trainer, metrics, figure_path)

    def _head_scores(self, loss, dgp) -> dict:
        """Rows of the CE/DIET head W against the cluster vectors they should align with (CE paper Thm 1)."""
        weight = getattr(loss, "head_weight", None)
        if weight is None or not hasattr(dgp, "cluster_vectors"):
            return {}
        rows = torch.arange(weight.shape[0], device=dgp.cluster_vectors.device)
        clusters = rows if loss.target_key == "label" else dgp.cluster_of(rows)
        heads, targets = _numpy(weight), _numpy(dgp.cluster_vectors[clusters])
        split = max(2, int(len(heads) * self.train_fraction))
        halves = (heads[:split], targets[:split], heads[split:], targets[split:])
        ortho = orthogonal_r2(*halves)
        return {"probe/head_r2_affine": affine_r2(*halves)["r2"], "probe/head_r2_orthogonal": ortho["r2"],
                "probe/head_sv_mae": ortho["sv_mae"]}

    @staticmethod
    def _lambda_scores(loss, dgp) -> dict:
        pair = _lambdas(loss, dgp)
        if pair is None:
            return {}
        learned, true = pair
        agreement = lambda_agreement(learned, true)
        return {"probe/lambda_corr": agreement["corr"], "probe/lambda_mae": agreement["mae"],
                "probe/lambda_learned": learned.tolist(), "probe/lambda_true": true.tolist()}

    @staticmethod
    def _concentration_split(r2_per_dim: list[float], dgp) -> dict:
        """Anisotropic DGPs: per-latent R² averaged over the high-Λ ("content") and low-Λ ("style") latents,
        where AnInfoNCE claims to recover what InfoNCE loses."""
        true = getattr(dgp, "ground_truth_lambdas", None)
        if true is None or float(true.min()) == float(true.max()):
            return {}
        true, r2 = _numpy(true), np.asarray(r2_per_dim)
        high = true >= np.median(true)
        return {"probe/r2_affine_high_lambda": float(r2[high].mean()), "probe/r2_affine_low_lambda": float(r2[~high].mean())}

    @staticmethod
    def _log(trainer: L.Trainer, metrics: dict, figure_path: Path | None) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                _log_wandb(logger, metrics, scalars, figure_path)


def _below_baseline(metrics: dict) -> list[str]:
    """Training that leaves f worse than the observations themselves has learned nothing useful
    (kept in `warnings`; meaningful only for a trained encoder, so the caller reports it)."""
    trained, baseline = metrics["probe/r2_affine"], metrics["probe/baseline_r2_affine"]
    if not trained < baseline:
        return []
    warning = (f"the trained encoder decodes the latents worse than the untrained baseline (R² {trained:.3f} vs "
               f"{baseline:.3f}): training did not converge. Fix: check optimizer.lr and trainer.max_steps.")
    return [warning]


def _log_wandb(logger: WandbLogger, metrics: dict, scalars: dict, figure_path: Path | None) -> None:
    import wandb

    run = logger.experiment
    run.summary.update(scalars)
    per_dim = [[k, metrics["probe/r2_affine_per_dim"][k], metrics["probe/mcc_pearson_per_dim"][k]]
               for k in range(len(metrics["probe/r2_affine_per_dim"]))]
    run.log({"probe/per_latent": wandb.Table(columns=["latent", "r2_affine", "mcc_pearson"], data=per_dim)})
    if figure_path is not None and figure_path.exists():
        run.log({"probe/plot": wandb.Image(str(figure_path))})


def _lambdas(loss, dgp) -> tuple[np.ndarray, np.ndarray] | None:
    learned, true = getattr(loss, "lambdas", None), getattr(dgp, "ground_truth_lambdas", None)
    if learned is None or true is None:
        return None
    return _numpy(learned), _numpy(true)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _prefixed(prefix: str, scores: dict) -> dict:
    return {prefix + key: value for key, value in scores.items()}
