"""Identifiability of a DGP's latents: affine/orthogonal R², MCC, and the loss's heads and Λ against the truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from idexp.ground_truth import Learned, ProbeData, Truth
from idexp.metrics import affine_r2, lambda_agreement, mcc, orthogonal_r2
from idexp.metrics.validation import as_paired_samples
from idexp.plots import plot_probe
from idexp.scorers.base import N_FIT, N_SCORE, Score, Scorer, fmt

R2_AFFINE = Score("r2_affine", "R² affine")
R2_ORTHOGONAL = Score("r2_orthogonal", "R² orthogonal")
SV_MAE = Score("sv_mae", "SV MAE (0 = orthogonal)")
MCC_PEARSON = Score("mcc_pearson", "MCC Pearson")
MCC_SPEARMAN = Score("mcc_spearman", "MCC Spearman")
R2_AFFINE_PER_DIM = Score("r2_affine_per_dim", "R² affine per latent")
MCC_PEARSON_PER_DIM = Score("mcc_pearson_per_dim", "MCC Pearson per latent")
SV_ORTHOGONAL = Score("sv_orthogonal", "singular values of the map f(x) -> z")  # MAE_o's input
CODE_NORM = Score("code_norm", "mean ‖f(x)‖")  # CE paper Fig. 4, right
MAE_O = Score("mae_o", "MAE_o (|σ - 1/κ|)")
HEAD_R2_AFFINE = Score("head_r2_affine", "head W→v R² affine")
HEAD_R2_ORTHOGONAL = Score("head_r2_orthogonal", "head W→v R² orthogonal")
HEAD_SV_MAE = Score("head_sv_mae", "head W→v SV MAE")
HEAD_MAE_O = Score("head_mae_o", "head W→v MAE_o (|σ - 1|)")
LAMBDA_CORR = Score("lambda_corr", "Λ corr (sorted)")
LAMBDA_MAE = Score("lambda_mae", "Λ MAE")
LAMBDA_LEARNED = Score("lambda_learned", "Λ learned")
LAMBDA_TRUE = Score("lambda_true", "Λ true")
R2_HIGH_LAMBDA = Score("r2_affine_high_lambda", "R² high Λ")
R2_LOW_LAMBDA = Score("r2_affine_low_lambda", "R² low Λ")

TABLE = (R2_AFFINE, R2_ORTHOGONAL, SV_MAE, MCC_PEARSON, MCC_SPEARMAN)  # the summary's rows, trained and baseline
EXTRA_ROWS = (MAE_O, HEAD_R2_AFFINE, HEAD_R2_ORTHOGONAL, HEAD_MAE_O, LAMBDA_CORR, LAMBDA_MAE)  # trained only


def identifiability_scores(codes: np.ndarray, latents: np.ndarray, train_fraction: float = 0.5,
                           sv_target: float | None = None) -> dict:
    """Every probe fitted on the first `train_fraction` of the samples and scored on the rest.

    The split is not shuffled: the probe samples are drawn i.i.d. from the data generating process, so any
    contiguous split is a random one. `sv_target` is the singular value that `orthogonal_r2` compares with
    (None: scale-free). Returns the scores by declared name.
    """
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    codes, latents = as_paired_samples(codes, latents, "input")
    n_train = int(len(codes) * train_fraction)
    return held_out_scores(codes[:n_train], latents[:n_train], codes[n_train:], latents[n_train:], sv_target)


def held_out_scores(codes_train: np.ndarray, latents_train: np.ndarray, codes_test: np.ndarray,
                    latents_test: np.ndarray, sv_target: float | None = None) -> dict:
    """Every probe fitted on the train samples and scored on the test samples (see `identifiability_scores`)."""
    splits = (codes_train, latents_train, codes_test, latents_test)
    affine = affine_r2(*splits)
    orthogonal = orthogonal_r2(*splits, target=sv_target)
    pearson = mcc(*splits, method="pearson")
    return {R2_AFFINE.name: affine["r2"], R2_ORTHOGONAL.name: orthogonal["r2"], SV_MAE.name: orthogonal["sv_mae"],
            MCC_PEARSON.name: pearson["mcc"], MCC_SPEARMAN.name: mcc(*splits, method="spearman")["mcc"],
            R2_AFFINE_PER_DIM.name: affine["r2_per_dim"], SV_ORTHOGONAL.name: orthogonal["singular_values"],
            MCC_PEARSON_PER_DIM.name: pearson["mcc_per_dim"],
            CODE_NORM.name: float(np.linalg.norm(codes_test, axis=1).mean())}


class LatentScores(Scorer):
    """How well f inverts the DGP: probes from f(x) to the true latents z, fitted on one part of fresh samples
    and scored on the other. A loss's head rows are probed against the true vectors of their indices (CE paper
    Thm 1); a learned Λ is compared with the DGP's."""

    headline = R2_AFFINE
    warns_below_baseline = True

    def __init__(self, train_fraction: float = 0.5) -> None:
        self.train_fraction = train_fraction  # the share of the head's rows its probe is fitted on

    def scores(self, fit_codes: np.ndarray, score_codes: np.ndarray, data: ProbeData, baseline: bool = False) -> dict:
        return held_out_scores(fit_codes, data.fit.targets, score_codes, data.score.targets)

    def extras(self, metrics: dict, data: ProbeData, learned: Learned) -> dict:
        truth = data.truth
        return (_head_scores(learned, truth, self.train_fraction) | _lambda_scores(learned, truth)
                | _concentration_split(metrics[R2_AFFINE_PER_DIM.key], truth) | _mae_o(metrics, truth, learned))

    def plot(self, fit_codes, score_codes, data, metrics, path: Path, learned: Learned) -> None:
        title = f"affine R² {metrics[R2_AFFINE.key]:.4f}   MCC {metrics[MCC_PEARSON.key]:.3f}"
        lambdas = (learned.lambdas, data.truth.lambdas) if _has_lambdas(learned, data.truth) else None
        plot_probe((fit_codes, data.fit.targets), (score_codes, data.score.targets), metrics[R2_AFFINE_PER_DIM.key], title,
                   path, lambdas)

    def tables(self, metrics: dict) -> dict[str, tuple[list[str], list[list]]]:
        r2, mcc_ = metrics[R2_AFFINE_PER_DIM.key], metrics[MCC_PEARSON_PER_DIM.key]
        return {"per_latent": (["latent", R2_AFFINE.name, MCC_PEARSON.name], [[k, r2[k], mcc_[k]] for k in range(len(r2))])}

    @staticmethod
    def summary(metrics: dict, trained: bool) -> list[str]:
        if R2_AFFINE.key not in metrics:
            return []
        n_fit, n_score = metrics.get(N_FIT.key), metrics.get(N_SCORE.key)
        samples = f" on {int(n_fit + n_score)} fresh samples" if n_fit and n_score else ""
        split = "one half" if n_fit == n_score else f"{int(n_fit)}" if n_fit else "one part"
        lines = [f"Identifiability probe{samples} (fitted on {split}, scored on the other):",
                 f"  {'':26s}{'trained f' if trained else 'untrained f':>12s}{'baseline h=g':>14s}"]
        lines += [f"  {score.label:26s}{fmt(metrics.get(score.key)):>12s}{fmt(metrics.get(score.baseline_key)):>14s}"
                  for score in TABLE]
        lines += [f"  {score.label:26s}{fmt(metrics[score.key]):>12s}" for score in EXTRA_ROWS if score.key in metrics]
        return lines


def _head_scores(learned: Learned, truth: Truth, train_fraction: float) -> dict:
    """Each head's rows against the true vectors of the indices they classify (only drawn indices were trained)."""
    scores = {}
    for key, weight in learned.heads.items():
        if key not in truth.index_vectors:
            continue
        targets = truth.index_vectors[key]
        heads = weight[: len(targets)]
        split = max(2, int(len(heads) * train_fraction))
        halves = (heads[:split], targets[:split], heads[split:], targets[split:])
        ortho = orthogonal_r2(*halves)
        scores |= {HEAD_R2_AFFINE.name: affine_r2(*halves)["r2"], HEAD_R2_ORTHOGONAL.name: ortho["r2"],
                   HEAD_SV_MAE.name: ortho["sv_mae"],
                   # the CE paper's MAE_o for w_i -> v_c: unit-norm rows map to unit vectors by an orthogonal map
                   HEAD_MAE_O.name: float(np.abs(np.asarray(ortho["singular_values"]) - 1).mean())}
    return scores


def _has_lambdas(learned: Learned, truth: Truth) -> bool:
    return learned.lambdas is not None and truth.lambdas is not None


def _lambda_scores(learned: Learned, truth: Truth) -> dict:
    if not _has_lambdas(learned, truth):
        return {}
    agreement = lambda_agreement(learned.lambdas, truth.lambdas)
    return {LAMBDA_CORR.name: agreement["corr"], LAMBDA_MAE.name: agreement["mae"],
            LAMBDA_LEARNED.name: learned.lambdas.tolist(), LAMBDA_TRUE.name: truth.lambdas.tolist()}


def _mae_o(metrics: dict, truth: Truth, learned: Learned) -> dict:
    """The CE paper's MAE_o: mean |σ_k - 1/κ| over the singular values of the no-intercept map f(x) -> z. Its
    theory (a linear head W over the clusters or instances, CE or DIET) gives f = κ·O z, so the map back is
    O^T/κ. Defined as the paper defines it: for a loss with such a head, on a DGP whose conditional has κ
    (InfoNCE's theory predicts σ = 1 instead, so |σ - 1/κ| would read as a failure it is not)."""
    singular_values = metrics.get(SV_ORTHOGONAL.key)
    if truth.kappa is None or singular_values is None or not learned.heads:
        return {}
    return {MAE_O.name: float(np.abs(np.asarray(singular_values) - 1 / truth.kappa).mean())}


def _concentration_split(r2_per_dim: list[float], truth: Truth) -> dict:
    """Anisotropic DGPs: per-latent R² averaged over the high-Λ ("content") and low-Λ ("style") latents,
    where AnInfoNCE claims to recover what InfoNCE loses."""
    if truth.lambdas is None or float(truth.lambdas.min()) == float(truth.lambdas.max()):
        return {}
    r2 = np.asarray(r2_per_dim)
    high = truth.lambdas >= np.median(truth.lambdas)
    return {R2_HIGH_LAMBDA.name: float(r2[high].mean()), R2_LOW_LAMBDA.name: float(r2[~high].mean())}
