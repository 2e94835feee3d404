"""The probe figures: true vs decoded latent per dimension and learned vs true Λ (DGPs); per-factor bars (datasets)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # runs on headless cluster nodes
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression


def plot_probe(fit: tuple[np.ndarray, np.ndarray], score: tuple[np.ndarray, np.ndarray], r2_per_dim: list[float],
               title: str, path: Path, lambdas: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Per latent: the affine read-out (fitted on the `fit` codes and latents) of the `score` codes against their
    true latents; learned vs true Λ if there is one."""
    decoded = LinearRegression().fit(*fit).predict(score[0])
    truth = score[1]
    dim = truth.shape[1]
    panels = dim + (lambdas is not None)
    cols = min(panels, 5)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    r2 = r2_per_dim or [np.nan] * dim
    show = slice(0, 1500)  # enough points to see the shape, few enough to keep the PNG small
    for k in range(dim):
        ax = axes.flat[k]
        ax.scatter(truth[show, k], decoded[show, k], s=2, alpha=0.4)
        ax.plot([-1, 1], [-1, 1], color="black", lw=0.6)
        ax.set_title(f"z{k}: R² {r2[k]:.3f}", fontsize=9)
        ax.set_xlabel("true", fontsize=8)
        ax.set_ylabel("decoded", fontsize=8)
    if lambdas is not None:
        ax = axes.flat[dim]
        learned, true = np.sort(lambdas[0]), np.sort(lambdas[1])
        ax.scatter(true, learned)
        bound = max(true.max(), learned.max()) * 1.1
        ax.plot([0, bound], [0, bound], color="black", lw=0.6)
        ax.set_title("Λ learned vs true (sorted)", fontsize=9)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_factor_bars(names: list[str], ours: list[float], baseline: list[float], path: Path) -> None:
    """Per factor: Pearson r of the linear read-out from the trained encoder (f) and from the raw input (x)."""
    position = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.2))
    ax.bar(position - 0.2, ours, width=0.4, label="f(x)")
    ax.bar(position + 0.2, baseline, width=0.4, label="x (raw input)")
    ax.set_xticks(position, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(min(0.0, *ours, *baseline), 1.0)
    ax.set_ylabel("Pearson r (held out)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_imagenetx_bars(results: dict[str, dict[str, tuple[float, float, float]]], path: Path, alpha: float,
                        title: str = "") -> None:
    """The CE paper's Fig. 3: per ImageNet-X factor, one bar per model (results: label -> factor -> (accuracy,
    SEM, p-value)) with SEM error bars, chance at 0.5, and '*' over accuracies significant at p < alpha."""
    names = list(dict.fromkeys(name for factors in results.values() for name in factors))
    position = np.arange(len(names))
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) * max(len(results), 1) ** 0.5 + 1.5), 3.4))
    for m, (label, factors) in enumerate(results.items()):
        acc, sem, pvalue = (np.array([factors.get(name, (np.nan,) * 3)[i] for name in names]) for i in range(3))
        x = position + (m - (len(results) - 1) / 2) * width
        ax.bar(x, acc, width=width, yerr=np.nan_to_num(sem), capsize=2, label=label)
        for xi, top in zip(x[pvalue < alpha], (acc + np.nan_to_num(sem))[pvalue < alpha]):
            ax.text(xi, min(top, 0.97) + 0.005, "*", ha="center", va="bottom", fontsize=10)
    ax.axhline(0.5, color="black", lw=0.8, ls="--", label="chance")
    ax.set_xticks(position, names, rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("balanced accuracy (held out)")
    ax.set_title(title or f"ImageNet-X linear probe (* p < {alpha:.1e})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
