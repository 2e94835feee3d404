"""One plot per swept setting: each metric's mean against the setting's values."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from idexp.scorers.base import PREFIX  # noqa: E402

HIDDEN = "_" + PREFIX  # the table keeps each metric's values in a hidden column "_<key>"


def plot_ablations(table: pd.DataFrame, varied: list[str], out: Path) -> list[Path]:
    """For each swept key: the rows that vary it plus the baseline row (no swept key set), at the values they ran with."""
    metrics = [c for c in table.columns if c.startswith(HIDDEN)]
    paths = []
    for key in varied:
        points = ablation_points(table, varied, key)
        labels = points[f"_x:{key}"].map(lambda value: "base" if pd.isna(value) else str(value))
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for metric in metrics:
            ax.plot(labels, points[metric], marker="o", label=metric.removeprefix(HIDDEN))
        ax.set_xlabel(key)
        ax.set_ylabel("score (R², MCC in %)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"ablation_{key.replace('/', '_')}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def ablation_points(table: pd.DataFrame, varied: list[str], key: str) -> pd.DataFrame:
    """The rows that vary `key` plus the baseline row (no other swept key set), once: not its copies in the
    other blocks of a paper's table (`_repeat`), sorted by the values they ran with."""
    table = table[~table["_repeat"]] if "_repeat" in table else table
    others = [k for k in varied if k != key]
    baseline = table[others].isna().all(axis=1) if others else False
    return table[table[key].notna() | baseline].sort_values(f"_x:{key}", key=_numeric_first)


def _numeric_first(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce").fillna(float("inf"))
