"""Group runs by the swept settings, mean ± std over seeds, and put the papers' numbers beside ours."""
from __future__ import annotations

import pandas as pd

from idexp.report.collect import Runs
from idexp.report.paper import PaperTable

DEFAULT_METRICS = {"R²_a z̃→z": "probe/r2_affine", "R²_o z̃→z": "probe/r2_orthogonal",
                   "SV-MAE z̃→z": "probe/sv_mae", "MCC": "probe/mcc_pearson"}
PERCENT = ("r2", "mcc", "corr")  # printed ×100, as the papers print them


def _is_percent(metric: str) -> bool:
    return any(tag in metric for tag in PERCENT)


def ablation_table(runs: Runs, metrics: dict[str, str] | None = None, paper: PaperTable | None = None) -> pd.DataFrame:
    """One row per combination of swept settings: n seeds, mean and std of each metric, paper value, difference."""
    metrics = metrics or (paper.metrics if paper else DEFAULT_METRICS)
    frame = runs.completed
    missing = [key for key in metrics.values() if key not in frame.columns]
    metrics = {label: key for label, key in metrics.items() if key in frame.columns}
    if not metrics:
        raise ValueError(f"none of the metrics {missing} is in these runs")
    keys = [f"override:{key}" for key in runs.varied] or ["_all"]
    frame = frame.assign(_all="all")
    rows = []
    for values, group in frame.groupby(keys, dropna=False, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        row = {key.removeprefix("override:"): value for key, value in zip(keys, values)}
        row["seeds"] = len(group)
        for key in runs.varied:  # the value each row actually ran with, for plots (also where the preset set it)
            row[f"_x:{key}"] = group.iloc[0].get(key, row[key])
        reference = paper.lookup(group.iloc[0]) if paper else None
        for label, key in metrics.items():
            scale = 100.0 if _is_percent(key) else 1.0
            values = group[key].dropna() * scale
            mean = values.mean()
            if values.empty:  # a metric these runs do not have (e.g. Λ for InfoNCE)
                row[label] = "–"
            else:
                row[label] = _mean_spread(values, digits=1 if scale == 100 else 3)
            if paper is not None:
                value = None if reference is None else reference.get(label)
                row[f"{label} {paper.source}"] = "–" if value is None else value
                row[f"{label} Δ"] = "–" if value is None else (f"{mean - value:+.1f}" if scale == 100 else f"{mean - value:+.3f}")
            row[f"_{key}"] = mean
        rows.append(row)
    table = pd.DataFrame(rows).drop(columns=["_all"], errors="ignore")
    unreported = [label for label in metrics if paper is not None and (table[f"{label} {paper.source}"] == "–").all()]
    return table.drop(columns=[f"{label} {suffix}" for label in unreported for suffix in (paper.source, "Δ")])


def _mean_spread(values: pd.Series, digits: int) -> str:
    """Mean ± sample standard deviation over seeds; one seed has no spread to show: "(n = 1)"."""
    if len(values) == 1:
        return f"{values.mean():.{digits}f} (n = 1)"
    return f"{values.mean():.{digits}f}±{values.std(ddof=1):.{digits}f}"


# what a table's runs were trained with, for its header: label -> config key
RECIPE = {"scale": "scale", "steps": "trainer.max_steps", "epochs": "trainer.max_epochs", "batch": "dataset.batch_size",
          "lr": "optimizer.lr", "schedule": "scheduler._target_"}
SCHEDULES = {"CosineAnnealingLR": "cosine"}


def recipe(runs: Runs) -> str:
    """"scale quick · steps 8000 · batch 1024 · lr 0.003 · schedule cosine": each setting's values over the runs."""
    parts = []
    for label, key in RECIPE.items():
        column = runs.completed.get(key)
        if label == "schedule":  # no scheduler key (scheduler: null) is a constant rate
            column = (column if column is not None else pd.Series(None, index=runs.completed.index, dtype=object))
            column = column.map(lambda t: "constant" if pd.isna(t) else SCHEDULES.get(str(t).rsplit(".", 1)[-1], t))
        if column is None or column.isna().all() or (label in ("steps", "epochs") and (column <= 0).all()):
            continue
        values = sorted({str(v) for v in column.dropna()})
        parts.append(f"{label} {', '.join(values)}")
    return " · ".join(parts)


def to_markdown(table: pd.DataFrame) -> str:
    visible = [c for c in table.columns if not c.startswith("_")]
    lines = ["| " + " | ".join(visible) + " |", "|" + "---|" * len(visible)]
    lines += ["| " + " | ".join(_cell(row, c) for c in visible) + " |" for _, row in table.iterrows()]
    return "\n".join(lines)


def _cell(row: pd.Series, column: str) -> str:
    """A swept setting a row did not override shows the preset's value in italics (or "preset")."""
    if pd.notna(row[column]):
        return str(row[column])
    preset = row.get(f"_x:{column}")
    return "preset" if preset is None or pd.isna(preset) else f"*{preset}*"
