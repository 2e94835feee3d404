"""Identifiability of a DGP's latents: affine/orthogonal R², MCC, and the loss's heads and Λ against the truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from idexp.metrics import affine_r2, lambda_agreement, orthogonal_r2
from idexp.metrics.scores import held_out_scores
from idexp.plots import plot_probe
from idexp.scorers.base import ProbeData, Scorer, fmt, numpy

ROWS = [("R² affine", "r2_affine"), ("R² orthogonal", "r2_orthogonal"), ("SV MAE (0 = orthogonal)", "sv_mae"),
        ("MCC Pearson", "mcc_pearson"), ("MCC Spearman", "mcc_spearman")]
EXTRA_ROWS = [("MAE_o (|σ - 1/κ|)", "mae_o"), ("head W→v R² affine", "head_r2_affine"),
              ("head W→v R² orthogonal", "head_r2_orthogonal"), ("head W→v MAE_o (|σ - 1|)", "head_mae_o"),
              ("Λ corr (sorted)", "lambda_corr"), ("Λ MAE", "lambda_mae")]


class LatentScores(Scorer):
    """How well f inverts the DGP: probes from f(x) to the true latents z, fitted on one part of fresh samples
    and scored on the other. For a loss with a classification head, its rows are probed against their
    cluster vectors (CE paper Thm 1); a learned Λ is compared with the DGP's."""

    def __init__(self, train_fraction: float = 0.5) -> None:
        self.train_fraction = train_fraction  # the share of the head's rows its probe is fitted on

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData) -> dict:
        return held_out_scores(fit_codes, data.fit.targets, score_codes, data.score.targets)

    def extras(self, metrics: dict, loss: torch.nn.Module, datamodule) -> dict:
        dgp = getattr(datamodule, "dgp", None)
        return (_head_scores(loss, dgp, self.train_fraction) | _lambda_scores(loss, dgp)
                | _concentration_split(metrics["probe/r2_affine_per_dim"], dgp) | _mae_o(metrics, dgp))

    def plot(self, fit_codes, score_codes, data, metrics, path: Path, loss, datamodule) -> None:
        codes = np.concatenate([fit_codes, score_codes])
        latents = np.concatenate([data.fit.targets, data.score.targets])
        plot_probe(codes, latents, len(fit_codes) / len(codes), metrics, path, _lambdas(loss, getattr(datamodule, "dgp", None)))

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        if "probe/r2_affine" not in metrics:
            return []
        n_fit, n_score = metrics.get("probe/n_fit"), metrics.get("probe/n_score")
        samples = f" on {int(n_fit + n_score)} fresh samples" if n_fit and n_score else ""
        split = "one half" if n_fit == n_score else f"{int(n_fit)}" if n_fit else "one part"
        lines = [f"Identifiability probe{samples} (fitted on {split}, scored on the other):",
                 f"  {'':26s}{'trained f' if trained else 'untrained f':>12s}{'baseline h=g':>14s}"]
        lines += [f"  {label:26s}{fmt(metrics.get('probe/' + key)):>12s}{fmt(metrics.get('probe/baseline_' + key)):>14s}"
                  for label, key in ROWS]
        lines += [f"  {label:26s}{fmt(metrics['probe/' + key]):>12s}" for label, key in EXTRA_ROWS if "probe/" + key in metrics]
        return lines


def _head_scores(loss, dgp, train_fraction: float) -> dict:
    """Rows of the CE/DIET head W against the cluster vectors they should align with."""
    weight = getattr(loss, "head_weight", None)
    if weight is None or not hasattr(dgp, "cluster_vectors"):
        return {}
    # a class head has a row per cluster, but only the drawn clusters' rows were ever trained (N < |C|)
    n_rows = dgp.drawn_clusters if loss.target_key == "label" else weight.shape[0]
    rows = torch.arange(n_rows, device=dgp.cluster_vectors.device)
    weight = weight[:n_rows]
    clusters = rows if loss.target_key == "label" else dgp.cluster_of(rows)
    heads, targets = numpy(weight), numpy(dgp.cluster_vectors[clusters])
    split = max(2, int(len(heads) * train_fraction))
    halves = (heads[:split], targets[:split], heads[split:], targets[split:])
    ortho = orthogonal_r2(*halves)
    return {"probe/head_r2_affine": affine_r2(*halves)["r2"], "probe/head_r2_orthogonal": ortho["r2"],
            "probe/head_sv_mae": ortho["sv_mae"],
            # the CE paper's MAE_o for w_i -> v_c: unit-norm rows map to unit cluster vectors by an orthogonal map
            "probe/head_mae_o": float(np.abs(np.asarray(ortho["singular_values"]) - 1).mean())}


def _lambda_scores(loss, dgp) -> dict:
    pair = _lambdas(loss, dgp)
    if pair is None:
        return {}
    learned, true = pair
    agreement = lambda_agreement(learned, true)
    return {"probe/lambda_corr": agreement["corr"], "probe/lambda_mae": agreement["mae"],
            "probe/lambda_learned": learned.tolist(), "probe/lambda_true": true.tolist()}


def _mae_o(metrics: dict, dgp) -> dict:
    """The CE paper's MAE_o: mean |σ_k - 1/κ| over the singular values of the no-intercept map f(x) -> z. Its
    theory (normalised W) gives f = κ·O z, so the map back is O^T/κ; defined where the DGP's conditional has κ."""
    kappa = getattr(getattr(dgp, "conditional", None), "kappa", None)
    singular_values = metrics.get("probe/sv_orthogonal")
    if kappa is None or singular_values is None:
        return {}
    return {"probe/mae_o": float(np.abs(np.asarray(singular_values) - 1 / kappa).mean())}


def _concentration_split(r2_per_dim: list[float], dgp) -> dict:
    """Anisotropic DGPs: per-latent R² averaged over the high-Λ ("content") and low-Λ ("style") latents,
    where AnInfoNCE claims to recover what InfoNCE loses."""
    true = getattr(dgp, "ground_truth_lambdas", None)
    if true is None or float(true.min()) == float(true.max()):
        return {}
    true, r2 = numpy(true), np.asarray(r2_per_dim)
    high = true >= np.median(true)
    return {"probe/r2_affine_high_lambda": float(r2[high].mean()), "probe/r2_affine_low_lambda": float(r2[~high].mean())}


def _lambdas(loss, dgp) -> tuple[np.ndarray, np.ndarray] | None:
    learned, true = getattr(loss, "lambdas", None), getattr(dgp, "ground_truth_lambdas", None)
    if learned is None or true is None:
        return None
    return numpy(learned), numpy(true)
