"""The CE paper's App. D figures: a heatmap per grid of two settings, curves against one setting, and each
qualitative claim the paper makes from a figure, checked against our runs.

The paper gives these experiments only as figures, so what we can compare is its claims; every claim says
in words how it is tested, and is reported as reproduced, not reproduced, or not covered by the runs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from idexp.report.collect import Runs  # noqa: E402
from idexp.scorers.latents import CODE_NORM, HEAD_R2_AFFINE, R2_AFFINE  # noqa: E402

R2_Z, R2_V, NORM = R2_AFFINE.key, HEAD_R2_AFFINE.key, CODE_NORM.key
METRICS = {"R² z̃→z": R2_Z, "R² w_i→v_c": R2_V, "mean ‖f(x)‖": NORM}
LOSS = "loss._target_"
AXES = {"dgp.conditional.beta": "shape β", "dgp.conditional.scale": "scale", "dataset.batch_size": "batch size",
        "dgp.conditional.kappa": "κ", "dgp.n_clusters": "|C|", "dgp.dim": "d", "dgp.conditional.bound": "truncation ±",
        "loss.label_noise": "label noise"}  # axis titles as the paper's figures name them


@dataclass(frozen=True)
class Heatmap:
    """The mean over seeds of `metric` at every (x, y) of the runs that sweep both settings."""
    x: str
    y: str
    metric: str
    label: str


@dataclass(frozen=True)
class Curves:
    """`metric` against the swept setting `x`, one curve per loss."""
    x: str
    metric: str
    label: str


PARTIAL = "partial"  # a claim that holds on part of the runs' range only (said with both ranges' numbers)
Verdict = tuple[bool | str, str] | None  # (reproduced: True, False or PARTIAL; the numbers); None: not covered


@dataclass(frozen=True)
class Claim:
    text: str                                   # the paper's claim
    test: str                                   # how our runs test it, in words
    check: Callable[[Runs], Verdict]


@dataclass(frozen=True)
class PaperFigure:
    title: str
    panels: list[Heatmap | Curves]
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=lambda: dict(METRICS))


def grid(runs: Runs, x: str, y: str, metric: str, statistic: str = "mean") -> pd.DataFrame:
    """Mean (or std) of `metric` over the seeds of the runs that override both x and y: rows y, columns x
    (ascending)."""
    frame = runs.completed
    if not {f"override:{x}", f"override:{y}", x, y, metric} <= set(frame.columns):
        return pd.DataFrame()
    frame = frame[frame[f"override:{x}"].notna() & frame[f"override:{y}"].notna()]
    values = frame.groupby([y, x])[metric].agg(statistic)  # the std of one seed is nan, kept as a cell
    return values.unstack(x).sort_index().sort_index(axis=1)


def curves(runs: Runs, x: str, metric: str, statistic: str = "mean") -> pd.DataFrame:
    """Mean (or std) of `metric` over seeds, rows x (ascending), one column per loss (its class name)."""
    frame = runs.completed
    if not {f"override:{x}", x, metric, LOSS} <= set(frame.columns):
        return pd.DataFrame()
    frame = frame[frame[f"override:{x}"].notna()].assign(loss=lambda f: f[LOSS].str.rsplit(".", n=1).str[-1])
    return frame.groupby([x, "loss"])[metric].agg(statistic).unstack("loss").sort_index()


def draw(figure: PaperFigure, runs: Runs, path: Path) -> list[Path]:
    """The figure's panels side by side, as in the paper; panels the runs do not cover are left out."""
    fig = paper_figure(figure, runs)
    if fig is None:
        return []
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def paper_figure(figure: PaperFigure, runs: Runs) -> plt.Figure | None:
    panels = [(panel, _data(panel, runs)) for panel in figure.panels]
    panels = [(panel, data) for panel, data in panels if not data.empty]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    limits = _percent_limits(panels)
    for ax, (panel, data) in zip(axes[0], panels):
        if isinstance(panel, Heatmap):
            _heatmap(ax, panel, data, limits if _is_percent(panel.metric) else None)
        else:
            _curves(ax, panel, data, curves(runs, panel.x, panel.metric, "std"))
    fig.suptitle(figure.title, fontsize=9)
    fig.tight_layout()
    return fig


def _data(panel: Heatmap | Curves, runs: Runs) -> pd.DataFrame:
    if isinstance(panel, Heatmap):
        return grid(runs, panel.x, panel.y, panel.metric)
    return curves(runs, panel.x, panel.metric)


def _is_percent(metric: str) -> bool:
    return metric != NORM  # R² is drawn ×100, as the paper prints it; the norm as it is


def _percent_limits(panels: list) -> tuple[float, float] | None:
    """One colour scale for every heatmap in % of a figure (lowest score to 100), so that a colour reads the
    same in each panel; a heatmap of another unit (the norm) keeps its own."""
    lows = [np.nanmin(data.to_numpy(dtype=float)) * 100 for panel, data in panels
            if isinstance(panel, Heatmap) and _is_percent(panel.metric)]
    return (max(0.0, min(lows)), 100.0) if lows else None


def _heatmap(ax, panel: Heatmap, data: pd.DataFrame, limits: tuple[float, float] | None) -> None:
    percent = _is_percent(panel.metric)
    values = data.to_numpy(dtype=float) * (100 if percent else 1)
    low, high = limits or (np.nanmin(values), np.nanmax(values))
    image = ax.imshow(values, origin="lower", cmap="viridis", aspect="auto", vmin=low, vmax=high)
    for (row, column), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(column, row, f"{value:.0f}" if percent else f"{value:.2g}", ha="center", va="center",
                    color="white" if value < (low + high) / 2 else "black", fontsize=8)
    ax.set_xticks(range(data.shape[1]), [f"{v:g}" for v in data.columns])
    ax.set_yticks(range(data.shape[0]), [f"{v:g}" for v in data.index])
    ax.set_xlabel(AXES.get(panel.x, panel.x))
    ax.set_ylabel(AXES.get(panel.y, panel.y))
    ax.set_title(panel.label + (" (%)" if percent else ""), fontsize=9)
    plt.colorbar(image, ax=ax, fraction=0.046)


def _curves(ax, panel: Curves, data: pd.DataFrame, spread: pd.DataFrame) -> None:
    """Each loss's mean over seeds, with its std as error bars (none for one seed)."""
    percent = _is_percent(panel.metric)
    unit = 100 if percent else 1
    for loss in data.columns:
        ax.errorbar(data.index * 100, data[loss] * unit, yerr=spread[loss].reindex(data.index).fillna(0) * unit,
                    marker="o", capsize=3, label=loss)
    ax.set_xlabel(f"{AXES.get(panel.x, panel.x)} (%)")
    ax.set_ylabel(panel.label + (" (%)" if percent else ""))
    if percent:
        ax.set_ylim(top=101)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def claims_markdown(figure: PaperFigure, runs: Runs) -> str:
    """One line per claim: reproduced (✓), in part (◐), not reproduced (✗) or not covered (–), with how and the
    numbers."""
    lines = ["| paper's claim | our test | our runs |", "|---|---|---|"]
    for claim in figure.claims:
        verdict = claim.check(runs)
        marks = {True: "✓ ", False: "✗ ", PARTIAL: "◐ partly: "}
        mark = "– not covered by these runs" if verdict is None else marks[verdict[0]] + verdict[1]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in (claim.text, claim.test, mark)) + " |")
    return "\n".join(lines)


# --- the claims, as the paper states them (App. D), each with the test we apply -----------------------------

def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def mean_pm(mean: float, std: float, percent: bool = True, digits: int = 2) -> str:
    """A mean with its std over seeds where there are several ("94.1 ± 0.3"); one seed has no spread to show.
    Scores in % are printed ×100 with one decimal, others with `digits`."""
    show = _pct if percent else (lambda value: f"{value:.{digits}f}")
    return show(mean) + (f" ± {show(std)}" if pd.notna(std) else "")


def clear_of_spread(margin: float, *stds: float) -> bool:
    """Whether a claim's margin on the means is wider than the seeds' spread (the sum of the stds involved); a
    single seed has none, so its margin counts as clear and the numbers show no ±."""
    return margin > sum(std for std in stds if pd.notna(std))


Case = tuple  # (label, holds on the means, numbers) or (..., clear of the seeds' spread)


def every_case(cases: list[Case]) -> Verdict:
    """A claim that must hold in every case. It holds on the means (✓) only where every margin is wider than the
    seeds' spread; where some are not, it holds in part (◐), naming them; else it does not hold (✗)."""
    if not cases:
        return None
    numbers = "; ".join(f"{case[0]}: {case[2]}" for case in cases)
    thin = [case[0] for case in cases if case[1] and len(case) > 3 and not case[3]]
    if all(case[1] for case in cases) and thin:
        return PARTIAL, f"{numbers}; on the means, but by less than the seeds' spread for {', '.join(thin)}"
    return all(case[1] for case in cases), numbers


def _ends(data: pd.DataFrame, along: str, spread: pd.DataFrame | None = None) -> list[tuple]:
    """Per row (along="columns") or column (along="index"): (key, first, last, first's std, last's std), the values
    at the smallest and the largest setting it has a score for (a failed or missing run leaves a gap, not a
    verdict; std nan without `spread`); lines with fewer than two are skipped."""
    spread = data * float("nan") if spread is None else spread.reindex_like(data)
    lines = zip(data.iterrows(), spread.iterrows()) if along == "columns" else zip(data.items(), spread.items())
    ends = [(key, line.dropna(), stds) for (key, line), (_, stds) in lines] if not data.empty else []
    return [(key, line.iloc[0], line.iloc[-1], stds[line.index[0]], stds[line.index[-1]])
            for key, line, stds in ends if len(line) >= 2]


def _trend(runs: Runs, x: str, y: str, metric: str, along: str, name: str, falls: bool = True) -> Verdict:
    """The metric is lower (falls=False: higher) at the largest than at the smallest setting along one axis
    ("columns": along x, "index": along y), for every value `name` of the other, by more than the seeds' spread."""
    return _trend_in(grid(runs, x, y, metric), along, name, falls, grid(runs, x, y, metric, "std"))


def _trend_in(data: pd.DataFrame, along: str, name: str, falls: bool = True,
              spread: pd.DataFrame | None = None) -> Verdict:
    return every_case([(f"{name}={key:g}", (last < first) if falls else (last > first),
                    f"{mean_pm(first, first_std)} → {mean_pm(last, last_std)}", clear_of_spread(abs(last - first), first_std, last_std))
                   for key, first, last, first_std, last_std in _ends(data, along, spread)])


def _v_easier_than_z(runs: Runs, x: str, y: str) -> Verdict:
    z, v = grid(runs, x, y, R2_Z).align(grid(runs, x, y, R2_V))
    both = z.notna() & v.notna()
    if not both.to_numpy().any():
        return None
    wins, cells = int(((v >= z) & both).to_numpy().sum()), int(both.to_numpy().sum())
    numbers = f"{wins} of {cells} cells; mean {_pct(np.nanmean(v[both]))} vs {_pct(np.nanmean(z[both]))}"
    spread = (grid(runs, x, y, R2_Z, "std").reindex_like(z).fillna(0) + grid(runs, x, y, R2_V, "std").reindex_like(v).fillna(0))
    thin = int(((v >= z) & (v - z <= spread) & (spread > 0) & both).to_numpy().sum())
    if wins == cells and thin:
        return PARTIAL, f"{numbers}; on the means, but in {thin} of them by less than the seeds' spread"
    return wins == cells, numbers


CODE_MIN_SCALE = 0.5  # α = c_param/10 for the code's c_param 5…20; below it the clusters are as tight as vMF κ ≳ 50


def _larger_scale_degrades(runs: Runs) -> Verdict:
    """Tested on the code's range (α ≥ 0.5); where it holds there but not over the whole grid (tighter clusters
    score lower still), it holds in part, and both ranges' numbers are said."""
    data = grid(runs, "dgp.conditional.scale", "dgp.conditional.beta", R2_Z)
    spread = grid(runs, "dgp.conditional.scale", "dgp.conditional.beta", R2_Z, "std")
    window = _trend_in(data.loc[:, data.columns >= CODE_MIN_SCALE] if not data.empty else data, "columns", "β",
                       spread=spread)
    whole = _trend_in(data, "columns", "β", spread=spread)
    if window is None or whole is None or window[0] is not True or whole[0] or data.columns.min() >= CODE_MIN_SCALE:
        return window
    return PARTIAL, (f"for α ≥ {CODE_MIN_SCALE:g}: {window[1]}; but over the whole grid (α {data.columns.min():g} → "
                     f"{data.columns.max():g}) R² rises: {whole[1]}")


def _norm_grows_as_beta_falls(runs: Runs) -> Verdict:
    norms = grid(runs, "dgp.conditional.scale", "dgp.conditional.beta", NORM)
    spread = grid(runs, "dgp.conditional.scale", "dgp.conditional.beta", NORM, "std")
    return every_case([(f"α={key:g}", low_beta > high_beta,
                    f"{mean_pm(low_beta, low_std, False)} (β={norms.index[0]:g}) vs {mean_pm(high_beta, high_std, False)}",
                    clear_of_spread(low_beta - high_beta, low_std, high_std))
                   for key, low_beta, high_beta, low_std, high_std in _ends(norms, "index", spread)])


def _batch_counteracts_kappa(runs: Runs) -> Verdict:
    data = grid(runs, "dataset.batch_size", "dgp.conditional.kappa", R2_Z)
    if data.shape[0] < 2 or data.shape[1] < 2:
        return None
    drop_small, drop_large = data.iloc[0, 0] - data.iloc[-1, 0], data.iloc[0, -1] - data.iloc[-1, -1]
    spread = grid(runs, "dataset.batch_size", "dgp.conditional.kappa", R2_Z, "std").reindex_like(data)
    corners = [spread.iloc[0, 0], spread.iloc[-1, 0], spread.iloc[0, -1], spread.iloc[-1, -1]]
    return every_case([("R² drop", drop_large < drop_small,
                    f"from κ={data.index[0]:g} to κ={data.index[-1]:g}: {_pct(drop_small)} at batch {data.columns[0]:g}, "
                    f"{_pct(drop_large)} at {data.columns[-1]:g}", clear_of_spread(drop_small - drop_large, *corners))])


def _few_clusters_fail(runs: Runs) -> Verdict:
    data, spread = grid(runs, "dgp.n_clusters", "dgp.dim", R2_Z), grid(runs, "dgp.n_clusters", "dgp.dim", R2_Z, "std")
    if 10 not in data.columns or 100 not in data.columns:
        return None
    return every_case([(f"d={dim:g}", data.at[dim, 10] < data.at[dim, 100] - 0.10,
                    f"{mean_pm(data.at[dim, 10], spread.at[dim, 10])} at |C|=10 vs "
                    f"{mean_pm(data.at[dim, 100], spread.at[dim, 100])} at |C|=100",
                    clear_of_spread(data.at[dim, 100] - 0.10 - data.at[dim, 10], spread.at[dim, 10], spread.at[dim, 100]))
                   for dim in data.index if dim >= 10])


def _label_noise(runs: Runs, metric: str, losses: tuple[str, ...], levels: set[float],
                 margin: Callable[[pd.Series], tuple[float, list[float]]],
                 numbers: Callable[[pd.Series, pd.Series], str]) -> Verdict:
    """A claim on each loss's curve, for the losses whose runs cover the noise `levels` the claim reads.
    `margin(means)` says by how much the claim clears its threshold (≥ 0: it holds) and at which noise levels,
    whose stds over seeds the margin must exceed; `numbers(means, stds)` what the verdict shows."""
    data, spread = curves(runs, "loss.label_noise", metric), curves(runs, "loss.label_noise", metric, "std")
    cases = []
    for loss in losses:
        means = data[loss].dropna() if loss in data.columns else pd.Series(dtype=float)
        if not levels <= set(means.index):
            continue
        stds = spread[loss].reindex(means.index)
        value, read = margin(means)
        cases.append((loss, value >= 0, numbers(means, stds), clear_of_spread(value, *stds[read])))
    return every_case(cases)


def _lowest_up_to_80(means: pd.Series) -> float:
    """The noise level ≤ 80 % where the curve is lowest."""
    return means[means.index <= 0.8].idxmin()


FIG4 = PaperFigure("CE Fig. 4 (DIET, generalised-normal conditional: shape β × scale α)", [
    Heatmap("dgp.conditional.scale", "dgp.conditional.beta", R2_Z, "R² z̃→z"),
    Heatmap("dgp.conditional.scale", "dgp.conditional.beta", R2_V, "R² w_i→v_c"),
    Heatmap("dgp.conditional.scale", "dgp.conditional.beta", NORM, "mean ‖f(x)‖"),
], [
    Claim("v_c is easier to recover than z", "R² w_i→v_c ≥ R² z̃→z in every cell of the grid",
          lambda runs: _v_easier_than_z(runs, "dgp.conditional.scale", "dgp.conditional.beta")),
    Claim("a larger scale α degrades R²", f"for every β, R² z̃→z at the largest α < at the smallest α ≥ {CODE_MIN_SCALE} "
          "(the code's c_param ≥ 5; tighter clusters degrade too: see the α < 0.5 cells)", _larger_scale_degrades),
    Claim("the representation norm grows as β → 1", "for every α, mean ‖f(x)‖ at the smallest β > at the largest",
          _norm_grows_as_beta_falls),
])

FIG5 = PaperFigure("CE Fig. 5 (DIET: batch size × κ, |C| × d, truncated Laplace bound × scale)", [
    Heatmap("dataset.batch_size", "dgp.conditional.kappa", R2_Z, "R² z̃→z"),
    Heatmap("dgp.n_clusters", "dgp.dim", R2_Z, "R² z̃→z"),
    Heatmap("dgp.conditional.scale", "dgp.conditional.bound", R2_Z, "R² z̃→z, truncated Laplace"),
], [
    Claim("a high κ lowers R²", "for every batch size, R² z̃→z at the largest κ < at the smallest",
          lambda runs: _trend(runs, "dataset.batch_size", "dgp.conditional.kappa", R2_Z, "index", "batch")),
    Claim("larger batches counteract a high κ", "the R² drop from the smallest to the largest κ is smaller at the "
          "largest batch than at the smallest", _batch_counteracts_kappa),
    Claim("more clusters help", "for every d, R² z̃→z at the most clusters > at the fewest",
          lambda runs: _trend(runs, "dgp.n_clusters", "dgp.dim", R2_Z, "columns", "d", falls=False)),
    Claim("|C| = 10 fails for d ∈ {10, 20} (the theory needs at least d + 1 cluster vectors)",
          "R² z̃→z at |C| = 10 is over 10 points below |C| = 100 at each d ≥ 10", _few_clusters_fail),
    Claim("heavier tails (a wider truncation) lower R²", "for every scale, R² z̃→z at the widest bound < at the narrowest",
          lambda runs: _trend(runs, "dgp.conditional.scale", "dgp.conditional.bound", R2_Z, "index", "scale")),
])

FIG6 = PaperFigure("CE Fig. 6 (label noise: supervised cluster labels, DIET instance labels)", [
    Curves("loss.label_noise", R2_Z, "R² z̃→z"),
    Curves("loss.label_noise", R2_V, "R² w_i→v_c"),
], [
    Claim("up to 80 % noise, latent recovery degrades only slightly",
          "R² z̃→z at 80 % noise is within 5 points of 0 %, for each loss",
          lambda runs: _label_noise(runs, R2_Z, ("SupervisedCE", "DIET"), {0.0, 0.8},
                                    lambda m: (m[0.8] - (m[0.0] - 0.05), [0.0, 0.8]),
                                    lambda m, e: f"{mean_pm(m[0.0], e[0.0])} → {mean_pm(m[0.8], e[0.8])}")),
    Claim("DIET's cluster recovery remains perfect up to 80 % noise", "DIET's R² w_i→v_c ≥ 98 % at every noise ≤ 80 %",
          lambda runs: _label_noise(runs, R2_V, ("DIET",), {0.0, 0.8},
                                    lambda m: (m[_lowest_up_to_80(m)] - 0.98, [_lowest_up_to_80(m)]),
                                    lambda m, e: f"lowest {mean_pm(m[_lowest_up_to_80(m)], e[_lowest_up_to_80(m)])}")),
    Claim("both drop at 100 % noise", "R² z̃→z at 100 % is over 10 points below 80 %, for each loss",
          lambda runs: _label_noise(runs, R2_Z, ("SupervisedCE", "DIET"), {0.8, 1.0},
                                    lambda m: ((m[0.8] - 0.10) - m[1.0], [0.8, 1.0]),
                                    lambda m, e: f"{mean_pm(m[0.8], e[0.8])} → {mean_pm(m[1.0], e[1.0])}")),
])

FIGURES = {"ce_fig4": FIG4, "ce_fig5": FIG5, "ce_fig6": FIG6}
