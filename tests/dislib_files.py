"""Tiny dataset files in the canonical formats, for tests that read them through the real readers."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from idexp.data.factors import index_order_classes

DSPRITES_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")


def write_dsprites(path: Path, sizes: tuple[int, ...] = (1, 3, 2, 2, 8, 8)) -> Path:
    """A dSprites npz in DeepMind's schema over a reduced grid: a square of 1s whose position, size and
    brightness pattern follow the factors (shape sets which rows of the square are drawn)."""
    classes = index_order_classes(sizes)
    images = np.zeros((len(classes), 64, 64), dtype=np.uint8)
    for i, (_, shape, scale, _, x, y) in enumerate(classes):
        side = 8 + 4 * scale
        top, left = 4 + 6 * y, 4 + 6 * x
        images[i, top:top + side:shape + 1, left:left + side] = 1
    possible = {"color": np.array([1.0]), "shape": np.arange(1.0, sizes[1] + 1),
                "scale": np.linspace(0.5, 1, sizes[2]), "orientation": np.linspace(0, 2 * np.pi, sizes[3]),
                "posX": np.linspace(0, 1, sizes[4]), "posY": np.linspace(0, 1, sizes[5])}
    values = np.stack([possible[name][classes[:, k]] for k, name in enumerate(DSPRITES_NAMES)], axis=1)
    metadata = {"latents_sizes": np.array(sizes), "latents_names": DSPRITES_NAMES, "latents_possible_values": possible,
                "description": "tiny test file", "version": 1}
    np.savez_compressed(path, imgs=images, latents_classes=classes, latents_values=values,
                        metadata=np.array(metadata, dtype=object))
    return path


def dsprites_overrides(path: Path, sizes: tuple[int, ...] = (1, 3, 2, 2, 8, 8)) -> list[str]:
    factors = ",".join(f"{name}:{size}" for name, size in zip(DSPRITES_NAMES, sizes))
    return ["dataset=dsprites", f"dataset.path={path}", f"dataset.factors={{{factors}}}"]
