"""Readers of the disentanglement datasets' canonical files, each returning `FactorImages`.

Every reader is `read_<name>(path: Path, **options) -> FactorImages` and raises `DatasetFileError`
for a missing or malformed file, naming the expected file, its format and where to get it.
"""
