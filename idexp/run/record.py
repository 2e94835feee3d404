"""`results.json`: the run folder's record of what happened, always written atomically."""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; record them as null rather than writing an unreadable file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


class RunRecord:
    """Writes `results.json` at start ("running") and at every change of status.

    The file is replaced atomically (write to a temporary file, then `os.replace`), so a crash or a
    kill at any moment leaves either the old or the new record, never a truncated one. Only one
    process writes it: in a DDP run the other ranks share the folder and pass `writer=False`.
    """

    def __init__(self, run_dir: str | Path, config: dict, writer: bool = True, overrides: Sequence[str] = (),
                 earlier_wall_time_s: float = 0.0) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.config = config
        self.overrides = list(overrides)  # the command line's `key=value`s: a sweep job's axes
        self.writer = writer
        self.identities: dict[str, str] = {}  # what a relaunch must continue, e.g. {"wandb_run_id": ...}
        self.started = time.time() - earlier_wall_time_s  # a resumed run counts its earlier launches (as last recorded: a hard-killed one only up to its last write)
        self.status = "running"
        self.write("running")

    def __enter__(self) -> RunRecord:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """A fault that no step recorded (one after the probe, say) never leaves the run marked "running"."""
        if error is None or self.status != "running":
            return
        with contextlib.suppress(OSError):  # a record that cannot be written must not hide the error itself
            if isinstance(error, KeyboardInterrupt):
                self.write("interrupted", error="Ctrl-C")
            else:
                self.write("failed", error=f"{type(error).__name__}: {error}")

    def complete(self, metrics: dict, warnings: Sequence[str] = ()) -> None:
        """"completed" means "holds its scores": a run without them is recorded as failed instead."""
        if not metrics:
            self.write("failed", error="the probe recorded no scores. Fix: re-launch the same command to probe the run.")
            raise RuntimeError(f"the probe recorded no scores in {self.path}")
        self.write("completed", metrics=metrics, warnings=warnings)

    def write(self, status: str, metrics: dict | None = None, error: str | None = None,
              warnings: Sequence[str] = ()) -> None:
        if self.writer:
            record = {
                "status": status,
                "metrics": metrics or {},
                "wall_time_s": round(time.time() - self.started, 3),
                "config": self.config,
                "overrides": self.overrides,
                **self.identities,
            }
            if error is not None:
                record["error"] = error
            if warnings:
                record["warnings"] = list(warnings)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(_json_safe(record), indent=2, allow_nan=False))
            os.replace(tmp, self.path)
        self.status = status  # only once written: a failed write leaves the run "running" for __exit__ to record


def as_recorded(value: Any) -> Any:
    """`value` as it reads back from results.json (NaN/inf as null, dict keys as strings)."""
    return json.loads(json.dumps(_json_safe(value)))


def read_results(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def existing_record(run_dir: str | Path) -> dict | None:
    """The record of the run `run_dir` already holds, or None if it holds none."""
    try:
        return read_results(run_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# Settings that may differ between launches of one run, so they neither tell runs apart in a table
# nor block a re-launch: how it is launched (a search's preset included), stored, logged (W&B tags too), shown,
# checked and checkpointed, and the presets of the scale it does not use.
LAUNCH_SETTINGS = ("launcher", "hparams_search", "hydra", "paths", "logger", "tags", "scales", "callbacks.progress",
                   "callbacks.checkpoint", "callbacks.snapshots", "callbacks.loss_check", "callbacks.throughput",
                   "trainer.log_every_n_steps", "trainer.enable_progress_bar")


# A node of this name, wherever it sits, holds settings of how a component executes, not of what it
# computes: a datamodule keeps its DataLoader settings (workers, pinning, prefetch) under `loader`, and
# they count as launch settings without an entry in LAUNCH_SETTINGS.
EXECUTION_NODE = "loader"


def is_launch_setting(key: str) -> bool:
    """Whether a dotted config key (or a config group, `a/b`) lies under LAUNCH_SETTINGS or an EXECUTION_NODE."""
    key = key.replace("/", ".")
    return (any(key == prefix or key.startswith(prefix + ".") for prefix in LAUNCH_SETTINGS)
            or EXECUTION_NODE in key.split("."))


def run_overrides(items: Sequence[str]) -> list[str]:
    """The `key=value` overrides that define a run (a sweep job's axes), without launch settings."""
    return [item for item in items if not is_launch_setting(item.lstrip("+~").split("=", 1)[0])]
