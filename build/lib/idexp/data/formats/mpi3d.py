"""MPI3D: `mpi3d_{toy,realistic,real}.npz` (and `mpi3d_real_complex.npz`) from the MPI disentanglement dataset.

One key, `images` (N, 64, 64, 3) uint8, in C order over (object_color, object_shape, object_size,
camera_height, background_color, horizontal_axis, vertical_axis), vertical_axis fastest. The file has
no labels: classes come from the index order, and each factor's values are its class indices. The
12.7 GB of images are streamed out of the zip into the (N, 3, 64, 64) uint8 cache a chunk at a time.
"""
from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from idexp.data.cache import cached_images
from idexp.data.factors import Factor, FactorImages, index_order_classes
from idexp.data.formats.errors import missing_or_malformed
from idexp.data.formats.npz import images_header, stream_rows
from idexp.errors import ConfigError

EXPECTED = ("the MPI3D npz mpi3d_{toy,realistic,real}.npz or mpi3d_real_complex.npz "
            "(key images (N, 64, 64, 3) uint8, C order over the factors)")
SOURCE = "https://huggingface.co/datasets/waleedgondal/mpi3d (mpi3d_{toy,realistic,real}.npz)"
NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
         "horizontal_axis", "vertical_axis")
KINDS = ("categorical",) * 5 + ("continuous",) * 2
VARIANTS = {"toy": (6, 6, 2, 3, 3, 40, 40), "realistic": (6, 6, 2, 3, 3, 40, 40), "real": (6, 6, 2, 3, 3, 40, 40),
            "real_complex": (4, 4, 2, 3, 3, 40, 40)}


def read_mpi3d(path: Path, variant: str = "toy", sizes: Sequence[int] | None = None) -> FactorImages:
    """`variant` fixes the factor sizes; `sizes` overrides them, for other MPI3D layouts (and small test files)."""
    path = Path(path)
    if variant not in VARIANTS:
        raise ConfigError(f"dataset.variant={variant} is not an MPI3D variant; use one of {', '.join(VARIANTS)}")
    sizes = tuple(int(size) for size in (VARIANTS[variant] if sizes is None else sizes))
    if len(sizes) != len(NAMES):
        raise ConfigError(f"MPI3D factor sizes {sizes} must give one size for each of {', '.join(NAMES)}")
    count = _image_count(path)
    if count != int(np.prod(sizes)):
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds {count} images, but the factor sizes {list(sizes)} "
                                   f"(dataset.factors, for dataset.variant={variant}) give {int(np.prod(sizes))}")
    factors = tuple(Factor(name, kind, tuple(float(c) for c in range(size))) for name, kind, size in zip(NAMES, KINDS, sizes))
    images = cached_images(path, "images", (count, 3, 64, 64), lambda out: _copy_images(path, out))
    return FactorImages(images, index_order_classes(sizes), factors)


def _image_count(path: Path) -> int:
    """N, from the `images` header alone, after checking it is (N, 64, 64, 3) uint8."""
    shape, dtype = images_header(path, EXPECTED, SOURCE)
    if len(shape) != 4 or shape[1:] != (64, 64, 3) or dtype != np.uint8:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds images {shape} {dtype}, not (N, 64, 64, 3) uint8")
    return shape[0]


def _copy_images(path: Path, out: np.ndarray) -> None:
    """Stream `images` (NHWC) out of the zip into the NCHW cache; peak memory is two 50 MB chunks."""
    try:
        for rows, block in stream_rows(path, "images", 4096):
            out[rows] = block.transpose(0, 3, 1, 2)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has unreadable images ({error})") from None
