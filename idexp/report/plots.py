"""One figure per swept setting, as a paper prints an ablation: each score's mean ± std over seeds against the
setting's values, the paper's value beside it, one panel per unit (scores in %, errors such as MAE).

Which rows a figure shows: the rows that vary the setting plus the baseline (every other swept setting at its
preset). A setting swept on every row (DIET's normalised or unnormalised W) is crossed with the rest: it
splits the figure into one column of panels per value. Settings that are always overridden together (`loss`
with `dgp/conditional`) are one axis, drawn once. A setting with a single value has nothing to compare: no
figure, and a line saying so.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from idexp.report.figures import AXES  # noqa: E402
from idexp.report.tables import _is_percent  # noqa: E402

NAMES = {**AXES, "dgp.n_instances": "N", "dgp/conditional": "p(z|v_c)", "loss.normalize_rows": "rows of W normalised",
         "dgp/marginal@dgp.cluster_marginal": "cluster vectors p(v_c)", "dgp.conditional.lambdas": "Λ spectrum",
         "loss.layout": "loss layout", "loss.temperature": "temperature τ", "loss.p": "Lp's p", "loss.metric": "similarity",
         "model.output": "encoder output"}  # axis titles; a key without one is shown as it is
PRESET = "preset"
LOG_SPAN = 10  # values spanning a decade or more go on a log axis
COLOURS = plt.get_cmap("tab10").colors


def plot_ablations(table: pd.DataFrame, varied: list[str], out: Path, metrics: dict[str, str],
                   source: str | None = None, title: str = "Ablation") -> list[Path]:
    """A figure per swept axis of an `ablation_table` (metrics: its label -> score key; source: the name of its
    reference column, "paper"); the axes with a single value are named on stdout instead."""
    paths, drawn = [], []
    for key in varied:
        axis = axis_keys(table, varied, key)
        if axis in drawn:
            continue
        drawn.append(axis)
        figure = ablation_figure(table, varied, key, metrics, source, title)
        if figure is None:
            values = ", ".join(sorted(set(f"{v:g}" if isinstance(v, float) else str(v)
                                          for v in _x_values(ablation_points(table, varied, key), key))))
            print(f"no figure for {_name(key)}: a single value ({values}) per row; the table's rows are the comparison")
            continue
        x_key, fig = figure
        path = out / f"ablation_{x_key.replace('/', '_')}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths


def ablation_figure(table: pd.DataFrame, varied: list[str], key: str, metrics: dict[str, str], source: str | None,
                    title: str) -> tuple[str, plt.Figure] | None:
    """(the setting on the x axis, the figure) of the axis that `key` belongs to; None where no setting of that
    axis takes two values that tell its rows apart."""
    axis = axis_keys(table, varied, key)
    points = ablation_points(table, varied, key)
    x_key = next((k for k in axis if _tells_rows_apart(points, k, _series_keys(table, varied, k))), None)
    if x_key is None:
        return None
    return x_key, _draw(points, x_key, axis, _series_keys(table, varied, x_key), metrics, source, title)


def ablation_points(table: pd.DataFrame, varied: list[str], key: str) -> pd.DataFrame:
    """The rows that vary `key` (with the settings overridden together with it) plus the baseline (the other swept
    settings at their presets; settings crossed with every row are kept), once, sorted by the values they ran with.
    A paper table's blocks repeat the baseline: the copy kept is the one in the block that varies `key`, beside
    that block's own paper value."""
    crossed = _crossed(table, varied)
    fixed = [k for k in varied if k not in crossed and k not in axis_keys(table, varied, key)]
    rows = table[table[fixed].isna().all(axis=1)] if fixed else table
    if "block" in rows:
        own_block = rows["block"].isin(set(rows.loc[rows[key].notna(), "block"]))
        rows = rows.assign(_other_block=~own_block).sort_values("_other_block", kind="stable")
    rows = rows.drop_duplicates(subset=varied)
    return rows.sort_values(f"_x:{key}", key=_numeric_first, kind="stable")


def axis_keys(table: pd.DataFrame, varied: list[str], key: str) -> tuple[str, ...]:
    """`key` and the swept settings overridden on exactly the same rows (one axis of the sweep)."""
    crossed = _crossed(table, varied)
    if key in crossed:
        return (key,)
    return tuple(k for k in varied if k not in crossed and (table[k].notna() == table[key].notna()).all())


def _crossed(table: pd.DataFrame, varied: list[str]) -> list[str]:
    """Settings overridden on every row: crossed with all the others."""
    return [k for k in varied if table[k].notna().all()]


def _series_keys(table: pd.DataFrame, varied: list[str], key: str) -> list[str]:
    return [k for k in _crossed(table, varied) if k != key]


def _tells_rows_apart(points: pd.DataFrame, key: str, series: list[str]) -> bool:
    """Whether `key` has a distinct value on every row of each series, and at least two values."""
    groups = points.groupby(series, dropna=False) if series else [((), points)]
    return all(_x_values(rows, key).nunique(dropna=True) == len(rows) >= 2 for _, rows in groups)


def _x_values(points: pd.DataFrame, key: str) -> pd.Series:
    """The values each row ran with: numbers for a numeric setting (nan where the row has no such key), else
    text ("preset" for a group's choice left at the preset)."""
    values = points[f"_x:{key}"]
    if _is_numeric(values):
        return pd.to_numeric(values, errors="coerce")
    return values.map(lambda value: PRESET if pd.isna(value) else str(value))


def _is_numeric(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and not any(isinstance(v, bool) for v in present) and \
        pd.to_numeric(present, errors="coerce").notna().all()


def _numeric_first(column: pd.Series) -> pd.Series:
    """Numbers by value; a group's choice left at the preset (the baseline) before the choices it is compared with."""
    return pd.to_numeric(column, errors="coerce").fillna(float("inf")).mask(column.isna(), float("-inf"))


def _name(key: str) -> str:
    return NAMES.get(key, key)


def _draw(points: pd.DataFrame, key: str, axis: tuple[str, ...], series: list[str], metrics: dict[str, str],
          source: str | None, title: str) -> plt.Figure:
    """Columns: one per value of the crossed settings; rows: scores in %, then the others (errors, norms)."""
    labels = [label for label in metrics if f"_mean:{label}" in points and points[f"_mean:{label}"].notna().any()]
    units = [group for group in ([m for m in labels if _is_percent(metrics[m])],
                                 [m for m in labels if not _is_percent(metrics[m])]) if group]
    groups = list(points.groupby(series, dropna=False, sort=False)) if series else [((), points)]
    fig, axes = plt.subplots(len(units), len(groups), squeeze=False, sharex=True, sharey="row",
                             figsize=(2.6 + 3.6 * len(groups), 0.9 + 2.9 * len(units)))
    for column, (values, rows) in enumerate(groups):
        x, ticks = _positions(rows, key)
        for row, unit in enumerate(units):
            ax = axes[row][column]
            for i, label in enumerate(unit):
                _series(ax, _dodge(x, i - (len(unit) - 1) / 2, log=_log_axis(x) and ticks is None, categorical=ticks is not None),
                        rows, label, COLOURS[labels.index(label) % len(COLOURS)], source, connect=ticks is None)
            _x_axis(ax, x, ticks, key, axis, last_row=row == len(units) - 1)
            if column == 0:
                ax.set_ylabel(_unit_label(unit, metrics, points["seeds"]), fontsize=8)
            if row == 0 and series:
                values = values if isinstance(values, tuple) else (values,)
                ax.set_title(", ".join(f"{_name(k)} = {PRESET if pd.isna(v) else v}" for k, v in zip(series, values)),
                             fontsize=8)
            ax.grid(alpha=0.3)
        for row, unit in enumerate(units):
            axes[row][-1].legend(handles=_legend(unit, labels, source, points), fontsize=7, loc="upper left",
                                 bbox_to_anchor=(1.02, 1), borderaxespad=0)  # beside the panel: never over a point
    width = int(fig.get_figwidth() * 13)  # characters of a 9-point title per inch, so that it is never cut off
    fig.suptitle(textwrap.fill(title, width) + f"\nablation of {_name(key)}", fontsize=9)
    fig.tight_layout()
    return fig


def _positions(rows: pd.DataFrame, key: str) -> tuple[pd.Series, list[str] | None]:
    """x of each row: the value itself on a numeric axis (ticks None), else 0, 1, ... with the values as ticks."""
    values = _x_values(rows, key)
    if pd.api.types.is_numeric_dtype(values):
        return values, None
    return pd.Series(range(len(values)), index=values.index, dtype=float), list(values)


def _series(ax, x: pd.Series, rows: pd.DataFrame, label: str, colour, source: str | None, connect: bool) -> None:
    """Our mean ± std (a row of one seed: no bar), and the reference value as a hollow star where there is one."""
    ax.errorbar(x, rows[f"_mean:{label}"], yerr=rows[f"_std:{label}"], color=colour, marker="o", ms=4, capsize=3,
                lw=1.2 if connect else 0, elinewidth=1.2)
    reference = f"{label} {source}"
    if source and reference in rows:
        ax.plot(x, pd.to_numeric(rows[reference], errors="coerce"), ls="none", marker="*", ms=11, mfc="none",
                mec=colour, mew=1.2)


DODGE = 0.012  # each score's points shifted by this share of the axis, so that error bars at one x do not hide each other


def _dodge(x: pd.Series, step: float, log: bool, categorical: bool) -> pd.Series:
    if categorical:
        return x + step * 0.08
    low, high = x.min(), x.max()
    if log:
        return x * (high / low) ** (step * DODGE)
    return x + step * DODGE * (high - low)


def _log_axis(x: pd.Series) -> bool:
    present = x.dropna()
    return len(present) > 0 and present.min() > 0 and present.max() / present.min() >= LOG_SPAN


def _x_axis(ax, x: pd.Series, ticks: list[str] | None, key: str, axis: tuple[str, ...], last_row: bool) -> None:
    if ticks is not None:
        ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
        ax.set_xlim(-0.5, len(ticks) - 0.5)
    else:
        present = sorted(x.dropna().unique())
        if _log_axis(x):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(present, [f"{value:g}" for value in present], fontsize=8)
    if last_row:
        together = [k for k in axis if k != key]
        ax.set_xlabel(_name(key) + (f"\n(set together with {', '.join(map(_name, together))})" if together else ""),
                      fontsize=8)


def _unit_label(unit: list[str], metrics: dict[str, str], seeds: pd.Series) -> str:
    spread = ("one seed, no spread" if seeds.max() <= 1 else
              f"mean ± std over {_count(seeds)} seeds")
    return f"{'score (%)' if _is_percent(metrics[unit[0]]) else 'error / scale'}, {spread}"


def _count(seeds: pd.Series) -> str:
    low, high = int(seeds.min()), int(seeds.max())
    return f"{high}" if low == high else f"{low}–{high}"


def _legend(unit: list[str], labels: list[str], source: str | None, points: pd.DataFrame) -> list[Line2D]:
    handles = [Line2D([], [], color=COLOURS[labels.index(label) % len(COLOURS)], marker="o", ms=4, label=label)
               for label in unit]
    if source and any(pd.to_numeric(points.get(f"{label} {source}"), errors="coerce").notna().any()
                      for label in unit if f"{label} {source}" in points):
        handles.append(Line2D([], [], ls="none", marker="*", ms=10, mfc="none", mec="black", label=source))
    return handles
