"""Group runs by the swept settings, mean ± std over seeds, and put the papers' numbers beside ours."""
from __future__ import annotations

import math

import pandas as pd

from idexp.report.collect import Runs
from idexp.report.paper import PaperTable
from idexp.scorers.latents import MCC_PEARSON, R2_AFFINE, R2_ORTHOGONAL, SV_MAE

DEFAULT_METRICS = {"R²_a z̃→z": R2_AFFINE.key, "R²_o z̃→z": R2_ORTHOGONAL.key, "SV-MAE z̃→z": SV_MAE.key,
                   "MCC": MCC_PEARSON.key}
PERCENT = ("r2", "mcc", "corr")  # printed ×100, as the papers print them


def _is_percent(metric: str) -> bool:
    return any(tag in metric for tag in PERCENT)


def ablation_table(runs: Runs, metrics: dict[str, str] | None = None, paper: PaperTable | None = None) -> pd.DataFrame:
    """One row per combination of swept settings: n seeds, mean and std of each metric, paper value, difference.
    Beside a paper table with ablation blocks, a first column names the block and a combination appears in
    every block that has its settings (the baseline in each, beside that block's values), in the paper's
    block order; the hidden column `_repeat` marks the copies after the first."""
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
        settings = {key.removeprefix("override:"): value for key, value in zip(keys, values)}
        settings["seeds"] = len(group)
        for key in runs.varied:  # the value each row actually ran with, for plots (also where the preset set it)
            settings[f"_x:{key}"] = group.iloc[0].get(key, settings[key])
        for copy, (position, block, reference) in enumerate(_paper_rows(paper, group.iloc[0])):
            rows.append({"block": block, **settings, **_scores(group, metrics, paper, reference),
                         "_repeat": copy > 0, "_position": position})
    rows.sort(key=lambda row: [_setting_order(row[key]) for key in runs.varied])  # 256 before 1024; unset last
    if paper and paper.blocks:  # the paper's layout: its blocks, each in its row order; unreported rows last
        order = [*paper.blocks, NO_BLOCK]
        rows.sort(key=lambda row: (order.index(row["block"]), row["_position"]))
    unused = ["_all", "_position"] if paper and paper.blocks else ["_all", "_position", "block", "_repeat"]
    table = pd.DataFrame(rows).drop(columns=unused, errors="ignore")
    unreported = [label for label in metrics if paper is not None and (table[f"{label} {paper.source}"] == "–").all()]
    return table.drop(columns=[f"{label} {suffix}" for label in unreported for suffix in (paper.source, "Δ")])


NO_BLOCK = "–"  # the block of a combination the paper's blocked table does not report


def _paper_rows(paper: PaperTable | None, run: pd.Series) -> list[tuple[float, str | None, dict | None]]:
    """(position in the paper, block, paper values) of each paper row this run's combination sits beside: in a
    table with ablation blocks, every row that has its settings (the baseline: one per block); else the first."""
    matches = [(position, row.block, row.values) for position, row in (paper.matches(run) if paper else [])]
    if paper and paper.blocks:
        return matches or [(math.inf, NO_BLOCK, None)]
    return matches[:1] or [(math.inf, None, None)]


def _scores(group: pd.DataFrame, metrics: dict[str, str], paper: PaperTable | None, reference: dict | None) -> dict:
    """Per metric: ours (mean ± std over seeds), the paper's value and the difference, and our mean and std in
    the printed unit (hidden, for plots; the std of one seed is nan)."""
    columns = {}
    for label, key in metrics.items():
        scale = 100.0 if _is_percent(key) else 1.0
        digits = 1 if scale == 100 else 3
        values = group[key].dropna() * scale
        mean = values.mean()
        columns[label] = "–" if values.empty else _mean_spread(values, digits)  # "–": e.g. Λ for InfoNCE
        if paper is not None:
            value = None if reference is None else reference.get(label)
            columns[f"{label} {paper.source}"] = "–" if value is None else value
            columns[f"{label} Δ"] = "–" if value is None or values.empty else f"{mean - value:+.{digits}f}"
        columns[f"_mean:{label}"], columns[f"_std:{label}"] = mean, values.std(ddof=1)  # as printed, for plots
    return columns


def _mean_spread(values: pd.Series, digits: int) -> str:
    """Mean ± sample standard deviation over seeds; one seed has no spread to show: "(n = 1)"."""
    if len(values) == 1:
        return f"{values.mean():.{digits}f} (n = 1)"
    return f"{values.mean():.{digits}f}±{values.std(ddof=1):.{digits}f}"


# what a table's runs were trained with, for its header: label -> config key
RECIPE = {"scale": "scale", "steps": "trainer.max_steps", "epochs": "trainer.max_epochs", "subset": "dataset.subset",
          "batch": "dataset.batch_size", "lr": "optimizer.lr", "loss lr": "loss.lr",  # loss lr: Λ's or τ's own rate
          "schedule": "scheduler._target_"}
MODEL = "override:model"  # the model= choice of a run, where its command line made one
SCHEDULES = {"CosineAnnealingLR": "cosine"}


def recipe(runs: Runs) -> str:
    """"scale quick · steps 8000 · batch 1024 · lr 0.003 · schedule cosine": each setting's values over the runs
    (a loss with parameters of its own, such as AnInfoNCE's Λ, adds their rate: "loss lr 0.01"). Encoders trained
    with recipes of their own (CE Table 4's f_MLP and f_CNN) get one each: "model=mlp_dislib: …; model=resnet18: …"."""
    completed = runs.completed
    if MODEL in completed and completed[MODEL].nunique() > 1:
        each = {model: _recipe_of(group) for model, group in completed.groupby(MODEL, sort=True)}
        if len(set(each.values())) > 1:
            return "; ".join(f"model={model}: {text}" for model, text in each.items())
    return _recipe_of(completed)


def _recipe_of(completed: pd.DataFrame) -> str:
    parts = []
    for label, key in RECIPE.items():
        column = completed.get(key)
        if label == "schedule":  # no scheduler key (scheduler: null) is a constant rate
            column = (column if column is not None else pd.Series(None, index=completed.index, dtype=object))
            column = column.map(lambda t: "constant" if pd.isna(t) else SCHEDULES.get(str(t).rsplit(".", 1)[-1], t))
        if column is None or column.isna().all() or (label in ("steps", "epochs") and (column <= 0).all()):
            continue
        values = [str(v) for v in sorted(set(column.dropna()), key=_numeric_then_text)]
        parts.append(f"{label} {', '.join(values)}")
    return " · ".join(parts)


def _numeric_then_text(value) -> tuple:
    """Sort key: numbers by value (256 before 1024), then anything else by its text."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _setting_order(value) -> tuple:
    return (1,) if pd.isna(value) else (0, *_numeric_then_text(value))


def to_markdown(table: pd.DataFrame) -> str:
    visible = [c for c in table.columns if not c.startswith("_")]
    lines = ["| " + " | ".join(visible) + " |", "|" + "---|" * len(visible)]
    lines += ["| " + " | ".join(_cell(row, c).replace("|", "\\|") for c in visible) + " |" for _, row in table.iterrows()]
    return "\n".join(lines)


def _cell(row: pd.Series, column: str) -> str:
    """A swept setting a row did not override shows the preset's value in italics, "preset" for a config group's
    choice (`loss`, `dgp/conditional`: no value of their own), and "–" where the row's config has no such key
    (κ of a Laplace conditional)."""
    if pd.notna(row[column]):
        return str(row[column])
    preset = row.get(f"_x:{column}")
    if preset is None or pd.isna(preset):
        return "preset" if "/" in column or "." not in column else "–"
    if isinstance(preset, float) and preset.is_integer():
        preset = int(preset)  # 10.0 as 10, like the overrides; other floats keep every digit
    return f"*{preset}*"
