"""Scores against training samples: `python -m idexp.report.curve RUN_DIR`.

Probes every weight snapshot of a run (`callbacks.snapshots`, which experiment=ce_table4_curve sets) as
`python -m idexp.rescore RUN_DIR --checkpoint SNAPSHOT` would, into RUN_DIR/curve/<samples>/ (kept: a re-launch probes
only new snapshots), then writes RUN_DIR/curve/curve.md, curve.csv and curve.png: each factor's Pearson r (a run
without factors: its headline score) against the number of training samples, with CE Table 4's value where the run
is one of its cells. Where a paper's value is out of a CPU's reach, the curve shows how far off it is and how fast
the score still rises.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from idexp.callbacks.snapshots import SNAPSHOT_DIR, snapshot_samples  # noqa: E402
from idexp.config import ConfigError  # noqa: E402
from idexp.report.collect import collect_runs  # noqa: E402
from idexp.report.factors import dataset_name, model_choice  # noqa: E402
from idexp.report.paper import CE_TABLE4, CE_TABLE4_COLUMNS  # noqa: E402
from idexp.report.tables import recipe  # noqa: E402
from idexp.rescore import rescore  # noqa: E402
from idexp.run.record import RESULTS_FILE, existing_record  # noqa: E402
from idexp.scorers.base import HEADLINE  # noqa: E402
from idexp.scorers.factors import PEARSON  # noqa: E402

CURVE_DIR = "curve"
RAW, PAPER = "x (raw pixels)", "paper"  # the reference rows under the curve's table


def score_snapshots(run_dir: Path) -> pd.DataFrame:
    """One row per snapshot (samples, then every metric), probing the snapshots not probed yet."""
    snapshots = sorted((run_dir / "checkpoints" / SNAPSHOT_DIR).glob("samples_*.ckpt"))
    if not snapshots:
        raise ConfigError(f"{run_dir / 'checkpoints' / SNAPSHOT_DIR} holds no snapshot. Fix: train with "
                          "callbacks.snapshots set (e.g. experiment=ce_table4_curve), or pass that run's folder.")
    rows = []
    for snapshot in snapshots:
        out = run_dir / CURVE_DIR / snapshot.stem
        record = existing_record(out)
        metrics = record["metrics"] if record else rescore(run_dir, out, checkpoint=snapshot)
        rows.append({"samples": snapshot_samples(snapshot), **metrics})
    return pd.DataFrame(rows)


def curve_scores(frame: pd.DataFrame) -> dict[str, str]:
    """What the curve draws, label -> key: each factor's Pearson r, or else the headline score."""
    factors = PEARSON.factors(dict.fromkeys(frame.columns))
    return {factor: PEARSON.of(factor) for factor in sorted(factors)} or {"headline": HEADLINE.key}


def paper_values(run: pd.Series, labels: list[str]) -> dict[str, float]:
    """CE Table 4's value for each factor, where the run's dataset and model are one of its cells."""
    models = list(CE_TABLE4_COLUMNS.values())
    if (model := model_choice(run)) not in models:
        return {}
    cells = {label: CE_TABLE4.get((dataset_name(run), label)) for label in labels}
    return {label: cell[models.index(model)] for label, cell in cells.items() if cell}


def raw_input_values(frame: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    """The factors' Pearson r of the raw inputs (the probe's baseline), which do not depend on the snapshot."""
    keys = {label: PEARSON.of(label, baseline=True) for label in labels}
    return {label: float(frame[key].iloc[-1]) for label, key in keys.items() if key in frame}


def write_curve(run_dir: Path) -> Path:
    frame = score_snapshots(run_dir)
    scores = curve_scores(frame)
    labels = list(scores)
    table = frame[["samples"]].join(frame[list(scores.values())].set_axis(labels, axis=1))
    runs = collect_runs([run_dir])  # the run itself: its settings, for the recipe and the paper's cell
    references = {RAW: raw_input_values(frame, labels), PAPER: paper_values(runs.completed.iloc[0], labels)}
    out = run_dir / CURVE_DIR
    table.to_csv(out / "curve.csv", index=False)
    (out / "curve.md").write_text(_markdown(run_dir, recipe(runs), table, labels, references))
    _figure(table, labels, references, out / "curve.png")
    return out


def _markdown(run_dir: Path, trained_with: str, table: pd.DataFrame, labels: list[str], references: dict[str, dict]) -> str:
    lines = [f"# Scores against training samples: {run_dir}", "", f"Trained with: {trained_with}.", "",
             "Each row probes the weights saved after that many training samples (checkpoints/snapshots/).", "",
             "| samples | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += ["| " + " | ".join([f"{int(row.samples):,}"] + [f"{row[label]:.3f}" for label in labels]) + " |"
              for _, row in table.iterrows()]
    digits = {PAPER: ".2f"}  # as the paper prints them
    lines += [f"| {name} | " + " | ".join(format(values[label], digits.get(name, ".3f")) if label in values else "–"
                                         for label in labels) + " |" for name, values in references.items() if values]
    return "\n".join(lines) + "\n"


def _figure(table: pd.DataFrame, labels: list[str], references: dict[str, dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for colour, label in zip(plt.get_cmap("tab10").colors, labels):
        ax.plot(table["samples"], table[label], "o-", color=colour, label=label)
        for (name, values), style in zip(references.items(), (":", "--")):
            if label in values:
                ax.axhline(values[label], color=colour, linestyle=style, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("training samples seen")
    ax.set_ylabel("headline score" if labels == ["headline"] else "Pearson r")
    drawn = [f"{style}: {name}" for (name, values), style in zip(references.items(), ("dotted", "dashed")) if values]
    ax.set_title("Scores against training samples" + (f" ({'; '.join(drawn)})" if drawn else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.report.curve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help=f"a run folder whose checkpoints/{SNAPSHOT_DIR}/ holds snapshots")
    args = parser.parse_args(argv)
    try:
        if (record := existing_record(args.run_dir)) is None:
            raise ConfigError(f"{args.run_dir / RESULTS_FILE} is missing or unreadable. Fix: pass a run folder "
                              "that training wrote.")
        if record.get("status") != "completed":  # the recipe and the paper's cell come from the completed record
            raise ConfigError(f"{args.run_dir} holds a run that is {record.get('status')}, not completed. Fix: let it "
                              "finish (or re-launch its command to resume it), then draw its curve.")
        out = write_curve(args.run_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((out / "curve.md").read_text())
    print(f"written: {out / 'curve.md'}, curve.csv, curve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
