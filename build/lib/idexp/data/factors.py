"""What a finite dataset with ground-truth factors provides: images, factor classes, factor descriptions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from idexp.ground_truth import Factor, FactorKind  # noqa: F401  (re-exported: the loaders' import)


@dataclass
class FactorImages:
    """Every loader's result: N images with K factors, classes never re-derived from scaled floats.

    `images` is (N, C, H, W) uint8, usually a read-only memory map of the uint8 cache, so no float
    copy of the dataset ever exists; `classes` is (N, K) int64, the class index of each factor.
    """

    images: np.ndarray
    classes: np.ndarray
    factors: tuple[Factor, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be (N, C, H, W) uint8, got {self.images.shape} {self.images.dtype}")
        if self.classes.shape != (len(self.images), len(self.factors)):
            raise ValueError(f"classes must be (N={len(self.images)}, K={len(self.factors)}), got {self.classes.shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def names(self) -> list[str]:
        return [factor.name for factor in self.factors]

    def values(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n, K) float64 factor values of the given rows."""
        classes = self.classes[rows]
        return np.stack([np.asarray(f.values, dtype=np.float64)[classes[:, k]] for k, f in enumerate(self.factors)], axis=1)


def index_order_classes(sizes: tuple[int, ...]) -> np.ndarray:
    """(prod(sizes), K) classes of a dataset stored in C order over its factors (the last varies fastest)."""
    grids = np.meshgrid(*(np.arange(size) for size in sizes), indexing="ij")
    return np.stack([grid.ravel() for grid in grids], axis=1).astype(np.int64)
