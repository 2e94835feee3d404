"""Build paper-shaped tables from sweep folders: `python -m idexp.report FOLDER... [--table ce_table3]`.

Prints a markdown table (ours: mean ± std over seeds; the paper's value and the difference where
the paper reports the row) and writes table.md, table.csv, table.tex and one plot per swept
setting into --out. Unfinished or failed runs are listed, never averaged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idexp.report.collect import collect_runs
from idexp.report import factors, imagenetx
from idexp.report.figures import FIGURES, claims_markdown, draw
from idexp.report.paper import PAPER_TABLES
from idexp.report.plots import plot_ablations
from idexp.report.tables import ablation_table, recipe, to_markdown

# --table names with a factor × encoder layout (no ablation axes): title, table builder, figure writer
FACTOR_TABLES = {"ce_table4": (factors.TITLE, factors.factor_table, factors.no_figures),
                 "ce_fig3": (imagenetx.TITLE, imagenetx.imagenetx_table, imagenetx.imagenetx_figure)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="sweep or run folders (searched recursively)")
    parser.add_argument("--table", choices=sorted([*PAPER_TABLES, *FACTOR_TABLES, *FIGURES]), help="put this paper table's numbers beside ours")
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
    paper = PAPER_TABLES.get(args.table) if args.table else None
    factor_layout, figure = FACTOR_TABLES.get(args.table), FIGURES.get(args.table)
    if factor_layout:
        table = factor_layout[1](runs)
    else:
        table = ablation_table(runs, metrics=figure.metrics if figure else None, paper=paper)
    markdown = to_markdown(table)
    out = args.out or args.folders[0] / "report"
    out.mkdir(parents=True, exist_ok=True)
    hours = runs.completed["wall_time_s"].sum() / 3600
    name = args.title or (factor_layout and factor_layout[0]) or (figure and figure.title) or (paper.name if paper else "Ablation")
    title = (f"{name}: {len(runs.completed)} runs, "
             f"{hours:.2f} h of run time ({runs.completed['wall_time_s'].mean():.0f} s per run)")
    unfinished = "".join(f"- {run['status']}: {run['folder']} {run['error']}\n" for run in runs.unfinished)
    claims = f"\n## The paper's claims, tested\n\n{claims_markdown(figure, runs)}\n" if figure else ""
    (out / "table.md").write_text(f"# {title}\n\nTrained with: {recipe(runs)}.\n\n{markdown}\n{claims}"
                                  + (f"\nNot averaged (unfinished or failed):\n{unfinished}" if unfinished else ""))
    visible = table[[c for c in table.columns if not c.startswith("_")]]
    visible.to_csv(out / "table.csv", index=False)
    (out / "table.tex").write_text(visible.to_latex(index=False))
    if factor_layout:
        plots = factor_layout[2](runs, out)
    elif figure:
        plots = [path for path in [draw(figure, runs, out / f"{args.table.removeprefix('ce_')}.png")] if path]
    else:
        plots = plot_ablations(table, runs.varied, out)
    print(f"{title}\n\n{markdown}\n{claims}\nWritten: {out / 'table.md'}, table.csv, table.tex"
          + "".join(f", {p.name}" for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
