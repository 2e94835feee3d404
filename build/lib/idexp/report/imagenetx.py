"""CE Fig. 3's layout: ImageNet-X factors × feature extractors, balanced logistic accuracy ± SEM over repetitions,
with a star where the accuracy is above chance at the Bonferroni level 0.05 / (factors × extractors)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from idexp.report.collect import Runs
from idexp.scorers.imagenetx import ACCURACY, ACCURACY_SEM, PVALUE

TITLE = "CE Fig. 3 (ImageNet-X, balanced logistic accuracy ± SEM; * above chance at 0.05 / tests)"
# the CE paper's bar order: the input baseline, the random inits, then the trained networks
ORDER = ("Input", "ViT-B/16 init", "ResNet50 init", "ViT-B/16 trained", "ResNet50 trained")
NAMES = {"vit_b_16": "ViT-B/16", "resnet50": "ResNet50", "resnet18": "ResNet18"}


def extractor(run: pd.Series) -> str:
    """The bar label of a run: the random projection is "Input"; a network is "init" unless it was trained
    here (train=true) or loaded weights (model.weights)."""
    if str(run.get("model._target_", "")).endswith("RandomProjection"):
        return "Input"
    architecture = str(run.get("model.architecture") or run.get("override:model") or "?")
    trained = bool(run.get("train", True)) or not pd.isna(run.get("model.weights", None))
    return f"{NAMES.get(architecture, architecture)} {'trained' if trained else 'init'}"


def imagenetx_results(runs: Runs) -> dict[str, dict[str, tuple[float, float, float]]]:
    """extractor -> factor -> (accuracy, SEM, p-value); several runs of one extractor are averaged."""
    frame = runs.completed
    # ImageNet-X runs alone record an SEM (FactorScores has accuracies without one)
    factors = ACCURACY_SEM.factors(dict.fromkeys(frame.columns))
    frame = frame[frame[[ACCURACY_SEM.of(factor) for factor in factors]].notna().any(axis=1)] if factors else frame.iloc[:0]
    labels = frame.apply(extractor, axis=1) if len(frame) else pd.Series(dtype=str)
    ordered = [label for label in ORDER if label in set(labels)] + sorted(set(labels) - set(ORDER))
    results = {}
    for label in ordered:
        group = frame[labels == label]
        results[label] = {factor: tuple(float(group[score.of(factor)].mean()) for score in (ACCURACY, ACCURACY_SEM, PVALUE))
                          for factor in factors}
    return results


def bonferroni_alpha(results: dict) -> float:
    tests = sum(len(factors) for factors in results.values())
    return 0.05 / max(tests, 1)


def imagenetx_table(runs: Runs) -> pd.DataFrame:
    """One row per factor, one column per extractor: "accuracy±SEM", starred when significant."""
    results = imagenetx_results(runs)
    alpha = bonferroni_alpha(results)
    factors = next(iter(results.values()), {}).keys()
    rows = []
    for factor in factors:
        row = {"factor": factor}
        for label, scores in results.items():
            acc, sem, pvalue = scores[factor]
            row[label] = "–" if pd.isna(acc) else f"{acc:.3f}±{sem:.3f}{'*' if pvalue < alpha and acc > 0.5 else ''}"
        rows.append(row)
    return pd.DataFrame(rows)


def imagenetx_figure(runs: Runs, out: Path) -> list[Path]:
    from idexp.plots import plot_imagenetx_bars

    results = imagenetx_results(runs)
    alpha = bonferroni_alpha(results)
    path = out / "fig3.png"
    plot_imagenetx_bars(results, path, alpha, title=f"ImageNet-X: balanced logistic accuracy (* p < {alpha:.1e})")
    return [path]
