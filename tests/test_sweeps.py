"""Real multiruns through Hydra's joblib and submitit launchers, then the table builder on their folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from idexp.report.__main__ import main as report
from idexp.train import build, train
from tests.conftest import QUICK, ROOT, compose_config, copy_run, run_cli, run_cli_in_process

TINY = ["logger=none", *QUICK, "trainer.max_steps=20", "callbacks.checkpoint.every_n_train_steps=10"]


def results(sweep_dir) -> dict:
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.rglob("results.json")}


# Both launchers start a process per job: in the slow tier (the default tier's sweeps use Hydra's basic launcher)
@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_2x2_sweep_runs_every_job_and_the_table_averages_them(tmp_path, launcher, capsys):
    sweep = tmp_path / "sweep"
    result = run_cli(["-m", f"launcher={launcher}", *TINY, "seed=0,1", "dgp.dim=3,4", f"hydra.sweep.dir={sweep}"],
                     tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = results(sweep)
    assert len(runs) == 4 and all(r["status"] == "completed" for r in runs.values())
    for run_dir in {p.parent for p in sweep.rglob("results.json")}:
        assert (run_dir / ".hydra" / "config.yaml").exists()

    assert report([str(sweep), "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "table.csv").read_text().splitlines()
    assert table[0].startswith("dgp.dim,seeds,")
    assert [row.split(",")[:2] for row in table[1:]] == [["3", "2"], ["4", "2"]]
    for dim, row in zip((3, 4), table[1:]):
        r2 = [r["metrics"]["probe/r2_affine"] for r in runs.values() if r["config"]["dgp"]["dim"] == dim]
        assert row.split(",")[2].startswith(f"{100 * sum(r2) / 2:.1f}±")
    assert (tmp_path / "report" / "table.tex").exists() and (tmp_path / "report" / "ablation_dgp.dim.png").exists()
    capsys.readouterr()


@pytest.fixture(scope="module")
def two_seed_sweep(tmp_path_factory):
    """The sweep `-m TINY seed=0,1`, run once (Hydra's basic launcher runs its jobs inside the launch, so here
    in-process); each test relaunches into a copy of its folder."""
    cwd = tmp_path_factory.mktemp("two_seed_sweep")
    result = run_cli_in_process(["-m", *TINY, "seed=0,1", f"hydra.sweep.dir={cwd / 'sweep'}"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "sweep"


def test_relaunching_a_sweep_skips_its_completed_runs(tmp_path, two_seed_sweep):
    copy_run(two_seed_sweep, tmp_path / "sweep")
    args = ["-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    first = {name: r["wall_time_s"] for name, r in results(tmp_path / "sweep").items()}
    again = run_cli_in_process(args, tmp_path)
    assert again.returncode == 0 and again.stderr.count("already holds a completed run") + again.stdout.count(
        "already holds a completed run") == 2
    assert {name: r["wall_time_s"] for name, r in results(tmp_path / "sweep").items()} == first


def test_a_sweep_restored_from_its_committed_records_runs_only_the_rest(tmp_path, two_seed_sweep, monkeypatch, capsys):
    """runs.jsonl outlives the sweep folder: restored into an empty folder, its runs are skipped by the same sweep
    re-launched there (with one more seed, which alone runs), and restoring again overwrites nothing."""
    from idexp.report.restore import main as restore

    sweep = copy_run(two_seed_sweep, tmp_path / "logs" / "sweep")
    monkeypatch.chdir(tmp_path)  # as committed: paths under the working folder are written relative
    assert report([str(sweep), "--out", "report"]) == 0
    assert str(tmp_path) not in (tmp_path / "report" / "runs.jsonl").read_text()
    first = {name: r["wall_time_s"] for name, r in results(sweep).items()}
    assert restore(["report/runs.jsonl", "logs/again"]) == 0
    assert "2 runs restored into logs/again" in capsys.readouterr().out
    again = run_cli_in_process(["-m", *TINY, "seed=0,1,2", "hydra.sweep.dir=logs/again"], tmp_path)
    output = again.stdout + again.stderr
    assert again.returncode == 0 and output.count("already holds a completed run") == 2, output[-3000:]
    rerun = results(tmp_path / "logs" / "again")
    assert {name: rerun[name]["wall_time_s"] for name in first} == first and rerun["2"]["status"] == "completed"
    assert restore(["report/runs.jsonl", "logs/again"]) == 0
    assert "0 runs restored into logs/again; 2 folders already held a run" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text(json.dumps({"folder": "../elsewhere", "status": "completed"}) + "\n")
    assert restore(["bad.jsonl", "logs/again"]) == 2
    assert "folder '../elsewhere' is not a folder inside the sweep" in capsys.readouterr().err


def test_relaunching_with_other_overrides_leaves_the_old_runs_untouched(tmp_path, two_seed_sweep):
    """Job numbers are positions in the sweep: seed=1,0 puts seed 1 in the folder of seed 0's run."""
    sweep = copy_run(two_seed_sweep, tmp_path / "sweep")  # the sweep -m TINY seed=0,1
    first = results(sweep)
    swapped = run_cli_in_process(["-m", *TINY, "seed=1,0", f"hydra.sweep.dir={sweep}"], tmp_path)
    output = swapped.stdout + swapped.stderr
    assert swapped.returncode != 0  # both jobs were tried, and the sweep says it did not run them
    for job, (old, new) in {"0": (0, 1), "1": (1, 0)}.items():
        message = output.split(f"{sweep / job} already holds a run of another configuration (")[1].split(")")[0]
        assert f"dgp.seed: {old} -> {new}" in message and f"; seed: {old} -> {new}" in message
    assert "Fix: re-launch with the same overrides" in output
    assert results(sweep) == first
    for job, record in first.items():  # the folders still describe their own runs
        assert (sweep / job / ".hydra" / "overrides.yaml").read_text().count(f"seed={record['config']['seed']}") == 1
        assert "dgp" in (sweep / job / ".hydra" / "config.yaml").read_text()


def test_a_job_that_fails_after_its_probe_is_recorded_failed_and_a_relaunch_completes_it(tmp_path, monkeypatch):
    """A fault after the probe (injected into the W&B summary step, the first one after it) ends the sweep's job:
    its record says failed with the cause and train.log holds the traceback (Hydra raises a job's error only at the
    sweep's end, and the record used to stay "running"); the same launch, fault gone, completes it from its state."""
    import idexp.train

    def broken(loggers, metrics):
        raise RuntimeError("the summary step broke")

    args = ["-m", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    monkeypatch.setattr(idexp.train, "summarise_headline", broken)
    failed = run_cli_in_process(args, tmp_path)
    assert failed.returncode != 0 and "the summary step broke" in failed.stderr
    runs = results(tmp_path / "sweep")
    assert list(runs) == ["0"] and runs["0"]["status"] == "failed"
    assert runs["0"]["error"] == "RuntimeError: the summary step broke"
    assert "Traceback" in (tmp_path / "sweep" / "0" / "train.log").read_text()

    monkeypatch.undo()
    relaunched = run_cli_in_process(args, tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-3000:]
    record = results(tmp_path / "sweep")["0"]
    assert record["status"] == "completed" and record["metrics"]
    assert "resuming from" in (tmp_path / "sweep" / "0" / "train.log").read_text()  # not trained again


def test_the_table_builder_lists_unfinished_runs_and_explains_an_empty_folder(tmp_path, capsys):
    assert report([str(tmp_path)]) == 1
    assert "no completed run" in capsys.readouterr().err
    assert report([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "results.json").write_text(json.dumps({"status": "failed", "error": "NaN at step 7", "metrics": {}}))
    assert report([str(tmp_path)]) == 1
    assert "not averaged (failed)" in capsys.readouterr().err


IMAGE_EXPERIMENTS = ("ce_table4", "ce_table4_curve", "imagenetx", "ima_vae_dsprites")  # on image datasets:
# tests/test_dislib.py, tests/test_curve.py, tests/test_imagenet.py, tests/test_ima.py
CONSTANT_AT_QUICK = ("ima_vae",)  # quick scale is the official recipe (a constant Adam rate), shortened
SYNTHETIC_EXPERIMENTS = sorted(p.stem for p in (ROOT / "idexp" / "conf" / "experiment").glob("*.yaml")
                               if p.stem not in IMAGE_EXPERIMENTS)


@pytest.mark.parametrize("experiment", SYNTHETIC_EXPERIMENTS)
@pytest.mark.parametrize("scale", ["quick", "paper"])
def test_every_experiment_composes_at_both_scales_and_runs_a_few_steps(tmp_path, experiment, scale):
    cfg = compose_config([f"experiment={experiment}", f"scale={scale}", "logger=none"], tmp_path)
    assert cfg.table and cfg.trainer.max_steps >= 1000
    if scale == "quick":
        metrics = train(compose_config([f"experiment={experiment}", "logger=none", *QUICK, "trainer.max_steps=5"], tmp_path))
        assert "probe/r2_affine" in metrics


@pytest.mark.parametrize("experiment", SYNTHETIC_EXPERIMENTS)
def test_paper_scale_keeps_the_official_constant_rate_and_quick_scale_decays_it(tmp_path, experiment):
    quick = compose_config([f"experiment={experiment}", "logger=none"], tmp_path)
    paper = compose_config([f"experiment={experiment}", "scale=paper", "logger=none"], tmp_path)
    if experiment in CONSTANT_AT_QUICK:
        assert quick.scheduler is None and quick.trainer.max_steps < paper.trainer.max_steps
    else:
        assert quick.scheduler.T_max == quick.trainer.max_steps and "CosineAnnealingLR" in quick.scheduler._target_
    assert paper.scheduler is None  # the CE, AnInfoNCE and cl-ica code: Adam at a constant rate (Λ's too)
    trainer, module, _, _ = build(paper)
    module.trainer = trainer
    assert not isinstance(module.configure_optimizers(), dict)  # an optimizer alone: no scheduler steps it


@pytest.mark.slow  # the default tier runs every experiment in-process above, and real sweeps
def test_a_multirun_over_every_experiment_runs_them_all(tmp_path):
    """`experiment=glob(...)` from the command line, as a user sweeps every (synthetic) preset."""
    experiments = SYNTHETIC_EXPERIMENTS
    sweep = tmp_path / "sweep"
    result = run_cli(["-m", f"experiment=glob(*,exclude=[{','.join(IMAGE_EXPERIMENTS)}])", "logger=none", *QUICK, "trainer.max_steps=3",
                      f"hydra.sweep.dir={sweep}"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = results(sweep)
    assert sorted(r["config"]["table"] for r in runs.values()) == experiments
    assert all(r["status"] == "completed" and "probe/r2_affine" in r["metrics"] for r in runs.values())


@pytest.mark.slow  # a documented script (bash, a sweep, the report); the default tier runs sweeps and the report
def test_the_fig4_script_sweeps_its_grid_and_writes_the_figure_with_the_claims(tmp_path):
    """The documented App. D script, on a 2 × 1 grid of a few steps, writing its report away from docs/results:
    settings as arguments (BETAS=1,2) or from the environment (REPORT), everything else passed to Hydra."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHON": sys.executable, "REPORT": str(tmp_path / "report")}
    result = subprocess.run(["bash", "scripts/reproduce_ce_fig4.sh", "SEEDS=0", "BETAS=1,2", "ALPHAS=1", "ROWS=grid",
                             f"OUT={tmp_path / 'sweep'}", "logger=none", *QUICK, "trainer.max_steps=3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = results(tmp_path / "sweep")
    assert sorted(r["config"]["dgp"]["conditional"]["beta"] for r in runs.values()) == [1.0, 2.0]
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| dgp.conditional.beta | seeds | R² z̃→z | R² w_i→v_c | mean ‖f(x)‖ |" in table
    assert "## The paper's claims, tested" in table and "the representation norm grows as β → 1" in table
    assert (tmp_path / "report" / "fig4.png").exists()


@pytest.mark.parametrize("script", sorted(path.name for path in (ROOT / "scripts").glob("reproduce_*.sh")))
def test_every_reproduce_script_refuses_a_setting_it_does_not_read(script, tmp_path):
    """One convention: upper-case SETTING=value arguments are the script's, checked before any run starts."""
    result = subprocess.run(["bash", f"scripts/{script}", "SEEDZ=0,1", "DATA=/nowhere"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHON": "false"})  # no Python may start
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"SEEDZ=0,1 is not a setting of {script}. Fix: one of SEEDS OUT REPORT" in result.stderr
