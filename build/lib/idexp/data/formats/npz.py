"""Streaming one array out of an `.npz` without loading it: datasets of many GB fit in no RAM.

`np.load(npz)[key]` decompresses the whole member; reading its `.npy` header and then its rows from the
zip stream keeps only one chunk in memory, whether the archive is compressed or stored.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from idexp.data.cache import chunks
from idexp.data.formats.errors import missing_or_malformed


def npy_header(stream) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an open `.npy` stream, leaving it at the first data byte."""
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(stream)
    if fortran_order:
        raise ValueError("a Fortran-ordered array")
    return shape, dtype


def members(path: Path) -> list[str]:
    """The array names stored in the npz (its `.npy` members without the suffix)."""
    with zipfile.ZipFile(path) as archive:
        return [name[:-4] for name in archive.namelist() if name.endswith(".npy")]


def stored_shape(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of `key` in the npz, read from its header only."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
        return npy_header(stream)


def images_header(path: Path, expected: str, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the npz's `images`; a missing, unreadable or key-less file raises DatasetFileError."""
    try:
        keys = members(path)
        header = stored_shape(path, "images") if "images" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise missing_or_malformed(path, expected, source, None if not path.exists() else f"is not a readable npz ({error})") from None
    if header is None:
        raise missing_or_malformed(path, expected, source, f"has no key images (keys: {', '.join(keys) or 'none'})")
    return header


def stream_rows(path: Path, key: str, size: int = 4096) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, block) for consecutive row chunks of `key`; a truncated member raises ValueError."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
        shape, dtype = npy_header(stream)
        row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
        for rows in chunks(shape[0], size):
            count = rows.stop - rows.start
            data = stream.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise ValueError(f"{key} is truncated at row {rows.start}")
            yield rows, np.frombuffer(data, dtype=dtype).reshape(count, *shape[1:])
