"""Ctrl-C stops training the way SIGTERM does: at the end of a step, with a consistent state.

Lightning turns SIGTERM (a SLURM preemption, `kill`) into a stop at the end of the current training
step, so the checkpoint saved then resumes bit for bit. Ctrl-C would instead raise KeyboardInterrupt
wherever the step happens to be (between the optimizer and the scheduler step, say), and a run
resumed from that state continues from a different point. While training runs, SIGINT is therefore
re-sent as SIGTERM; a second Ctrl-C, or one after training ended (during the probe), interrupts at once.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


class StopRequests:
    """Remembers which signal asked the run to stop, for the record and the message."""

    def __init__(self) -> None:
        self.reason: str | None = None  # "Ctrl-C" once SIGINT arrived; SIGTERM is Lightning's own
        self.mid_step = False           # a second Ctrl-C: the state in memory is not a step boundary


@contextlib.contextmanager
def ctrl_c_stops_at_step_end(training_done) -> Iterator[StopRequests]:
    """Within the block, the first SIGINT becomes SIGTERM unless `training_done()` already holds."""
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():  # signals are only handled there
        yield requests
        return

    def on_sigint(signum, frame) -> None:
        if requests.reason == "Ctrl-C" or training_done():
            requests.mid_step = not training_done()
            raise KeyboardInterrupt
        requests.reason = "Ctrl-C"
        log.warning("Ctrl-C: stopping at the end of this step and saving the state (Ctrl-C again to stop at once)")
        signal.raise_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield requests
    finally:
        signal.signal(signal.SIGINT, previous)
