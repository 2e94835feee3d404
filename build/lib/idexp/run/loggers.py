"""Starting the loggers: a logger that cannot start (no network, a wrong key) fails the run at once,
with a message that says how to run without it, instead of a traceback or a wait with no end."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator


class LoggerStartError(RuntimeError):
    """A logger could not start; the run is recorded as failed before any training."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError if the block runs longer than `seconds` (main thread only, elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def no_terminal_input() -> Iterator[None]:
    """Within the block, standard input is no terminal: a logger that would ask for a key (W&B online without
    one) fails at once instead of waiting at a prompt."""
    stdin = sys.stdin
    with open(os.devnull) as nothing:
        sys.stdin = nothing
        try:
            yield
        finally:
            sys.stdin = stdin


def logger_start_message(logger, error: BaseException) -> str:
    name = type(logger).__name__
    first_line = next(iter(str(error).strip().splitlines()), "")
    reason = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    if name == "WandbLogger":
        return (f"W&B could not start ({reason}). Fix: run offline with logger.wandb.mode=offline (the default) and "
                "upload later with `wandb sync <run folder>/wandb/offline-run-*`; for online logging check the network "
                "and WANDB_API_KEY (`wandb login`); or log to CSV files with logger=csv.")
    return f"the {name} logger could not start ({reason}). Fix: choose another logger, e.g. logger=csv or logger=none."
