"""dSprites: DeepMind's `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` (or the procedural clone).

Keys: `imgs` (737280, 64, 64) uint8 in {0, 1}; `latents_classes` (737280, 6) int64; `latents_values`;
`metadata`, a pickled python-2 dict (read with latin1) with `latents_names`, `latents_sizes` and
`latents_possible_values`. Images are cached as (N, 1, 64, 64) uint8 scaled to {0, 255}.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from idexp.data.cache import cached_images
from idexp.data.factors import Factor, FactorImages
from idexp.data.formats.errors import missing_or_malformed
from idexp.data.formats.npz import stored_shape, stream_rows

EXPECTED = "DeepMind's dSprites npz (keys imgs, latents_classes, latents_values, metadata)"
SOURCE = ("https://github.com/google-deepmind/dsprites-dataset (dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz); "
          "or omit dataset.path to use the procedural clone, which needs no file")
NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
KINDS = {"color": "categorical", "shape": "categorical", "scale": "continuous", "orientation": "periodic",
         "posX": "continuous", "posY": "continuous"}


def read_dsprites(path: Path) -> FactorImages:
    path = Path(path)
    missing = None
    try:
        with np.load(path, allow_pickle=True, encoding="latin1") as archive:
            missing = {"imgs", "latents_classes", "metadata"} - set(archive.files)
            if not missing:
                classes = archive["latents_classes"].astype(np.int64)
                metadata = archive["metadata"][()]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise missing_or_malformed(path, EXPECTED, SOURCE, None if not path.exists() else f"is not a readable npz ({error})") from None
    if missing:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has no {', '.join(sorted(missing))}")
    names = tuple(metadata["latents_names"])
    possible = metadata["latents_possible_values"]
    factors = tuple(Factor(name, KINDS.get(name, "categorical"), tuple(float(v) for v in np.ravel(possible[name])))
                    for name in names)
    shape = stored_shape(path, "imgs")[0]
    if len(shape) != 3 or shape[0] != len(classes):
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds imgs {shape} for {len(classes)} factor rows")
    images = cached_images(path, "imgs", (shape[0], 1, shape[1], shape[2]), lambda out: _copy_images(path, out))
    return FactorImages(images, classes, factors)


def _copy_images(path: Path, out: np.ndarray) -> None:
    """Stream `imgs` out of the zip in chunks: the whole array is never in memory, decompressed or not."""
    for rows, block in stream_rows(path, "imgs", 8192):
        block = block[:, None]
        out[rows] = block * 255 if block.max(initial=0) <= 1 else block
