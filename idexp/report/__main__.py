"""Build paper-shaped tables from sweep folders: `python -m idexp.report FOLDER... [--table ce_table3]`.

Prints a markdown table (ours: mean ± std over seeds; the paper's value and the difference where
the paper reports the row) and writes table.md, table.csv, table.tex, runs.jsonl (the records of the runs
behind the table: `python -m idexp.report OUT/runs.jsonl` rebuilds it) and one plot per swept setting into
--out (for a paper figure: the figure, and the paper's claims tested under the table).
Unfinished or failed runs are listed, never averaged.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from idexp.report.collect import RECORDS_FILE, Runs, collect_runs, write_records
from idexp.report import disentanglement, factors, ima_vae, imagenetx
from idexp.report.figures import FIGURES, claims_markdown, draw
from idexp.report.paper import PAPER_TABLES
from idexp.report.plots import plot_ablations
from idexp.report.tables import DEFAULT_METRICS, ablation_table, recipe, to_markdown

# --table names with a factor × encoder layout (no ablation axes): title, table builder, figure writer
FACTOR_TABLES = {"ce_table4": (factors.TITLE, factors.factor_table, factors.no_figures, factors.images_note),
                 "ce_fig3": (imagenetx.TITLE, imagenetx.imagenetx_table, imagenetx.imagenetx_figure, lambda runs: "")}
# --table names that show other recorded scores in the ablation layout: title, label -> key, whether to plot them
# (scores of many units in one table, as the dSprites VAE's, read better as the table alone)
METRIC_TABLES = {"dislib": (disentanglement.TITLE, disentanglement.METRICS, True),
                 "ima_vae_dsprites": (ima_vae.DSPRITES_TITLE, ima_vae.DSPRITES_METRICS, False)}
# paper tables drawn as a figure of their own, with the claims tested: figure writer (runs, path), claims
CLAIMED_TABLES = {"ima_vae": (ima_vae.draw, ima_vae.FIGURE)}


@dataclass
class Layout:
    """How a --table choice turns runs into its table, its figures and the notes under the table."""
    title: str
    table: Callable[[Runs], pd.DataFrame]
    figures: Callable[[Runs, pd.DataFrame, Path], list[Path]]
    notes: Callable[[Runs], str] = lambda runs: ""


def layout(name: str | None, title: str | None = None) -> Layout:
    if name in FACTOR_TABLES:
        title, table, figures, notes = FACTOR_TABLES[name]
        return Layout(title, table, lambda runs, _, out: figures(runs, out), notes)
    if name in METRIC_TABLES:
        title, metrics, plotted = METRIC_TABLES[name]
        return Layout(title, lambda runs: ablation_table(runs, metrics=metrics),
                      lambda runs, table, out: plot_ablations(table, runs.varied, out, metrics, title=title) if plotted else [])
    if name in FIGURES:  # the CE paper's App. D: ablation rows, the figure, and the paper's claims tested
        figure = FIGURES[name]
        return Layout(figure.title, lambda runs: ablation_table(runs, metrics=figure.metrics),
                      lambda runs, _, out: draw(figure, runs, out / f"{name.removeprefix('ce_')}.png"),
                      lambda runs: f"\n## The paper's claims, tested\n\n{claims_markdown(figure, runs)}\n")
    paper = PAPER_TABLES.get(name) if name else None
    if name in CLAIMED_TABLES:
        figure, claimed = CLAIMED_TABLES[name]
        return Layout(paper.name, lambda runs: ablation_table(runs, paper=paper),
                      lambda runs, _, out: figure(runs, out / f"{name}.png"),
                      lambda runs: f"\n{paper.notes}\n\n## The paper's claims, tested\n\n{claims_markdown(claimed, runs)}\n")
    title = title or (paper.name if paper else "Ablation")
    return Layout(title, lambda runs: ablation_table(runs, paper=paper),
                  lambda runs, table, out: plot_ablations(table, runs.varied, out, paper.metrics if paper else DEFAULT_METRICS,
                                                          paper.source if paper else None, title),
                  lambda runs: f"\n{paper.notes}\n" if paper and paper.notes else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path,
                        help=f"sweep or run folders (searched recursively), or a report's {RECORDS_FILE} (its runs' records)")
    parser.add_argument("--table", choices=sorted([*PAPER_TABLES, *FACTOR_TABLES, *METRIC_TABLES, *FIGURES]), help="put this paper table's numbers beside ours (ce_fig4/5/6: draw the App. D figure and test its claims; dislib: DCI, MIG and SAP; ima_vae: the IMA-VAE figure and its claims; ima_vae_dsprites: the dSprites VAE's factor read-out)")
    parser.add_argument("--title", help="the table's name (default: the paper table's, else 'Ablation')")
    parser.add_argument("--out", type=Path, help="where to write the files (default: FOLDER/report)")
    args = parser.parse_args(argv)
    try:
        runs = collect_runs(args.folders)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for run in runs.unfinished:
        print(f"not averaged ({run['status']}): {run['folder']} {run['error']}".rstrip(), file=sys.stderr)
    if runs.completed.empty:
        print(f"error: no completed run under {', '.join(map(str, args.folders))} "
              "(each run folder holds a results.json). Fix: pass the folder a sweep wrote, e.g. logs/train/multiruns/<stamp>",
              file=sys.stderr)
        return 1
    chosen = layout(args.table, args.title)
    table = chosen.table(runs)
    markdown, notes = to_markdown(table), chosen.notes(runs)
    first = args.folders[0]
    out = args.out or (first if first.is_dir() else first.parent) / "report"
    out.mkdir(parents=True, exist_ok=True)
    hours = runs.completed["wall_time_s"].sum() / 3600
    title = (f"{args.title or chosen.title}: {len(runs.completed)} runs, "
             f"{hours:.2f} h of run time ({runs.completed['wall_time_s'].mean():.0f} s per run)")
    unfinished = "".join(f"- {run['status']}: {run['folder']} {run['error']}\n" for run in runs.unfinished)
    (out / "table.md").write_text(f"# {title}\n\nTrained with: {recipe(runs)}.\n\n{markdown}\n{notes}"
                                  + (f"\nNot averaged (unfinished or failed):\n{unfinished}" if unfinished else ""))
    visible = table[[c for c in table.columns if not c.startswith("_")]]
    visible.to_csv(out / "table.csv", index=False)
    (out / "table.tex").write_text(visible.to_latex(index=False))
    write_records(runs, out / RECORDS_FILE, args.folders)
    plots = chosen.figures(runs, table, out)
    print(f"{title}\n\n{markdown}\n{notes}\nWritten: {out / 'table.md'}, table.csv, table.tex, {RECORDS_FILE}"
          + "".join(f", {p.name}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
