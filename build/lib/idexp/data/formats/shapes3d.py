"""Shapes3D: DeepMind's `3dshapes.h5`.

Datasets `images` (480000, 64, 64, 3) uint8 and `labels` (480000, 6) float64, stored in C order over
(floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15), orientation fastest.
Classes come from that index order; the labels are only checked against it, and their sorted unique
values per column are the factor values, so the file, not the README, is the truth (the README's
scale range is known to be wrong). Sizes are the labels' unique counts, so a file with fewer values of
a factor reads too. Images are cached as (N, 3, 64, 64) uint8, copied from the h5 chunk by chunk.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from idexp.data.cache import cached_images, chunks
from idexp.data.factors import Factor, FactorImages, index_order_classes
from idexp.data.formats.errors import missing_or_malformed

EXPECTED = ("DeepMind's 3dshapes.h5 (HDF5 datasets images (480000, 64, 64, 3) uint8 and labels (480000, 6), "
            "C order over floor_hue, wall_hue, object_hue, scale, shape, orientation)")
SOURCE = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
# Hue is an angle in [0, 1) but the CE paper treats it as continuous; orientation is an azimuth in
# [-30, 30] degrees, an interval rather than a full circle.
KINDS = ("continuous", "continuous", "continuous", "continuous", "categorical", "continuous")


def read_shapes3d(path: Path) -> FactorImages:
    path = Path(path)
    shape, labels = _read_labels(path)
    values, classes = _classes(path, labels)
    factors = tuple(Factor(name, kind, tuple(float(v) for v in column)) for name, kind, column in zip(NAMES, KINDS, values))
    images = cached_images(path, "images", (shape[0], 3, 64, 64), lambda out: _copy_images(path, out))
    return FactorImages(images, classes, factors)


def _read_labels(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    """The images' shape and the whole labels array (23 MB), after checking both."""
    try:
        with h5py.File(path, "r") as file:
            missing = sorted({"images", "labels"} - set(file.keys()))
            if not missing:
                shape, dtype, labels = file["images"].shape, file["images"].dtype, np.asarray(file["labels"])
    except (OSError, KeyError, TypeError, AttributeError, ValueError) as error:
        raise missing_or_malformed(path, EXPECTED, SOURCE, None if not path.exists() else f"is not a readable HDF5 file ({error})") from None
    if missing:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has no dataset {', '.join(missing)}")
    if len(shape) != 4 or shape[1:] != (64, 64, 3) or dtype != np.uint8:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds images {shape} {dtype}, not (N, 64, 64, 3) uint8")
    if labels.shape != (shape[0], len(NAMES)):
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds labels {labels.shape} for {shape[0]} images")
    return shape, labels


def _classes(path: Path, labels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-factor sorted values and the index-order classes, which every row's labels must agree with."""
    found = [np.unique(labels[:, k], return_inverse=True) for k in range(labels.shape[1])]
    sizes = tuple(len(values) for values, _ in found)
    if int(np.prod(sizes)) != len(labels):
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has {len(labels)} rows, but its labels take {sizes} "
                                   f"distinct values per factor ({int(np.prod(sizes))} combinations)")
    classes = index_order_classes(sizes)
    stored = np.stack([inverse.ravel() for _, inverse in found], axis=1)
    wrong = np.flatnonzero((stored != classes).any(axis=1))
    if len(wrong):
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"is not in C order over {', '.join(NAMES)}: "
                                   f"the labels of row {wrong[0]} are {labels[wrong[0]].tolist()}")
    return [values for values, _ in found], classes


def _copy_images(path: Path, out: np.ndarray) -> None:
    """Read `images` a chunk at a time, NHWC -> NCHW."""
    try:
        with h5py.File(path, "r") as file:
            images = file["images"]
            for rows in chunks(len(images), 4096):
                out[rows] = images[rows].transpose(0, 3, 1, 2)
    except OSError as error:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has unreadable images ({error})") from None
