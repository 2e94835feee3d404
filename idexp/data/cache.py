"""The uint8 image cache: a dataset file is converted once to an (N, C, H, W) `.npy`, then memory-mapped.

Compressed or chunked files (npz, h5, .mat) cannot be memory-mapped; re-reading them per run costs
minutes and, read whole, as much RAM as the dataset. The cache sits next to the source file, or under
`$IDEXP_CACHE` when that is set (or the source folder is not writable). A source may be a folder of files
(Cars3D, SmallNORB): its cache sits next to the folder.

A cache proves that it is the complete conversion of its source by the manifest written beside it
(`<cache>.manifest.json`) once the conversion has finished: the source's identity (name, size and
modification time; for a folder, of every file directly in it), the array's shape, dtype and byte length,
and checksums of `SAMPLED_BLOCKS` blocks of `BLOCK_BYTES` spread evenly over the file (the whole file when
it is smaller). Every open checks all of it: 4 MB read, about 10 ms for the 3 GB dSprites cache in the page
cache and 17 ms out of it, where a full checksum would take 1.4 s (crc32) to 6.7 s (blake2b) per open. A
cache that fails (truncated, damaged, no manifest, of another source version) is rebuilt from its source
with one log line naming the file and why, and one that cannot be rebuilt is refused with a message that
names it and the fix. A conversion writes to a temporary named after its host, process id and process
start, which it touches at least every `HEARTBEAT_S` seconds; a later conversion removes temporaries whose
process is gone on this host, or that nobody has touched for `STALE_AFTER_S` seconds, and never a live
conversion's (two processes, such as DDP ranks, may convert at once).

Memory follows what a run reads: the memory map is advised MADV_RANDOM (no read-ahead: a page fault reads
one page), and the loader and the probe read their rows with `read_rows`, which copies them with `pread`
instead of through the map. Page faults map the kernel's "fault-around" window (64 KB) of already cached
pages into the process, so rows read through the map of a cache in the page cache (just converted, or read
by an earlier run) would cost ~16 times what they hold in every process; `pread` maps nothing.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import mmap
import os
import re
import socket
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from idexp.errors import ConfigError
from idexp.progress import bar
from idexp.run.lock import process_gone, process_start

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
SAMPLED_BLOCKS = 64
BLOCK_BYTES = 64 * 1024
HEARTBEAT_S = 60.0
STALE_AFTER_S = 3600.0
HOST = socket.gethostname()


class CacheError(ConfigError):
    """A cache that fails verification and cannot be rebuilt; the message names the file and the fix."""


class _Invalid(Exception):
    """Why an existing cache cannot be used; `damaged` if it is not merely out of date."""

    def __init__(self, reason: str, damaged: bool = True) -> None:
        super().__init__(reason)
        self.damaged = damaged


def cache_path(source: Path, name: str) -> Path:
    """Where the cache `name` of `source` lives: $IDEXP_CACHE, else next to the source if writable."""
    folder = os.environ.get("IDEXP_CACHE")
    if folder is None:
        folder = source.parent if os.access(source.parent, os.W_OK) else Path.home() / ".cache" / "idexp"
    return Path(folder) / f"{source.name}.{name}.npy"


def manifest_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.manifest.json")


def cached_images(source: Path, name: str, shape: tuple[int, ...],
                  fill: Callable[[np.ndarray], None]) -> np.memmap:
    """A read-only memory map of the uint8 array `shape`, verified against its manifest; `fill(array)` writes
    it when there is no valid cache (the first call, or a cache that is damaged or of an older source)."""
    source, path, shape = Path(source), cache_path(source, name), tuple(int(size) for size in shape)
    remove_dead_temporaries(path)
    identity = source_identity(source)
    if path.exists() or manifest_path(path).exists():
        try:
            return _open_verified(path, identity, shape)
        except _Invalid as invalid:
            reason = str(invalid)
            (log.warning if invalid.damaged else log.info)("the uint8 cache %s %s: rebuilding it from %s",
                                                           path, reason, source)
    else:
        reason = None
        log.info("converting %s once to the uint8 cache %s", source, path)
    _convert(source, path, shape, fill, identity, reason)
    try:
        return _open_verified(path, identity, shape)
    except _Invalid as invalid:  # replaced meanwhile by something else (another version of idexp, a person)
        raise CacheError(_refusal(path, f"{invalid} right after its conversion", None, shape)) from None


def verify(source: Path, path: Path, shape: tuple[int, ...]) -> str | None:
    """Why the cache at `path` is not the complete conversion of `source` into `shape`; None if it is."""
    try:
        _open_verified(Path(path), source_identity(Path(source)), tuple(shape))
    except _Invalid as invalid:
        return str(invalid)
    return None


def open_cache(path: str | Path) -> np.memmap:
    """The `.npy` at `path` memory-mapped read-only, advised for random access, readable by `read_rows`.

    No verification: for a cache already verified in this run (a DataLoader worker reopening it)."""
    try:
        with open(path, "rb") as file:
            shape, dtype, offset = _header(file)
            return _map(file, shape, dtype, offset)
    except (OSError, ValueError, _Invalid) as error:
        raise CacheError(f"the uint8 cache {path} cannot be opened ({error}), though this run verified it: something "
                         f"replaced or damaged it meanwhile. Fix: delete {path} and {manifest_path(Path(path)).name} "
                         "beside it; the next run converts the dataset again.") from None


def read_rows(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`images[rows]` as a new C-contiguous array. From a cache opened here, rows are copied with `pread`
    (consecutive rows in one call), so nothing of the file is mapped into this process; from any other
    array, by indexing."""
    rows = np.asarray(rows, dtype=np.int64)
    fd = getattr(images, "row_fd", None)  # set on the maps opened here, not on their views
    if fd is None or not len(rows):
        return np.ascontiguousarray(images[rows])
    if rows.min() < -len(images) or rows.max() >= len(images):
        raise IndexError(f"rows {int(rows.min())}..{int(rows.max())} are out of range for {len(images)} images")
    rows = rows % len(images)
    out = np.empty((len(rows), *images.shape[1:]), dtype=images.dtype)
    row_bytes = out[0].nbytes
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # runs of consecutive rows: one pread each
    sizes = np.diff(starts, append=len(rows)) * row_bytes
    for at, size, offset in zip((starts * row_bytes).tolist(), sizes.tolist(),
                                (images.offset + rows[starts] * row_bytes).tolist()):
        if os.preadv(fd, [buffer[at:at + size]], offset) != size:
            raise OSError(f"{images.filename} ends before byte {offset + size}: it was truncated while in use")
    return out


def source_identity(source: Path) -> dict:
    """What identifies the version of `source` a cache was converted from: its name, size and modification
    time (for a folder, those of every file directly in it). The full path is kept for messages only: the
    same file mounted at another path (another node of a cluster) keeps its cache."""
    stat = source.stat()
    identity: dict = {"path": str(source.resolve()), "name": source.name}
    if not source.is_dir():
        return identity | {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    listing = hashlib.sha1()
    count = 0
    for entry in sorted(os.scandir(source), key=lambda entry: entry.name):
        if entry.name.startswith(f"{source.name}.") or not entry.is_file():  # a cache placed in the folder itself
            continue
        entry_stat = entry.stat()
        listing.update(f"{entry.name}\0{entry_stat.st_size}\0{entry_stat.st_mtime_ns}\n".encode())
        count += 1
    return identity | {"files": count, "listing_sha1": listing.hexdigest()}


def remove_dead_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries of conversions of `path` that died: their process is gone on this host, or
    they have not been touched for STALE_AFTER_S seconds. A live conversion's temporary is never removed."""
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        owner = _temporary_owner(path, entry.name)
        if owner is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            idle = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        host, pid, start = owner
        if idle > STALE_AFTER_S:
            why = f"untouched for {idle / 3600:.1f} h"
        elif process_gone(host, pid, start):
            why = f"its process {pid} on {host} is gone"
        else:
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        log.info("removed %s, the temporary of a conversion that died (%s)", entry.path, why)
        removed.append(Path(entry.path))
    return removed


def temporary_path(target: Path) -> Path:
    """This process's temporary for `target`: `<target>.<host>.<pid>.<process start>.tmp`."""
    return target.with_name(f"{target.name}.{HOST}.{os.getpid()}.{process_start(os.getpid()) or 0}.tmp")


def _temporary_owner(path: Path, name: str) -> tuple[str | None, int, str | None] | None:
    """(host, pid, process start) of a temporary of `path` (or of its manifest) named `name`; None if it is
    not one. The unversioned `<cache stem>.<pid>.tmp` of earlier idexp versions has no host: age alone."""
    if name.startswith(f"{path.name}.") and name.endswith(".tmp"):
        rest = name[len(path.name) + 1:].removeprefix("manifest.json.")
        if match := re.fullmatch(r"(.+)\.(\d+)\.(\d+)\.tmp", rest):
            return match[1], int(match[2]), match[3]
    if match := re.fullmatch(re.escape(path.stem) + r"\.(\d+)\.tmp", name):
        return None, int(match[1]), None
    return None


def _convert(source: Path, path: Path, shape: tuple[int, ...], fill: Callable[[np.ndarray], None],
             identity: dict, reason: str | None) -> None:
    """Fill a temporary, write its manifest, then move both into place (manifest first: a reader that sees
    the new manifest beside the old cache finds them inconsistent, never a cache it would wrongly accept)."""
    manifest = manifest_path(path)
    tmp, manifest_tmp = temporary_path(path), temporary_path(manifest)
    started = time.monotonic()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        _reserve(tmp)
        with bar(array.nbytes, f"caching {source.name} as uint8", "B", unit_scale=True, unit_divisor=1024) as progress:
            fill(_ReleasingWrites(array, tmp, progress=progress))
        array.flush()
        del array
        record = _manifest(tmp, source, identity, shape, time.monotonic() - started)
        manifest_tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(manifest_tmp, manifest)
        os.replace(tmp, path)
    except OSError as error:
        raise CacheError(_refusal(path, reason, error, shape)) from None
    finally:
        for leftover in (tmp, manifest_tmp):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)


def _refusal(path: Path, reason: str | None, error: OSError | None, shape: tuple[int, ...]) -> str:
    """The message refusing a cache that cannot be (re)built: the file, why, and the fix."""
    what = f"the uint8 cache {path} {reason} and could not be rebuilt" if reason else f"could not write the uint8 cache {path}"
    delete = f"delete {path} and {manifest_path(path).name} beside it, and " if reason else ""
    room = f"{int(np.prod(shape)) / 2**30:.2f} GiB"
    return (f"{what}{f' ({error})' if error else ''}. Fix: {delete}make sure its folder {path.parent} is writable with "
            f"{room} free (or point IDEXP_CACHE at a folder that is); the next run converts the dataset again.")


def _reserve(tmp: Path) -> None:
    """Allocate the whole file now: a full disk is then an OSError here, not a SIGBUS while filling the map."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(tmp, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):  # a filesystem without fallocate
            raise
    finally:
        os.close(fd)


def _manifest(tmp: Path, source: Path, identity: dict, shape: tuple[int, ...], seconds: float) -> dict:
    size = tmp.stat().st_size
    with open(tmp, "rb") as file:
        _, _, offset = _header(file)
        blocks = _checksums(file.fileno(), size)
    return {"format": "idexp uint8 image cache", "version": MANIFEST_VERSION, "source": identity,
            "shape": list(shape), "dtype": "uint8", "header_bytes": offset, "bytes": size,
            "block_bytes": BLOCK_BYTES, "blocks": blocks, "converted_on": HOST, "pid": os.getpid(),
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "conversion_s": round(seconds, 1)}


def _block_offsets(size: int) -> list[int]:
    """SAMPLED_BLOCKS block starts spread evenly from the first byte to the last; every block if fewer fit."""
    if size <= SAMPLED_BLOCKS * BLOCK_BYTES:
        return list(range(0, size, BLOCK_BYTES))
    last = size - BLOCK_BYTES
    return [round(i * last / (SAMPLED_BLOCKS - 1)) for i in range(SAMPLED_BLOCKS)]


def _checksums(fd: int, size: int) -> list[str]:
    """"<offset>:<blake2b>" of each sampled block, read with pread (no read-ahead, nothing mapped)."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return [f"{offset}:{hashlib.blake2b(os.pread(fd, BLOCK_BYTES, offset), digest_size=16).hexdigest()}"
            for offset in _block_offsets(size)]


def _open_verified(path: Path, identity: dict, shape: tuple[int, ...]) -> np.memmap:
    """The cache mapped, after checking it against its manifest; raises _Invalid saying what is wrong."""
    manifest = _read_manifest(path)
    if manifest.get("version") != MANIFEST_VERSION or manifest.get("dtype") != "uint8":
        raise _Invalid(f"has a manifest of another format ({manifest_path(path).name}: version "
                       f"{manifest.get('version')}, dtype {manifest.get('dtype')})")
    recorded = manifest.get("source", {})
    changed = [key for key in identity if key != "path" and recorded.get(key) != identity[key]]
    if changed:
        raise _Invalid(f"was converted from another version of {recorded.get('path', 'its source')} "
                       f"({', '.join(changed)} differ)", damaged=False)
    if tuple(manifest.get("shape", ())) != shape:
        raise _Invalid(f"holds images {tuple(manifest.get('shape', ()))}, but {shape} are expected", damaged=False)
    try:
        file = open(path, "rb")
    except OSError as error:
        raise _Invalid(f"cannot be read ({error.strerror})") from None
    with file:
        size, expected = os.fstat(file.fileno()).st_size, manifest.get("bytes")
        if size != expected:
            raise _Invalid(f"is truncated ({size:,} of {expected:,} bytes)" if size < expected
                           else f"is {size:,} bytes long, {expected:,} were written")
        try:
            found_shape, dtype, offset = _header(file)
        except ValueError as error:
            raise _Invalid(f"has an unreadable .npy header ({error})") from None
        if found_shape != shape or dtype != np.uint8 or offset != manifest.get("header_bytes"):
            raise _Invalid(f"has the .npy header of {found_shape} {dtype}, not of {shape} uint8")
        if manifest.get("block_bytes") != BLOCK_BYTES:
            raise _Invalid(f"has a manifest with {manifest.get('block_bytes')}-byte blocks, not {BLOCK_BYTES}")
        found = _checksums(file.fileno(), size)
        differ = [int(block.split(":")[0]) for block, want in zip(found, manifest.get("blocks", [])) if block != want]
        if differ or len(found) != len(manifest.get("blocks", [])):
            raise _Invalid(f"has damaged contents ({len(differ)} of {len(found)} sampled blocks differ from the "
                           f"conversion's, the first at byte {differ[0] if differ else '?'})")
        return _map(file, shape, dtype, offset)


def _read_manifest(path: Path) -> dict:
    manifest = manifest_path(path)
    try:
        record = json.loads(manifest.read_text())
    except FileNotFoundError:
        if not path.exists():
            raise _Invalid("is missing beside its manifest") from None
        raise _Invalid(f"has no manifest {manifest.name} (an interrupted conversion, or one by an earlier "
                       "idexp version)") from None
    except (OSError, ValueError) as error:
        raise _Invalid(f"has an unreadable manifest {manifest.name} ({error})") from None
    if not isinstance(record, dict):
        raise _Invalid(f"has an unreadable manifest {manifest.name} (not a JSON object)")
    fields = {"version": int, "source": dict, "shape": list, "dtype": str, "header_bytes": int, "bytes": int,
              "block_bytes": int, "blocks": list}
    if wrong := [key for key, kind in fields.items() if not isinstance(record.get(key), kind)]:
        raise _Invalid(f"has an unreadable manifest {manifest.name} (no valid {', '.join(wrong)})")
    return record


def _header(file) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of the `.npy` open in `file`; ValueError if it is not a C-order .npy."""
    version = np.lib.format.read_magic(file)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(file)
    if fortran_order:
        raise ValueError("Fortran order")
    return tuple(shape), dtype, file.tell()


def _map(file, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> np.memmap:
    """A read-only map of the open `file`, advised for random access, with a descriptor for `read_rows`."""
    try:
        array = np.memmap(file, dtype=dtype, mode="r", shape=shape, offset=offset)
    except ValueError as error:  # shorter than the header says (a cache that was never verified)
        raise _Invalid(f"cannot be mapped ({error})") from None
    if hasattr(mmap, "MADV_RANDOM"):
        array._mmap.madvise(mmap.MADV_RANDOM)
    if hasattr(os, "preadv"):  # a descriptor of the mapped file (the same inode) for `read_rows`
        array.row_fd = os.dup(file.fileno())
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(array.row_fd, 0, 0, os.POSIX_FADV_RANDOM)  # read the rows asked for, no read-ahead
        weakref.finalize(array, os.close, array.row_fd)
    return array


class _ReleasingWrites:
    """The memory map being filled, handing written pages back to the OS every `release_bytes`, and touching
    its file at least every HEARTBEAT_S seconds (a live conversion's temporary is never taken for dead).

    Written pages of a shared file mapping count in the process's resident memory until released, so a
    3 GB conversion would otherwise peak at 3 GB; flushed to the file, they can be dropped safely.
    """

    def __init__(self, array: np.memmap, path: Path | None = None, release_bytes: int = 256 * 2**20,
                 progress: tqdm | None = None) -> None:
        self.array, self.path, self.release_bytes, self._pending = array, path, release_bytes, 0
        self._touched, self.progress = time.monotonic(), progress

    def __setitem__(self, key, value) -> None:
        self.array[key] = value
        written = np.asarray(value).nbytes
        self._pending += written
        if self.progress is not None:
            self.progress.update(written)
        if self._pending >= self.release_bytes:
            self.array.flush()
            self.array._mmap.madvise(mmap.MADV_DONTNEED)
            self._pending = 0
        if self.path is not None and time.monotonic() - self._touched > HEARTBEAT_S:
            os.utime(self.path)
            self._touched = time.monotonic()

    def __getattr__(self, name: str):  # shape, reshape, ...: as the array
        return getattr(self.array, name)


def chunks(total: int, size: int = 8192):
    """Consecutive slices covering range(total)."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))
