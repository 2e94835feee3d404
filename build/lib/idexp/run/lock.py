"""One launch per run folder: a lock file that a live launch refreshes and a dead one leaves takeable.

Two launches into one folder would pair one run's record with another's weights, so the second is refused
at once. A lock must never outlive its launch, though: a killed process cannot remove it, and a SLURM
requeue lands on another node, usually of a shared filesystem. So the holder touches the file every
`HEARTBEAT_S` seconds, and a lock counts as left behind (and is taken over) when its process is gone on
this host, when it belongs to an earlier run of this same SLURM job, or, held from another host, when it
is not touched while this launch watches it for `WATCHED_BEATS` heartbeats. Watching for a change by this
host's own clock needs no agreement between the clocks of the hosts and the file server.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

LOCK_FILE = "run.lock"
HEARTBEAT_S = 5.0
WATCHED_BEATS = 3

_held: dict[Path, _Lock] = {}


class FolderInUse(RuntimeError):
    """Another live launch holds the folder."""


def hold(folder: str | Path, key: str) -> None:
    """Hold `folder` for this process until it exits; raise FolderInUse naming the holder and the fix."""
    folder = Path(folder).resolve()
    if folder in _held:
        return
    path = folder / LOCK_FILE
    for _ in range(3):  # a takeover may race with another launch taking over: look again
        if _create(path):
            _held[folder] = _Lock(path)
            return
        holder = _read(path)
        if not _left_behind(holder, path):
            raise FolderInUse(_in_use_message(folder, key, holder or {}, path))
        _remove_left_behind(path, holder)
    raise FolderInUse(f"{key}={folder} is being taken by several launches at once. Fix: launch one of them only.")


def release(folder: str | Path) -> None:
    lock = _held.pop(Path(folder).resolve(), None)
    if lock is not None:
        lock.release()


def held(folder: str | Path) -> bool:
    return Path(folder).resolve() in _held


def is_launching_rank() -> bool:
    """Whether this process is the one that owns the run folder (not a DDP rank started inside it)."""
    from lightning.pytorch.utilities import rank_zero_only

    return rank_zero_only.rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _identity() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": process_start(os.getpid()),
            "started": datetime.now().isoformat(timespec="seconds"), "slurm_job": _slurm_job(),
            "slurm_restart": os.environ.get("SLURM_RESTART_COUNT"), "command": " ".join(sys.argv)}


def _create(path: Path) -> bool:
    """Write the lock whole, then link it into place: the link fails if a lock is already there (a filesystem
    without hard links: created exclusively, then written)."""
    identity = json.dumps(_identity())
    tmp = path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    tmp.write_text(identity)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return _read(path) == json.loads(identity)  # NFS may answer a retransmitted link that succeeded so
    except OSError:
        try:
            with os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY), "w") as lock:
                lock.write(identity)
            return True
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # gone meanwhile, or not a lock we can read


def _left_behind(holder: dict | None, path: Path) -> bool:
    """Whether the launch that wrote `holder` (None: a lock that cannot be read) is certainly gone."""
    if holder is not None and holder.get("host") == socket.gethostname():
        return process_gone(holder.get("host"), holder.get("pid"), holder.get("process_start"))
    if holder is not None and holder.get("slurm_job") and holder.get("slurm_job") == _slurm_job() \
            and holder.get("slurm_restart") != os.environ.get("SLURM_RESTART_COUNT"):
        return True  # an earlier run of this requeued job
    return not _heartbeat_seen(path)


def _heartbeat_seen(path: Path) -> bool:
    """Whether the lock is touched (or replaced) within WATCHED_BEATS heartbeats, timed by this host's clock."""
    first = _mtime(path)
    deadline = time.monotonic() + WATCHED_BEATS * HEARTBEAT_S
    while time.monotonic() < deadline:
        time.sleep(HEARTBEAT_S / 10)
        if _mtime(path) != first:
            return True
    return False


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _remove_left_behind(path: Path, holder: dict | None) -> None:
    """Move a dead launch's lock aside (only if it is still that lock), so that one new launch can link its own."""
    aside = path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.stale")
    with contextlib.suppress(OSError):
        if _read(path) == holder:
            os.replace(path, aside)
            if _read(aside) != holder:  # another launch took over first: this is its lock, put it back
                with contextlib.suppress(OSError):
                    os.link(aside, path)
            aside.unlink()


def _in_use_message(folder: Path, key: str, holder: dict, path: Path) -> str:
    return (f"{key}={folder} is in use by the launch started {holder.get('started', '?')} on {holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}{', SLURM job ' + holder['slurm_job'] if holder.get('slurm_job') else ''}: "
            f"`{holder.get('command', '?')}`). Fix: wait for it to end, or launch into another folder "
            f"({key}=<new folder>); a launch that died no longer holds it (its lock is taken over by the next launch).")


def process_gone(host: str | None, pid, start: str | None) -> bool:
    """Whether process `pid` of `host`, started at `start` (None or "0": unknown), certainly runs no more:
    only a process of this host can be looked at, and a pid now used by a later process is gone too."""
    if host != socket.gethostname():
        return False
    if not isinstance(pid, int):
        return True
    now = process_start(pid)
    return now is None or (start not in (None, "0") and now != start)


def process_start(pid: int) -> str | None:
    """When `pid` started (Linux clock ticks since boot), so that a reused pid is not taken for the process
    that wrote a lock or a temporary; None if no such process exists, "0" if it exists but /proc cannot say."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):  # no /proc (macOS): whether the pid exists at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "0"


def _slurm_job() -> str | None:
    if array := os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID')}"
    return os.environ.get("SLURM_JOB_ID")


class _Lock:
    """A held lock: touched every HEARTBEAT_S by a daemon thread, removed when released or at exit."""

    def __init__(self, path: Path) -> None:
        self.path, self._stop = path, threading.Event()
        self._thread = threading.Thread(target=self._beat, name="run-folder-heartbeat", daemon=True)
        self._thread.start()
        atexit.register(self.release)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        holder = _read(self.path)
        if holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)
