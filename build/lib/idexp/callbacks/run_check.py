"""What a callback that checks the run hands back: warnings for results.json and the final summary."""
from __future__ import annotations

import lightning as L


class RunCheck(L.Callback):
    """A callback whose findings about training (`warnings`) the run records and prints at its end."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
