"""docs/extending.md, done as a user would: its files written into an empty folder, its commands run there.

The guide marks what this test reads: `<!-- file: PATH -->` before a file's fenced block, `<!-- run -->` before
commands (run one line at a time with bash, in the folder that stands for the repository root), `<!-- output -->`
before what the last training command prints. The training commands are shortened (a few steps, a small
model, the CSV logger); everything else runs as written, so the guide cannot drift from what works.
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"<!-- (?:file: (?P<path>\S+)|(?P<kind>run|output)) -->\n```\w*\n(?P<body>.*?)^```", re.S | re.M)
# appended to every `python train.py` of the guide: later overrides win
SHORT_DGP = ["trainer=cpu", "trainer.max_steps=20", "trainer.log_every_n_steps=10", "dataset.batch_size=64",
             "dataset.probe_fit=512", "dataset.probe_score=512", "model.hidden=[32,32]", "logger=csv"]
SHORT_DATASET = ["trainer=cpu", "trainer.max_epochs=2", "trainer.log_every_n_steps=5", "model.hidden=[32,32]", "logger=csv"]


def guide_blocks() -> list[tuple[str, str, str]]:
    """(kind, path, body) of every marked block, in the guide's order: kind is file, run or output."""
    return [("file" if m["path"] else m["kind"], m["path"], m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def test_the_guide_marks_three_extensions() -> None:
    blocks = guide_blocks()
    files = {path for kind, path, _ in blocks if kind == "file"}
    assert {"my_research/dgp.py", "my_research/losses.py", "my_research/data.py", "conf/dgp/mobius.yaml",
            "conf/loss/align_uniform.yaml", "conf/dataset/blobs.yaml"} <= files
    commands = [line for kind, _, body in blocks if kind == "run" for line in body.splitlines() if "train.py" in line]
    assert any("dgp=mobius" in c and "loss=" not in c for c in commands)
    assert any("loss=align_uniform" in c for c in commands) and any("dataset=blobs" in c for c in commands)
    assert sum(kind == "output" for kind, _, _ in blocks) == 3


def user_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty folder standing for the repository root (train.py, no conf/ yet), and the environment to run in.

    `python` is this interpreter; it also finds the idexp under test after the guide's own PYTHONPATH (this
    repository may be a worktree of another editable install)."""
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    (project / "train.py").symlink_to(ROOT / "train.py")  # python resolves it: ROOT comes first on sys.path
    shim = project / "bin" / "python"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{ROOT}" exec {shlex.quote(sys.executable)} "$@"\n')
    shim.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in ("IDEXP_CONF_DIR", "PYTHONPATH")}
    env |= {"PATH": f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "IDEXP_LOG_DIR": str(project / "logs")}
    return project, env


def shortened(line: str) -> str:
    if "train.py" not in line:
        return line
    extra = SHORT_DATASET if "dataset=" in line else SHORT_DGP
    return line + " " + " ".join(shlex.quote(arg) for arg in extra)


def check_output(shown: str, printed: str) -> None:
    """The summary the guide shows is what the run prints: its title, and the label of every row."""
    lines = shown.splitlines()
    title = re.split(r"\d", lines[0])[0]
    assert title in printed, f"the guide's summary title {title!r} is not printed:\n{printed}"
    for line in lines[1:]:
        if line.startswith("  "):
            label = re.split(r"\s{2,}", line.strip())[0]
            assert f"  {label}" in printed, f"the guide's row {label!r} is not printed:\n{printed}"


def check_run(command: str, printed: str) -> None:
    """The run completed and recorded finite scores, as the guide says."""
    folder = Path(re.search(r"^Run folder: (.+)$", printed, re.M)[1])
    record = json.loads((folder / "results.json").read_text())
    metrics = record["metrics"]
    assert record["status"] == "completed" and math.isfinite(metrics["probe/headline"])
    if "dgp=mobius" in command:
        assert math.isfinite(metrics["probe/r2_affine"]) and math.isfinite(metrics["probe/r2_orthogonal"])
        assert metrics["dgp/shift"] == 0.7  # the DGP's Truth.facts
        assert record["config"]["model"]["in_dim"] == 10 and record["config"]["model"]["out_dim"] == 5  # input_dim, dim
    if "loss=align_uniform" in command:  # the loss's own logs reach the logger
        logged = pd.read_csv(folder / "csv" / "version_0" / "metrics.csv")
        assert {"train/loss/align", "train/loss/uniform"} <= set(logged.columns)
    if "dataset=blobs" in command:
        assert all(math.isfinite(metrics[f"probe/pearson/{f}"]) for f in ("posX", "posY", "scale"))
        assert record["config"]["loss"]["n_classes"] == 8


@pytest.mark.slow  # three extensions through the CLI in a user's folder (half a minute)
def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    """Every file of docs/extending.md in an empty folder, every command run there (training shortened)."""
    project, env = user_folder(tmp_path)
    printed, command, trained = "", "", 0
    for kind, path, body in guide_blocks():
        if kind == "file":
            target = project / path
            assert target.parent.is_dir(), f"{path}: the guide writes it before making its folder"
            target.write_text(body)
        elif kind == "run":
            for line in filter(str.strip, body.splitlines()):
                result = subprocess.run(["bash", "-c", shortened(line)], cwd=project, env=env, capture_output=True,
                                        text=True, timeout=600)
                assert result.returncode == 0, f"{line}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                if "train.py" in line:
                    printed, command = result.stdout, line
                    check_run(command, printed)
                    trained += 1
        else:
            check_output(body, printed)
    assert trained == 3


# The library fixes this guide needed, each at its cause.

def test_a_categorical_factor_is_scored_whatever_its_values_and_a_continuous_one_without_any() -> None:
    """A categorical factor's values may be any numbers (not class indices), and a continuous factor may list
    no values (drawn from a range): both are decoded."""
    from idexp.ground_truth import Factor, ProbeData, ProbeSplit
    from idexp.scorers import FactorScores

    rng = np.random.default_rng(0)
    hue = rng.choice([0.25, 0.5, 0.75], 400)
    position = rng.uniform(-1, 1, 400)
    codes = np.stack([hue, position, rng.standard_normal(400)], 1)
    targets = np.stack([hue, position], 1)
    data = ProbeData(fit=ProbeSplit([], targets[:200], "fit samples"), score=ProbeSplit([], targets[200:], "score samples"),
                     factors=(Factor("hue", "categorical", (0.25, 0.5, 0.75)), Factor("position", "continuous")))
    scores = FactorScores().scores(codes[:200], codes[200:], data)
    assert scores["acc/hue"] > 0.95 and scores["pearson/position"] > 0.95


def test_a_fault_in_a_dgps_code_is_no_configuration_error() -> None:
    """Only a DGP that cannot make a batch from its values is a configuration error; a bug in its code keeps
    its own exception (and so its traceback)."""
    from idexp.config import ConfigError
    from idexp.data import SyntheticDataModule

    class Broken(torch.nn.Module):
        dim = 3

        def sample(self, n, generator):
            return {"x": torch.ones(n, 3) @ torch.ones(4, 3)}

    with pytest.raises(RuntimeError) as error:
        SyntheticDataModule(Broken())
    assert not isinstance(error.value, ConfigError)


def test_the_default_cosine_schedule_spans_an_epoch_bounded_run() -> None:
    """trainer.max_steps=-1 (a run bounded by epochs) makes the default schedule's T_max -1: the run's steps."""
    from functools import partial

    from idexp.module import IdentifiabilityModule

    encoder = torch.nn.Linear(2, 2)
    module = IdentifiabilityModule(encoder, torch.nn.Module(), partial(torch.optim.Adam, lr=1e-3),
                                   partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=-1))
    module._trainer = SimpleNamespace(estimated_stepping_batches=270)
    assert module.configure_optimizers()["lr_scheduler"]["scheduler"].T_max == 270
