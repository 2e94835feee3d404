"""Redraw a report's figures from its committed table.md: `python -m idexp.report.replot FOLDER --table ce_table2`.

The sweep folders behind docs/results are not in the repository; each table.md holds what the figures need: per
row the settings (a preset's value in italics), the seed count, our mean ± std and the paper's value. Figures
are drawn from those printed numbers (R² to 0.1 %), so they match the table beside them. Old ablation figures
in FOLDER are removed first: an axis that no longer gets a figure leaves none behind.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from idexp.report.collect import Runs
from idexp.report.figures import FIGURES, draw
from idexp.report.paper import PAPER_TABLES
from idexp.report.plots import plot_ablations
from idexp.report.tables import DEFAULT_METRICS, _is_percent

SPREAD = re.compile(r"(?P<mean>[-+0-9.]+)(±(?P<std>[0-9.]+)| \(n = 1\))")


def read_table(path: Path) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows of cells) of a table.md: its first markdown table, `\\|` read as a literal |."""
    lines = path.read_text().splitlines()
    title = re.match(r"# (.*): \d+ runs, ", lines[0])[1]
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    block = lines[start:end]  # the claims table of a figure's report comes later, after a blank line
    cells = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in block]
    return title, cells[0], cells[2:]


def table_frame(header: list[str], rows: list[list[str]], metrics: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The table as `ablation_table` returns it (settings, `_x:` values, `_mean:`/`_std:` per metric, the paper's
    columns), and the swept settings."""
    varied = [column for column in header[:header.index("seeds")] if column != "block"]
    records = []
    for cells in rows:
        row = dict(zip(header, cells))
        record = {"seeds": int(row["seeds"]), **({"block": row["block"]} if "block" in row else {})}
        for key in varied:
            record[key], record[f"_x:{key}"] = _setting(row[key])
        for label in metrics:
            if label in row:
                record[f"_mean:{label}"], record[f"_std:{label}"] = _spread(row[label])
        record.update({column: _number(value) for column, value in row.items()
                       if column not in record and column not in varied and not column.endswith(" Δ")})
        records.append(record)
    return pd.DataFrame(records), varied


def _setting(cell: str) -> tuple[str | None, str | None]:
    """(the override, the value the row ran with): "*10*" is the preset's 10, "preset" or "–" neither."""
    if cell in ("preset", "–", ""):
        return None, None
    if cell.startswith("*") and cell.endswith("*"):
        return None, cell.strip("*")
    return cell, cell


def _spread(cell: str) -> tuple[float, float]:
    match = SPREAD.fullmatch(cell)
    if not match:
        return float("nan"), float("nan")
    return float(match["mean"]), float(match["std"]) if match["std"] else float("nan")


def _number(cell: str):
    try:
        return float(cell)
    except ValueError:
        return cell


def figure_runs(frame: pd.DataFrame, varied: list[str], metrics: dict[str, str]) -> Runs:
    """One run per row (the App. D figures have one seed per cell), as `collect_runs` would give it."""
    completed = pd.DataFrame({
        **{f"override:{key}": frame[key] for key in varied},
        **{key: pd.to_numeric(frame[f"_x:{key}"], errors="coerce") for key in varied},
        **{key: frame[f"_mean:{label}"] / (100 if _is_percent(key) else 1) for label, key in metrics.items()
           if f"_mean:{label}" in frame}})
    return Runs(completed, varied=varied)


def replot(folder: Path, table: str | None = None) -> list[Path]:
    title, header, rows = read_table(folder / "table.md")
    if table in FIGURES:
        figure = FIGURES[table]
        frame, varied = table_frame(header, rows, figure.metrics)
        return draw(figure, figure_runs(frame, varied, figure.metrics), folder / f"{table.removeprefix('ce_')}.png")
    paper = PAPER_TABLES.get(table) if table else None
    metrics = paper.metrics if paper else DEFAULT_METRICS
    frame, varied = table_frame(header, rows, metrics)
    for old in folder.glob("ablation_*.png"):
        old.unlink()
    return plot_ablations(frame, varied, folder, metrics, paper.source if paper else None, title)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.report.replot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a report folder holding table.md, e.g. docs/results/ce_table2")
    parser.add_argument("--table", choices=sorted([*PAPER_TABLES, *FIGURES]), help="the paper table it was built with")
    args = parser.parse_args(argv)
    paths = replot(args.folder, args.table)
    print("Written: " + (", ".join(str(path) for path in paths) or "no figure"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
