"""Read run folders (their results.json) into one flat table, one row per run."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from idexp.run.record import RESULTS_FILE, run_overrides


@dataclass
class Runs:
    completed: pd.DataFrame                              # config keys (dotted), overrides, probe metrics
    unfinished: list[dict] = field(default_factory=list)  # folder, status, error: listed, never averaged
    varied: list[str] = field(default_factory=list)       # override keys taking several values (not the seed)


def flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value if not isinstance(value, list) else str(value)
    return flat


def _overrides(record: dict, run_dir: Path) -> dict[str, str]:
    """The command-line overrides that define a run (`key=value`), e.g. the swept axes of a multirun
    job (a `launcher=`, `logger=` or `hydra.` override changes how it ran, not what): from
    results.json, or from `.hydra/overrides.yaml` for records written before it kept them."""
    path = run_dir / ".hydra" / "overrides.yaml"
    items = record.get("overrides")
    if items is None:
        items = yaml.safe_load(path.read_text()) if path.exists() else []
    return dict(item.lstrip("+~").split("=", 1) for item in run_overrides(items or []) if "=" in item)


def collect_runs(folders: list[str | Path]) -> Runs:
    """Every run under `folders` (searched recursively); completed ones in a DataFrame, the rest listed."""
    rows, unfinished = [], []
    for folder in folders:
        if not Path(folder).exists():
            raise FileNotFoundError(f"{folder} does not exist. Fix: pass a sweep or run folder, e.g. logs/train/multiruns/<stamp>")
        for path in sorted(Path(folder).rglob(RESULTS_FILE)):
            record = json.loads(path.read_text())
            run_dir = path.parent
            if "rescore_of" in record:  # a re-score (`python -m idexp.rescore`) inside a run folder, not a run
                continue
            if record.get("status") != "completed" or not record.get("metrics"):
                error = (record.get("error", "") if record.get("status") != "completed"
                         else "marked completed but holds no scores: re-launch it to probe it")
                unfinished.append({"folder": str(run_dir), "status": record.get("status"), "error": error})
                continue
            overrides = _overrides(record, run_dir)
            rows.append({"folder": str(run_dir), **flatten(record.get("config", {})),
                         **{f"override:{k}": v for k, v in overrides.items()}, **_scalars(record["metrics"]),
                         "wall_time_s": record.get("wall_time_s")})
    completed = pd.DataFrame(rows)
    return Runs(completed, unfinished, _varied_overrides(completed))


def _scalars(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if isinstance(value, (int, float))}


def _varied_overrides(runs: pd.DataFrame) -> list[str]:
    columns = [c for c in runs.columns if c.startswith("override:") and c not in ("override:seed", "override:dgp.seed")]
    return [c.removeprefix("override:") for c in columns if runs[c].nunique(dropna=False) > 1]
