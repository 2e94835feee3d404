"""Progress bars for the waits a user sits through outside training (rendering, cache conversion, probe encoding).

On a terminal a bar redraws twice a second; in a log file (a SLURM job's output: no terminal) it writes
one line a minute at most, so a long conversion adds a dozen lines, not thousands. A wait shorter than
SHOW_AFTER_S prints nothing: a DGP probe's one batch leaves no bar in every run's log.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from tqdm import tqdm

SHOW_AFTER_S = 2.0
TERMINAL_INTERVAL_S, LOG_INTERVAL_S = 0.5, 60.0


def bar(total: int | None, desc: str, unit: str = "it", **options) -> tqdm:
    """A bar on stderr, redrawn as often as the output suits (see the module's docstring)."""
    terminal = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, delay=SHOW_AFTER_S, dynamic_ncols=terminal,
                mininterval=TERMINAL_INTERVAL_S if terminal else LOG_INTERVAL_S, **options)


def counted(blocks: Iterable, total: int, desc: str, unit: str = "it") -> Iterator:
    """The blocks (arrays or tensors), passed through, advancing a bar by each block's length."""
    with bar(total, desc, unit) as progress:
        for block in blocks:
            yield block
            progress.update(len(block))
