"""The one error a dataset reader raises for a missing or malformed file."""
from __future__ import annotations

from pathlib import Path

from idexp.errors import ConfigError


class DatasetFileError(ConfigError):
    """A dataset file is missing or not in its canonical format; the message says what and where to get it."""


def missing_or_malformed(path: Path, expected: str, source: str, problem: str | None = None) -> DatasetFileError:
    """The message for `path`: what it should be (`expected`), what is wrong, and `source` to obtain it."""
    what = problem or ("does not exist" if not path.exists() else "cannot be read")
    return DatasetFileError(f"dataset.path={path} {what}. Expected: {expected}. Get it from {source}, "
                            "then set dataset.path to it.")
