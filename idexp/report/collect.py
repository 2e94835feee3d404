"""Read run folders (their results.json), or a report's runs.jsonl, into one flat table, one row per run."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from idexp.run.record import RESULTS_FILE, run_overrides

RECORDS_FILE = "runs.jsonl"  # a report's copy of its completed runs' records, one per line, with each run's folder


@dataclass
class Runs:
    completed: pd.DataFrame                              # config keys (dotted), overrides, probe metrics
    unfinished: list[dict] = field(default_factory=list)  # folder, status, error: listed, never averaged
    varied: list[str] = field(default_factory=list)       # override keys taking several values (not the seed)
    records: list[dict] = field(default_factory=list)     # the completed runs' records, each with its "folder"


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value if not isinstance(value, list) else str(value)
    return flat


def _override_items(record: dict, run_dir: Path) -> list[str]:
    """The command line's `key=value`s of a run: from results.json, or from `.hydra/overrides.yaml` for
    records written before it kept them."""
    items = record.get("overrides")
    if items is None:
        path = run_dir / ".hydra" / "overrides.yaml"
        items = yaml.safe_load(path.read_text()) if path.exists() else []
    return items or []


def _overrides(items: list[str]) -> dict[str, str]:
    """The overrides that define a run, e.g. the swept axes of a multirun job (a `launcher=`, `logger=` or
    `hydra.` override changes how it ran, not what)."""
    return dict(item.lstrip("+~").split("=", 1) for item in run_overrides(items) if "=" in item)


def read_records(path: Path) -> Iterator[dict]:
    """The records of a report's runs.jsonl, each with its "folder" (relative to the folders it was built from)."""
    return (json.loads(line) for line in path.read_text().splitlines())


def _records(source: Path) -> Iterator[tuple[str, dict]]:
    """(folder, record) of every run under the folder `source`, or in `source` if it is a report's runs.jsonl."""
    if source.is_file():
        for record in read_records(source):
            yield str(source.parent / record.pop("folder")), record
        return
    for path in sorted(source.rglob(RESULTS_FILE)):
        record = json.loads(path.read_text())
        record["overrides"] = _override_items(record, path.parent)
        yield str(path.parent), record


def collect_runs(folders: list[str | Path]) -> Runs:
    """Every run under `folders` (searched recursively; a report's runs.jsonl reads as its runs' folders);
    completed ones in a DataFrame, the rest listed."""
    rows, unfinished, records = [], [], []
    for folder in map(Path, folders):
        if not folder.exists():
            raise FileNotFoundError(f"{folder} does not exist. Fix: pass a sweep or run folder, e.g. logs/train/multiruns/<stamp>,"
                                    f" or a report's {RECORDS_FILE}")
        for run_dir, record in _records(folder):
            if "rescore_of" in record:  # a re-score (`python -m idexp.rescore`) inside a run folder, not a run
                continue
            if record.get("status") != "completed" or not record.get("metrics"):
                error = (record.get("error", "") if record.get("status") != "completed"
                         else "marked completed but holds no scores: re-launch it to probe it")
                unfinished.append({"folder": run_dir, "status": record.get("status"), "error": error})
                continue
            rows.append({"folder": run_dir, **flatten(record.get("config", {})),
                         **{f"override:{k}": v for k, v in _overrides(record["overrides"]).items()},
                         **_scalars(record["metrics"]), "wall_time_s": record.get("wall_time_s")})
            records.append({"folder": run_dir, **record})
    completed = pd.DataFrame(rows)
    return Runs(completed, unfinished, _varied_overrides(completed), records)


def write_records(runs: Runs, path: Path, folders: list[Path]) -> None:
    """The completed runs' records as one JSON line each, their folders relative to where `folders` meet:
    what a committed table was built from, read back by `collect_runs(path)` as if it were the sweep."""
    root = Path(os.path.commonpath([(f if f.is_dir() else f.parent).resolve() for f in folders]))
    lines = [json.dumps({**record, "folder": str(Path(record["folder"]).resolve().relative_to(root))}, allow_nan=False)
             for record in runs.records]
    # a committed file names no one's machine: the working folder's paths relative, the home folder as ~
    text = "".join(line + "\n" for line in lines).replace(f"{Path.cwd()}/", "").replace(f"{Path.home()}/", "~/")
    path.write_text(text)


def _scalars(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if isinstance(value, (int, float))}


def _varied_overrides(runs: pd.DataFrame) -> list[str]:
    columns = [c for c in runs.columns if c.startswith("override:") and c not in ("override:seed", "override:dgp.seed")]
    return [c.removeprefix("override:") for c in columns if runs[c].nunique(dropna=False) > 1]
