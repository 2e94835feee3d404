"""Ctrl-C stops training the way SIGTERM does: at the end of a step, with a consistent state.

Lightning turns SIGTERM (a SLURM preemption, `kill`) into a stop at the end of the current training
step, so the checkpoint saved then resumes bit for bit. Ctrl-C would instead raise KeyboardInterrupt
wherever the step happens to be (between the optimizer and the scheduler step, say), and a run
resumed from that state continues from a different point. While training runs, SIGINT is therefore
re-sent as SIGTERM; a second Ctrl-C, or one after training ended (during the probe), interrupts at once.

A step that never ends (a sampler stuck on an extreme value, a probe of millions of images) must not make
the stop wait for ever: a scheduler sends SIGKILL about a minute after SIGTERM. So SIGTERM is answered at
the end of the step only if that comes within `STOP_GRACE_S`; otherwise, and whenever no training step is
running (setting up, probing), the run stops at once, keeping the last saved state.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

STOP_GRACE_S = float(os.environ.get("IDEXP_STOP_GRACE_S", 20))  # below SLURM's KillWait (30 s by default)


class StopRequests:
    """Remembers which signal asked the run to stop, for the record and the message."""

    def __init__(self) -> None:
        self.reason: str | None = None  # "Ctrl-C" once SIGINT arrived; SIGTERM is Lightning's own
        self.mid_step = False           # stopped inside a step: the state in memory is not a step boundary
        self.forced = False             # the grace for the step to end has run out
        self.disarm = lambda: None      # from now on signals are only remembered: the rescue must not be cut


_deferred: list[int] | None = None  # the stop signals that arrived inside `uninterrupted()`


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A stop asked for within the block (a checkpoint being written) takes effect right after it."""
    global _deferred
    if _deferred is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferred = []
    try:
        yield
    finally:
        pending, _deferred = _deferred, None
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


def _defer(signum: int) -> bool:
    if _deferred is None:
        return False
    _deferred.append(signum)
    return True


@contextlib.contextmanager
def ctrl_c_stops_at_step_end(training_done) -> Iterator[StopRequests]:
    """Within the block, the first SIGINT becomes SIGTERM unless `training_done()` already holds."""
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():  # signals are only handled there
        yield requests
        return

    def on_sigint(signum, frame) -> None:
        if _defer(signum):
            return
        if requests.forced or requests.reason == "Ctrl-C" or training_done():
            requests.mid_step = requests.forced or not training_done()
            raise KeyboardInterrupt
        requests.reason = "Ctrl-C"
        log.warning("Ctrl-C: stopping at the end of this step and saving the state (Ctrl-C again to stop at once)")
        signal.raise_signal(signal.SIGTERM)

    def on_sigterm(signum, frame) -> None:
        if _defer(signum):
            return
        requests.reason = requests.reason or "SIGTERM"
        if signal.getsignal(signal.SIGTERM) is on_sigterm or training_done():  # no step end to wait for
            requests.mid_step = True  # nothing to save: no step has run yet, or the last one is saved
            raise KeyboardInterrupt
        if not watchdog.ident:  # Lightning stops at the end of this step; make sure that comes soon
            watchdog.start()

    def force_stop() -> None:
        if not finished.wait(STOP_GRACE_S):
            log.warning("the step did not end within %.0f s of the stop request: stopping inside it", STOP_GRACE_S)
            requests.forced = True
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # a real signal ends a sleep too

    def remember(signum, frame) -> None:
        log.warning("%s while the stopped run saves its state: noted", signal.Signals(signum).name)

    def disarm() -> None:
        finished.set()
        signal.signal(signal.SIGINT, remember)
        signal.signal(signal.SIGTERM, remember)

    finished = threading.Event()
    watchdog = threading.Thread(target=force_stop, name="stop-grace", daemon=True)
    requests.disarm = disarm
    previous = signal.signal(signal.SIGINT, on_sigint), signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield requests
    finally:
        finished.set()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
