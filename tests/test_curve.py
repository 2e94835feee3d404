"""Scores against training samples: weight snapshots during training (`callbacks.snapshots`), each probed by
`python -m idexp.report.curve`, the curve's table and figure."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch

from idexp.callbacks.snapshots import snapshot_samples
from idexp.report.curve import main as curve
from idexp.run.record import read_results
from idexp.train import train
from tests.conftest import QUICK, compose_config, copy_run

BATCH = 64  # QUICK's batch
SNAPSHOTS = ["logger=none", "scheduler=null", "callbacks.checkpoint.every_n_train_steps=10",
             "+callbacks.snapshots._target_=idexp.callbacks.Snapshots",
             "+callbacks.snapshots.dirpath=${paths.output_dir}/checkpoints/snapshots",
             f"+callbacks.snapshots.at_samples=[{BATCH},{5 * BATCH + 1},{30 * BATCH}]"]


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory):
    """A 20-step run with snapshots, trained once: tests that write into a run work on a copy."""
    folder = tmp_path_factory.mktemp("snapshot_run")
    train(compose_config([*QUICK, *SNAPSHOTS, "trainer.max_steps=20"], folder))
    return folder


def saved(run_dir) -> list[int]:
    return [snapshot_samples(path) for path in sorted((run_dir / "checkpoints" / "snapshots").glob("*.ckpt"))]


def test_snapshots_are_saved_at_the_first_step_past_each_count_and_at_the_end(snapshot_run):
    tmp_path = snapshot_run
    # 64 after step 1; 321 is first passed at step 6 (384 samples); 1920 lies beyond the 20 steps: the end instead
    assert saved(tmp_path) == [BATCH, 6 * BATCH, 20 * BATCH]
    snapshot = torch.load(tmp_path / "checkpoints" / "snapshots" / "samples_00000000384.ckpt", weights_only=False)
    assert snapshot["global_step"] == 6 and "optimizer_states" not in snapshot
    assert set(snapshot["state_dict"]) == set(torch.load(tmp_path / "checkpoints" / "last.ckpt",
                                                         weights_only=False)["state_dict"])


def test_a_resumed_run_goes_on_counting_samples(tmp_path, snapshot_run):
    """A run stopped at step 20 of 40 resumes its count from 1280 samples: its next snapshot is at 1920, not 640."""
    train(compose_config([*QUICK, *SNAPSHOTS, "trainer.max_steps=40"], tmp_path))
    shutil.rmtree(tmp_path / "checkpoints")  # its state at step 20 is the 20-step run's (a constant rate)
    shutil.copytree(snapshot_run / "checkpoints", tmp_path / "checkpoints")
    (tmp_path / "results.json").write_text(json.dumps({**read_results(tmp_path), "status": "interrupted"}))
    train(compose_config([*QUICK, *SNAPSHOTS, "trainer.max_steps=40"], tmp_path))
    assert saved(tmp_path) == [BATCH, 6 * BATCH, 20 * BATCH, 30 * BATCH, 40 * BATCH]


def test_the_curve_probes_each_snapshot_once_and_its_last_point_is_the_runs_own_probe(tmp_path, snapshot_run):
    tmp_path = copy_run(snapshot_run, tmp_path / "run")
    assert curve([str(tmp_path)]) == 0
    rows = (tmp_path / "curve" / "curve.csv").read_text().splitlines()
    assert rows[0] == "samples,headline" and [int(row.split(",")[0]) for row in rows[1:]] == saved(tmp_path)
    # a DGP run's own probe scores its last weights: the curve's last point probes the same weights, same samples
    last = float(rows[-1].split(",")[1])
    assert last == pytest.approx(read_results(tmp_path)["metrics"]["probe/headline"], abs=1e-6)
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 10_000
    probed = tmp_path / "curve" / "samples_00000000064" / "results.json"
    before = probed.stat().st_mtime_ns
    assert curve([str(tmp_path)]) == 0 and probed.stat().st_mtime_ns == before  # not probed twice


def test_a_run_without_snapshots_is_named_with_the_fix(tmp_path, quick_run, capsys):
    assert curve([str(quick_run[0])]) == 2
    error = capsys.readouterr().err
    assert "holds no snapshot" in error and "experiment=ce_table4_curve" in error
    assert curve([str(tmp_path / "missing")]) == 2 and "results.json is missing" in capsys.readouterr().err
    running = copy_run(quick_run[0], tmp_path / "running")
    record = read_results(running)
    (running / "results.json").write_text(json.dumps({**record, "status": "running"}))
    assert curve([str(running)]) == 2 and "is running, not completed. Fix: let it finish" in capsys.readouterr().err


@pytest.mark.slow  # a ResNet18 run and four probes on a tiny dSprites file
def test_the_table4_curve_preset_draws_each_factor_beside_the_papers_value(tmp_path, monkeypatch, capsys):
    from tests.conftest import run_cli_in_process
    from tests.dislib_files import dsprites_overrides, write_dsprites

    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    preset = compose_config(["experiment=ce_table4_curve", "logger=none"], tmp_path / "p")
    assert (preset.dataset.subset, preset.trainer.max_epochs, preset.trainer.precision) == (0.4, 1, "bf16-mixed")
    assert preset.model.architecture == "resnet18" and preset.probe.disentanglement is None
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process(["experiment=ce_table4_curve", *dsprites_overrides(path)[1:], "dataset.subset=1.0",
                                 "logger=csv", "trainer=cpu", "trainer.precision=32-true", "dataset.batch_size=32",
                                 "dataset.loader.num_workers=0", "callbacks.snapshots.at_samples=[32,256]",
                                 f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert curve([str(tmp_path / "run")]) == 0
    table = (tmp_path / "run" / "curve" / "curve.md").read_text()
    assert "| samples | posX | posY | scale | shape |" in table  # the tiny file's 2 orientations are one angle
    assert "| paper | 0.99 | 0.99 | 0.92 | 1.00 |" in table  # CE Table 4's f_CNN on dSprites
    assert "| x (raw pixels) |" in table
    # one epoch: the best validation checkpoint, which the run's own probe scored, is the last snapshot's weights
    last = pd.read_csv(tmp_path / "run" / "curve" / "curve.csv").iloc[-1]
    own = read_results(tmp_path / "run")["metrics"]
    assert [last[factor] for factor in ("posX", "scale")] == pytest.approx(
        [own["probe/pearson/posX"], own["probe/pearson/scale"]], abs=1e-5)
