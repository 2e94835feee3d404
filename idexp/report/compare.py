"""Ours vs the paper, per paper column, for every committed table: `python -m idexp.report.compare docs/results`.

Reads each `<folder>/table.csv` (written by `python -m idexp.report`) and lists, for every column that has a
reference beside it (`<column> paper`, `<column> official log` or `<column> official sweep`), each row's setting, seed count, our value,
the reference and the difference. The list replaces the part of `docs/results/README.md` between the
markers below, so it is rebuilt from the tables, never typed by hand. `--check` fails when it is stale.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

START, END = "<!-- comparison: start (python -m idexp.report.compare docs/results) -->", "<!-- comparison: end -->"
REFERENCES = (" paper", " official log", " official sweep")
MISSING = ("", "–")


def compared_columns(header: list[str]) -> list[tuple[str, str]]:
    """(our column, its reference column) for every column of ours that has a reference."""
    return [(column, column + suffix) for column in header for suffix in REFERENCES if column + suffix in header]


def setting_columns(header: list[str], first_value: str) -> list[str]:
    """The columns that say which run a row is: those before the first value, but the seed count and the block
    (the ablation a row belongs to, shown apart)."""
    return [column for column in header[:header.index(first_value)] if column not in ("seeds", "block")]


def rows_compared(path: Path) -> dict[str, list[tuple[str, str, str, str, str]]]:
    """Per compared column: (setting, seeds, ours, reference, Δ) for every row with a reference, in table order."""
    with path.open(newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        rows = [dict(zip(header, row)) for row in reader]
    columns = compared_columns(header)
    if not columns:
        return {}
    settings = setting_columns(header, columns[0][0])
    compared = {}
    for ours, reference in columns:
        seen, lines = set(), []
        for row in rows:
            if row.get(reference, "") in MISSING or row.get(ours, "") in MISSING:
                continue
            setting = (", ".join(f"{key}={row[key]}" for key in settings if row[key] not in MISSING) or "baseline"
                       if settings else "as titled")  # a one-setting table names its setting in its title
            if row.get("block"):  # the paper prints the baseline once per block, not always with the same value
                setting = f"{row['block']}: {setting}"
            seeds = row.get(f"{ours} seeds") or row.get("seeds") or "–"
            line = (setting, seeds, row[ours], row[reference], row.get(f"{ours} Δ") or _difference(row[ours], row[reference]))
            if line not in seen:  # a baseline row repeats in every block of an ablation table
                seen.add(line)
                lines.append(line)
        compared[f"{ours} (reference: {reference.removeprefix(ours).strip()})"] = lines
    return compared


def _difference(ours: str, reference: str) -> str:
    """ours − reference from printed cells ("0.89±0.00", "0.94"), to the reference's decimals."""
    mean, ref = (re.match(r"[-+]?[0-9.]+", cell) for cell in (ours, reference))
    if not (mean and ref):
        return "–"
    decimals = len(ref[0].partition(".")[2])
    return f"{float(mean[0]) - float(ref[0]):+.{decimals}f}"


def comparison(results: Path) -> str:
    """The markdown list for every table under `results`, folders in name order."""
    parts = [START, ""]
    for path in sorted(results.glob("*/table.csv")):
        title = re.match(r"# (.*): \d+ runs", path.with_name("table.md").read_text())[1]
        for column, lines in rows_compared(path).items():
            parts += [f"**{title}**, {column} ([`{path.parent.name}/`]({path.parent.name}/table.md))", "",
                      "| setting | seeds | ours | reference | Δ |", "|---|---|---|---|---|"]
            parts += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
            parts.append("")
    return "\n".join([*parts, END])


def updated(readme: str, section: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"the README has no comparison markers. Fix: add the lines\n{START}\n{END}\nwhere the list goes.")
    before, rest = readme.split(START, 1)
    return before + section + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="the folder of committed tables (docs/results)")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's list differs from the tables")
    args = parser.parse_args(argv)
    readme_path = args.results / "README.md"
    readme = readme_path.read_text()
    new = updated(readme, comparison(args.results))
    if args.check:
        if new != readme:
            print(f"{readme_path}: the ours-vs-paper list is out of date. Fix: python -m idexp.report.compare "
                  f"{args.results}", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(new)
    print(f"{readme_path}: the ours-vs-paper list rebuilt from {len(list(args.results.glob('*/table.csv')))} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
