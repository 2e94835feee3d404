"""`python -m idexp.rescore RUN_DIR`: a finished run re-scored from its checkpoint, without training."""
from __future__ import annotations

import json

from idexp.rescore import main as rescore
from idexp.run.record import read_results
from idexp.train import train
from tests.conftest import QUICK, compose_config, copy_run


def without_time(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "probe/seconds"}


def test_rescoring_a_run_reproduces_its_scores_and_leaves_the_run_as_is(tmp_path, capsys):
    train(compose_config(["logger=csv", "loss=ce", "dgp=clusters", *QUICK], tmp_path))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert rescore([str(tmp_path)]) == 0
    rescored = json.loads((tmp_path / "rescore" / "results.json").read_text())
    assert without_time(rescored["metrics"]) == without_time(read_results(tmp_path)["metrics"])
    assert "probe/head_r2_affine" in rescored["metrics"]  # the head came back from the checkpoint too
    assert (tmp_path / "rescore" / "probe.png").exists() and "R² affine" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in before} == before


def test_rescoring_with_other_probe_settings_through_the_cli(tmp_path, quick_run, capsys):
    copy_run(quick_run[0], tmp_path / "run")  # a completed ["logger=none", *QUICK] run
    # `python -m idexp.rescore RUN --probe-fit 768 --out AGAIN`, in-process (test_imagenet.py starts it as a process)
    assert rescore([str(tmp_path / "run"), "--probe-fit", "768", "--out", str(tmp_path / "again")]) == 0
    assert "Identifiability probe on 1024 fresh samples (fitted on 768" in capsys.readouterr().out
    assert json.loads((tmp_path / "again" / "results.json").read_text())["probe"]["probe_fit"] == 768


def test_rescoring_a_folder_without_a_run_or_checkpoint_says_what_is_missing(tmp_path, capsys, quick_run):
    assert rescore([str(tmp_path)]) == 2
    assert "results.json is missing" in capsys.readouterr().err
    run = copy_run(quick_run[0], tmp_path / "run")  # a completed ["logger=none", *QUICK] run
    (run / "checkpoints" / "last.ckpt").unlink()
    assert rescore([str(run)]) == 2
    assert "last.ckpt does not exist" in capsys.readouterr().err


def test_a_rescore_inside_a_run_folder_is_not_a_second_run_in_the_table(tmp_path, quick_run):
    from idexp.report.collect import collect_runs

    copy_run(quick_run[0], tmp_path / "run")  # a completed ["logger=none", *QUICK] run
    assert rescore([str(tmp_path / "run")]) == 0
    runs = collect_runs([tmp_path])
    assert len(runs.completed) == 1 and not runs.unfinished
