"""The uint8 image cache: a dataset file is converted once to an (N, C, H, W) `.npy`, then memory-mapped.

Compressed or chunked files (npz, h5, .mat) cannot be memory-mapped; re-reading them per run costs
minutes and, read whole, as much RAM as the dataset. The cache sits next to the source file, or under
`$IDEXP_CACHE` when that is set (or the source folder is not writable). It is written in chunks to a
temporary file and renamed when complete, so an interrupted conversion never leaves a bad cache, and it
is rebuilt when the source file is newer. A source may be a folder of files (Cars3D, SmallNORB): its
cache sits next to the folder, and is rebuilt when the folder or any file directly in it is newer.
"""
from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cache_path(source: Path, name: str) -> Path:
    """Where the cache `name` of `source` lives: $IDEXP_CACHE, else next to the source if writable."""
    folder = os.environ.get("IDEXP_CACHE")
    if folder is None:
        folder = source.parent if os.access(source.parent, os.W_OK) else Path.home() / ".cache" / "idexp"
    return Path(folder) / f"{source.name}.{name}.npy"


def cached_images(source: Path, name: str, shape: tuple[int, ...],
                  fill: Callable[[np.ndarray], None]) -> np.ndarray:
    """A read-only memory map of the uint8 array `shape`; `fill(array)` writes it on the first call."""
    path = cache_path(source, name)
    if path.exists() and path.stat().st_mtime >= _modified(source):
        cached = np.load(path, mmap_mode="r")
        if cached.shape == tuple(shape) and cached.dtype == np.uint8:
            return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s once to the uint8 cache %s", source, path)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(shape))
        fill(_ReleasingWrites(array))
        array.flush()
        del array
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")


class _ReleasingWrites:
    """The memory map being filled, handing written pages back to the OS every `release_bytes`.

    Written pages of a shared file mapping count in the process's resident memory until released, so a
    3 GB conversion would otherwise peak at 3 GB; flushed to the file, they can be dropped safely.
    """

    def __init__(self, array: np.memmap, release_bytes: int = 256 * 2**20) -> None:
        self.array, self.release_bytes, self._pending = array, release_bytes, 0

    def __setitem__(self, key, value) -> None:
        self.array[key] = value
        self._pending += np.asarray(value).nbytes
        if self._pending >= self.release_bytes:
            self.array.flush()
            self.array._mmap.madvise(mmap.MADV_DONTNEED)
            self._pending = 0

    def __getattr__(self, name: str):  # shape, reshape, ...: as the array
        return getattr(self.array, name)


def _modified(source: Path) -> float:
    """The newest mtime of `source` and, for a folder, of the entries directly in it."""
    entries = list(source.iterdir()) if source.is_dir() else []
    return max([source.stat().st_mtime, *(entry.stat().st_mtime for entry in entries if entry.exists())])


def chunks(total: int, size: int = 8192):
    """Consecutive slices covering range(total)."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))
