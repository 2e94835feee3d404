"""SmallNORB: the six files of NYU's norb-v1.0-small, both splits (train then test, 48600 images).

Each file is a binary matrix, plain or gzipped: int32 magic (0x1E3D4C55 uint8, 0x1E3D4C54 int32), int32
ndim, max(3, ndim) int32 dims, then little-endian data. `dat` (24300, 2, 96, 96) uint8 stereo pairs
(the first image is used); `cat` (24300,) category 0-4; `info` (24300, 4): instance 0-9 (training
holds 4, 6, 7, 8, 9 and testing 0, 1, 2, 3, 5 of each category), elevation 0-8, azimuth 0, 2, ..., 34,
lighting 0-5. Classes come straight from `cat` and `info`. Images are resized 96 -> 64 by area
averaging (the same `area_resize` as Cars3D) and cached as (N, 1, 64, 64) uint8, keyed on the folder.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from idexp.data.cache import cached_images, chunks
from idexp.data.factors import Factor, FactorImages
from idexp.data.formats.cars3d import area_resize
from idexp.data.formats.errors import missing_or_malformed

SPLITS = ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing")
EXPECTED = ("a folder with the six SmallNORB files " + ", ".join(f"{split}-{{dat,cat,info}}.mat" for split in SPLITS)
            + " (plain or .gz), in the binary-matrix format")
SOURCE = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
MAGIC = {0x1E3D4C55: np.dtype("<u1"), 0x1E3D4C54: np.dtype("<i4")}
SIZES = {"category": 5, "instance": 10, "elevation": 9, "azimuth": 18, "lighting": 6}
ERRORS = (OSError, EOFError, ValueError, zlib.error)


def read_smallnorb(path: Path) -> FactorImages:
    folder = Path(path)
    if not folder.is_dir():
        raise missing_or_malformed(folder, EXPECTED, SOURCE, "is not a folder" if folder.exists() else None)
    splits = [{part: _locate(folder, f"{split}-{part}.mat") for part in ("dat", "cat", "info")} for split in SPLITS]
    classes = np.concatenate([_split_classes(files) for files in splits])
    factors = tuple(Factor(name, _kind(name), _values(name, size)) for name, size in SIZES.items())
    dats = [files["dat"] for files in splits]
    images = cached_images(folder.resolve(), "images64", (len(classes), 1, 64, 64), lambda out: _copy_images(dats, out))
    return FactorImages(images, classes, factors)


def _kind(name: str) -> str:
    return {"elevation": "continuous", "azimuth": "periodic"}.get(name, "categorical")


def _values(name: str, size: int) -> tuple[float, ...]:
    """Class indices, except azimuth: its classes are 20 degree steps, in radians."""
    step = math.radians(20) if name == "azimuth" else 1.0
    return tuple(step * c for c in range(size))


def _bad(file: Path, problem: str):
    """The error for one bad file of the folder (dataset.path is the folder)."""
    return missing_or_malformed(file.parent, EXPECTED, SOURCE, f"holds {file.name}, which {problem}")


def _locate(folder: Path, name: str) -> Path:
    for file in (folder / name, folder / f"{name}.gz"):
        if file.exists():
            return file
    raise missing_or_malformed(folder, EXPECTED, SOURCE, f"lacks {name} (or {name}.gz)")


def _open(file: Path):
    return gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb")


def _header(stream) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and dims of a binary matrix, leaving the stream at its data."""
    magic, ndim = np.frombuffer(_read(stream, 8), dtype="<i4")
    if int(magic) not in MAGIC:
        raise ValueError(f"magic {int(magic):#x} is not a uint8 or int32 matrix")
    if not 0 < ndim <= 8:
        raise ValueError(f"it claims {ndim} dimensions")
    dims = np.frombuffer(_read(stream, 4 * max(3, int(ndim))), dtype="<i4")[:ndim]
    return MAGIC[int(magic)], tuple(int(d) for d in dims)


def _read(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("it is truncated")
    return data


def _matrix(file: Path) -> np.ndarray:
    """A whole (small) matrix: `cat` or `info`."""
    try:
        with _open(file) as stream:
            dtype, dims = _header(stream)
            return np.frombuffer(_read(stream, int(np.prod(dims)) * dtype.itemsize), dtype=dtype).reshape(dims)
    except ERRORS as error:
        raise _bad(file, f"is not a binary matrix ({error})") from None


def _split_classes(files: dict[str, Path]) -> np.ndarray:
    """(n, 5) classes of one split, after checking the three files agree and every class is in range."""
    cat, info = _matrix(files["cat"]), _matrix(files["info"])
    if cat.ndim != 1 or info.shape != (len(cat), 4) or cat.dtype != np.int32 or info.dtype != np.int32:
        raise _bad(files["info"], f"has info {info.shape} {info.dtype} "
                                   f"for cat {cat.shape} {cat.dtype}, not (n, 4) and (n,) int32")
    if np.any(info[:, 2] % 2):
        raise _bad(files["info"], "has an odd azimuth (expected 0, 2, ..., 34)")
    classes = np.stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1).astype(np.int64)
    for k, (name, size) in enumerate(SIZES.items()):
        if classes[:, k].min(initial=0) < 0 or classes[:, k].max(initial=0) >= size:
            raise _bad(files["info"], f"has {name} classes outside 0..{size - 1}")
    dims = _dat_dims(files["dat"])
    if dims[0] != len(cat):
        raise _bad(files["dat"], f"has {dims[0]} images for {len(cat)} labels")
    return classes


def _dat_dims(file: Path) -> tuple[int, ...]:
    try:
        with _open(file) as stream:
            dtype, dims = _header(stream)
    except ERRORS as error:
        raise _bad(file, f"is not a binary matrix ({error})") from None
    if dtype != np.uint8 or len(dims) != 4 or dims[1] != 2 or dims[2] != dims[3]:
        raise _bad(file, f"is a {dtype} matrix {dims}, not (n, 2, 96, 96) uint8")
    return dims


def _copy_images(dats: list[Path], out: np.ndarray) -> None:
    """Each split's left images, a chunk of rows at a time, resized, one split after the other."""
    start = 0
    for file in dats:
        try:
            with _open(file) as stream:
                _, dims = _header(stream)
                row_bytes = int(np.prod(dims[1:]))
                for rows in chunks(dims[0], 2048):
                    count = rows.stop - rows.start
                    pairs = np.frombuffer(_read(stream, count * row_bytes), dtype=np.uint8).reshape(count, *dims[1:])
                    out[start + rows.start:start + rows.stop] = area_resize(pairs[:, :1])
        except ERRORS as error:
            raise _bad(file, f"has unreadable images ({error})") from None
        start += dims[0]
