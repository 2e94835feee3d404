"""One launch per run folder, checkpoints that are the newest and whole, stops that come when asked, and a
W&B history that survives relaunches: real subprocesses, real signals, real files."""
from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from idexp.run import lock as run_lock
from idexp.callbacks.last_checkpoint import AtomicCheckpointIO, LastCheckpoint
from idexp.data.factor_images import FactorDataModule
from idexp.run.interrupts import ctrl_c_stops_at_step_end
from idexp.run.record import RunRecord
from tests.conftest import QUICK, ROOT, run_cli, run_cli_in_process
from tests.dislib_files import dsprites_overrides, write_dsprites
from tests.test_faults import scores, start, wait_for
from tests.wandb_offline import run_identity

LONG = ["logger=none", *QUICK, "trainer.max_steps=200000", "callbacks.checkpoint.every_n_train_steps=100000"]


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def running(run_dir: Path) -> bool:
    return (run_dir / "results.json").exists() and record(run_dir)["status"] == "running"


def step_of(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]


def stop(process: subprocess.Popen, how: signal.Signals) -> str:
    process.send_signal(how)
    _, stderr = process.communicate(timeout=120)
    return stderr


# --- one launch per folder -------------------------------------------------------------------------------

def test_a_second_launch_into_a_busy_folder_is_refused_at_once_and_a_killed_one_never_blocks(tmp_path):
    run_dir = tmp_path / "run"
    first = start([*LONG, "seed=0", f"hydra.run.dir={run_dir}"], tmp_path)
    try:
        wait_for(lambda: running(run_dir))
        before = sorted(p.name for p in run_dir.iterdir())
        second = run_cli_in_process([*LONG, "seed=1", f"hydra.run.dir={run_dir}"], tmp_path)  # the holder: a process
        assert second.returncode == 1
        (line,) = second.stderr.strip().splitlines()  # one line: who holds it, since when, the fix
        assert f"hydra.run.dir={run_dir} is in use by the launch started" in line
        assert f"pid {first.pid}" in line and "Fix:" in line and "seed=0" in line
        assert sorted(p.name for p in run_dir.iterdir()) == before
        assert record(run_dir)["config"]["seed"] == 0
    finally:
        first.kill()
        first.communicate(timeout=60)
    assert (run_dir / run_lock.LOCK_FILE).exists()  # SIGKILL leaves the lock behind ...
    again = run_cli_in_process([*LONG, "seed=1", f"hydra.run.dir={run_dir}"], tmp_path)
    assert "in use" not in again.stderr and "already holds a run of another configuration" in again.stderr  # ... unheeded


@pytest.mark.slow  # the default tier refuses a second launch into a busy run folder (the same lock)
def test_a_sweep_folder_holds_one_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    first = start(["-m", *LONG, "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    try:
        wait_for(lambda: running(sweep / "0"))
        second = run_cli(["-m", *LONG, "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path)
        assert second.returncode == 1 and f"hydra.sweep.dir={sweep} is in use" in second.stderr, second.stderr
    finally:
        first.kill()
        first.communicate(timeout=60)


def write_lock(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / run_lock.LOCK_FILE
    path.write_text(json.dumps({**run_lock._identity(), **changes}))
    return path


def test_a_lock_is_taken_over_exactly_when_its_launch_is_gone(tmp_path, monkeypatch):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:  # a live process of this host holds it
        write_lock(tmp_path / "live", pid=sleeper.pid, process_start=run_lock.process_start(sleeper.pid))
        with pytest.raises(run_lock.FolderInUse, match=f"pid {sleeper.pid}"):
            run_lock.hold(tmp_path / "live", "hydra.run.dir")
    finally:
        sleeper.kill()
        sleeper.wait()
    # that process has died (and its pid may be reused): taken over
    run_lock.hold(tmp_path / "live", "hydra.run.dir")
    assert run_lock.held(tmp_path / "live")
    run_lock.release(tmp_path / "live")
    assert not (tmp_path / "live" / run_lock.LOCK_FILE).exists()

    monkeypatch.setattr(run_lock, "HEARTBEAT_S", 0.2)
    elsewhere = write_lock(tmp_path / "node", host="another-node", pid=1)  # alive on another node: it beats
    beating = threading.Event()
    beater = threading.Thread(target=lambda: [os.utime(elsewhere) for _ in iter(lambda: beating.wait(0.1), True)])
    beater.start()
    try:
        with pytest.raises(run_lock.FolderInUse, match="on another-node"):
            run_lock.hold(tmp_path / "node", "hydra.run.dir")
    finally:
        beating.set()
        beater.join()
    future = time.time() + 3600  # and whatever its clock said: no beat while watched means gone
    os.utime(elsewhere, (future, future))
    run_lock.hold(tmp_path / "node", "hydra.run.dir")
    run_lock.release(tmp_path / "node")

    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # requeued: the lock of run 0 of this job is its own past
    write_lock(tmp_path / "requeued", host="another-node", pid=1, slurm_job="4242", slurm_restart="0")
    run_lock.hold(tmp_path / "requeued", "hydra.run.dir")
    run_lock.release(tmp_path / "requeued")


def test_an_empty_run_folder_is_refused(tmp_path):
    result = run_cli_in_process(["logger=none", *QUICK, "hydra.run.dir="], tmp_path)
    assert result.returncode == 1 and "hydra.run.dir='' would write the run into the current folder" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- checkpoints ------------------------------------------------------------------------------------------

UNSAVED = ["logger=none", *QUICK, "trainer.max_steps=4000", "callbacks.checkpoint.every_n_train_steps=100000"]


def stopped_before_its_first_save(run_dir: Path, cwd: Path) -> None:
    """An UNSAVED run sent SIGTERM a second into training: its only state is the one saved on the way out."""
    process = start([*UNSAVED, f"hydra.run.dir={run_dir}"], cwd)
    wait_for(lambda: running(run_dir))
    time.sleep(1)
    assert "Traceback" not in stop(process, signal.SIGTERM)
    assert record(run_dir)["status"] == "interrupted", "the run ended before the signal"

@pytest.mark.slow  # the relaunch trains 4000 steps; the default tier resumes an unfinished run in test_resume.py
def test_a_relaunch_resumes_from_the_newest_state_under_one_name(tmp_path):
    """SIGTERM before the first cadence checkpoint, relaunch, finish: one last.ckpt, always the newest."""
    args, run_dir = UNSAVED, tmp_path / "run"
    stopped_before_its_first_save(run_dir, tmp_path)
    stopped_at = step_of(run_dir / "checkpoints" / "last.ckpt")
    assert 0 < stopped_at < 4000
    relaunched = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in (run_dir / "train.log").read_text()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]
    assert step_of(run_dir / "checkpoints" / "last.ckpt") == 4000


@pytest.mark.slow  # as above: a 4000-step relaunch
def test_an_unreadable_state_is_named_and_the_newest_readable_one_resumes(tmp_path):
    args, run_dir = UNSAVED, tmp_path / "run"
    stopped_before_its_first_save(run_dir, tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    older = last.with_name("last-v1.ckpt")  # as an earlier version of idexp named a second state
    shutil.copy(last, older)
    os.utime(older, (time.time() - 60, time.time() - 60))
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a save cut short by a full disk

    older.rename(tmp_path / "aside.ckpt")  # first with nothing else to fall back on
    refused = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"Cannot resume (see {run_dir / 'results.json'}): the saved training state {last}" in refused.stderr
    assert f"Fix: `mv {last} {last}.unreadable`" in refused.stderr
    assert record(run_dir)["status"] == "failed"

    (tmp_path / "aside.ckpt").rename(older)
    resumed = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = (run_dir / "train.log").read_text()
    assert f"skipping the unreadable checkpoint {last}" in log and f"resuming from {older}" in log
    assert step_of(last) == 4000


class _FailsHalfway:
    def __reduce__(self):
        raise OSError("No space left on device")


def test_a_save_cut_short_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "global_step": 1}, path)
    before = path.read_bytes()
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "global_step": 2, "x": _FailsHalfway()}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_an_unrecorded_error_is_recorded_and_a_record_that_cannot_be_written_never_hides_it(tmp_path):
    """Leaving a run's record with an error that no step recorded marks it failed (Ctrl-C: interrupted); when the
    record itself cannot be written, the error that ended the run is the one raised, not the write's."""
    with pytest.raises(ValueError, match="after the probe"):
        with RunRecord(tmp_path, config={}) as record:
            raise ValueError("after the probe")
    assert json.loads(record.path.read_text())["error"] == "ValueError: after the probe"
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    with pytest.raises(KeyboardInterrupt), RunRecord(stopped, config={}):
        raise KeyboardInterrupt
    assert json.loads((stopped / "results.json").read_text())["error"] == "Ctrl-C"

    gone = tmp_path / "gone"
    gone.mkdir()
    with pytest.raises(ValueError, match="the real cause"):
        with RunRecord(gone, config={}) as record:
            shutil.rmtree(gone)  # every write from here on fails
            with pytest.raises(FileNotFoundError):
                record.complete({"probe/r2_affine": 1.0})
            raise ValueError("the real cause")
    assert record.status == "running"  # the "completed" that was never written is not believed


def test_a_stop_asked_for_during_a_save_comes_right_after_it(tmp_path):
    """SIGTERM while the last step's state is written (training done: the stop is immediate) cuts no save."""
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"

    class SignalsMidSave:
        def __reduce__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            return (int, (7,))

    with ctrl_c_stops_at_step_end(training_done=lambda: True):
        with pytest.raises(KeyboardInterrupt):
            io.save_checkpoint({"state_dict": {}, "global_step": 40, "x": SignalsMidSave()}, path)
    assert torch.load(path, weights_only=False)["global_step"] == 40  # the save ended, then the stop came


IMAGE_RUN = ["logger=none", "trainer=cpu", "trainer.max_epochs=4", "dataset.batch_size=16", "dataset.loader.num_workers=0",
             "model=mlp_dislib", "model.hidden=[64,64]", "model.out_dim=32", "callbacks.early_stop=null"]


@pytest.mark.slow  # three image runs; the default tier resumes mid-epoch in-process (the next test)
def test_an_image_run_killed_after_an_epoch_resumes_there_and_scores_as_if_never_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    sizes = (1, 3, 2, 6, 8, 8)
    data = dsprites_overrides(write_dsprites(tmp_path / "dsprites.npz", sizes=sizes), sizes=sizes)
    reference = run_cli([*data, *IMAGE_RUN, f"hydra.run.dir={tmp_path / 'reference'}"], tmp_path)
    assert reference.returncode == 0, reference.stderr[-2000:]

    run_dir = tmp_path / "killed"
    process = start([*data, *IMAGE_RUN, f"hydra.run.dir={run_dir}"], tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    wait_for(lambda: last.exists(), every=0.005)  # the end of epoch 0, no cadence step reached yet
    process.kill()
    process.communicate(timeout=60)
    killed_at = torch.load(last, weights_only=False)
    assert killed_at["epoch"] < 3, "the run ended before the kill"
    relaunched = run_cli([*data, *IMAGE_RUN, f"hydra.run.dir={run_dir}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert scores(run_dir) == scores(tmp_path / "reference")


class _Batches(L.LightningModule):
    """Records the labels of every training batch it sees."""

    def __init__(self, seen: list):
        super().__init__()
        self.weight, self.seen = torch.nn.Parameter(torch.zeros(1)), seen

    def training_step(self, batch, index):
        self.seen.append(batch["label"].tolist())
        return (self.weight * batch["x"].float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_an_epoch_resumed_midway_trains_its_remaining_batches_exactly(tmp_path, monkeypatch):
    """A save inside an epoch (the minutes cadence of long epochs) resumes with that epoch's next batch, and
    one at an epoch's end with the next epoch's own order."""
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    path = write_dsprites(tmp_path / "dsprites.npz", sizes=(1, 3, 2, 2, 8, 8))
    factors = {"color": 1, "shape": 3, "scale": 2, "orientation": 2, "posX": 8, "posY": 8}

    def fit(resume: Path | None = None, save_at: int = 10 ** 6) -> list:
        seen = []
        data = FactorDataModule("dsprites", factors, "posX", 8, [1, 64, 64], 4096, path=str(path), batch_size=16,
                                loader={"num_workers": 1})  # a worker draws batches before Lightning sets the epoch
        trainer = L.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, callbacks=[LastCheckpoint(str(tmp_path / "ckpt"), save_at),
                                                            _KeepState(tmp_path / "ckpt", save_at)])
        trainer.fit(_Batches(seen), datamodule=data, ckpt_path=resume)
        return seen

    whole = fit()
    steps_per_epoch = len(whole) // 2
    for stopped_at in (steps_per_epoch + 3, steps_per_epoch):  # 3 batches into epoch 1; the end of epoch 0
        fit(save_at=stopped_at)
        rest = fit(tmp_path / "ckpt" / "kept.ckpt")
        assert whole[:stopped_at] + rest == whole


class _KeepState(L.Callback):
    """Copies `last.ckpt` as it was after step `step` (as a run killed right after that save would leave it)."""

    def __init__(self, folder: Path, step: int):
        self.folder, self.step = folder, step

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            shutil.copy(self.folder / "last.ckpt", self.folder / "kept.ckpt")


def test_a_killed_render_leaves_no_temporary_behind(tmp_path):
    from idexp.data.cache import HOST
    from idexp.data.render_dsprites import render_dsprites

    gone = subprocess.Popen(["true"])
    gone.wait()
    out = tmp_path / "dsprites.npz"
    dead = out.with_name(f"{out.name}.{HOST}.{gone.pid}.1.tmp")  # a render killed while writing
    dead.write_bytes(b"\0" * 4096)
    render_dsprites(out, grid={"shape": [0], "scale": [0], "orientation": [0], "posX": [0, 1], "posY": [0]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dsprites.npz"]


# --- stops ------------------------------------------------------------------------------------------------

HANGING_LOSS = '''
import time
from idexp.losses.infonce import InfoNCE


class HangingInfoNCE(InfoNCE):
    """A step that never ends once training is under way (as a sampler stuck on an extreme value would)."""

    def forward(self, encoder, batch):
        self.calls = getattr(self, "calls", 0) + 1
        while self.calls > 20:
            time.sleep(0.05)
        return super().forward(encoder, batch)
'''


def test_sigterm_is_answered_within_the_grace_even_inside_a_step_that_never_ends(tmp_path):
    (tmp_path / "hanging.py").write_text(HANGING_LOSS)
    run_dir = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(tmp_path), "IDEXP_STOP_GRACE_S": "3"}
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *LONG, "loss._target_=hanging.HangingInfoNCE",
                                "callbacks.checkpoint.every_n_train_steps=10", f"hydra.run.dir={run_dir}"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").exists())
    time.sleep(1)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - asked < 30, "the stop waited for a step that never ends"
    assert process.returncode != 0 and "Traceback" not in stderr and "Interrupted: SIGTERM" in stderr
    assert record(run_dir)["status"] == "interrupted"
    assert step_of(run_dir / "checkpoints" / "last.ckpt") == 20  # the last state saved at a step boundary


# --- values -----------------------------------------------------------------------------------------------

def test_a_length_fix_fits_the_run(tmp_path):
    data = dsprites_overrides(write_dsprites(tmp_path / "dsprites.npz"))
    result = run_cli_in_process([*data, "trainer.max_epochs=0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1 and "trainer.max_epochs=0 must be a positive number" in result.stderr
    assert "trainer.max_epochs=10" in result.stderr and "max_steps=3000" not in result.stderr
    assert not (tmp_path / "run").exists()


# --- W&B --------------------------------------------------------------------------------------------------

@pytest.mark.slow  # a 3000-step relaunch with W&B; the default tier writes an offline W&B run in test_train.py
def test_a_relaunched_run_continues_its_wandb_run(tmp_path):
    args = ["logger=wandb", *QUICK, "trainer.max_steps=3000", "trainer.log_every_n_steps=500",
            "callbacks.checkpoint.every_n_train_steps=100000"]
    run_dir = tmp_path / "run"
    process = start([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for(lambda: running(run_dir) and "wandb_run_id" in record(run_dir))
    time.sleep(1)
    stop(process, signal.SIGTERM)
    run_id = record(run_dir)["wandb_run_id"]
    relaunched = run_cli([*args, f"hydra.run.dir={run_dir}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    assert record(run_dir)["wandb_run_id"] == run_id
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(path.name.endswith(run_id) for path in runs)
    assert run_identity(runs[0], finished=False) == run_identity(runs[1])  # the same group and name again
    assert f"wandb sync {run_dir.resolve()}/wandb/offline-run-*" in relaunched.stdout


@pytest.mark.slow  # a process under a terminal that imports W&B; the default tier writes offline W&B runs
def test_wandb_online_without_a_key_fails_at_once_under_a_terminal(tmp_path):
    """A cluster job has no one to answer a login prompt: no key means a clear failure, not a wait."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WANDB")}
    env["HOME"] = str(tmp_path)  # no ~/.netrc, no saved key
    terminal, side = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "logger.wandb.mode=online", *QUICK,
                                f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=env,
                               stdin=side, stdout=side, stderr=side)
    os.close(side)
    output = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 1 and time.monotonic() - started < 60
    assert "Logger start failed" in text and "W&B could not start" in text and "wandb login" in text, text[-2000:]
