"""idexp's procedural clone of DeepMind's dSprites, written in the original npz schema.

The original renderer (LOVE vector drawing, rasterised) was never released and its pixel geometry is
undocumented, so this clone chooses its own and tunes it so that raw pixels carry the same linear
information about the factors as the original (`scripts/dsprites_baseline_check.py`): the CE paper's
raw-pixel least-squares baseline (no intercept) is shape 0.26, scale 0.62, posX 0.92, posY 0.92 on
the original and 0.26, 0.63, 0.925, 0.924 on this clone (full-dataset limit). What mattered: the three
shapes' areas (square > ellipse > heart, about 1 : 0.85 : 0.62) set the shape and scale scores, and
the spread of sprite areas bounds the position scores; the sprite size itself matters little.

Geometry (continuous image coordinates: pixel (row r, column c) covers [c, c+1) x [r, r+1)):

- Sprite centre: column 16.5 + 31 * posX, row 16.5 + 31 * posY, so posX moves the sprite along the
  columns and posY along the rows (downwards), as in the original. The 32 positions are one pixel
  apart and the centre always sits on a pixel centre, so every position is an exact integer shift of
  one rendering; centres span the centre half of the image.
- Size: the square's side is SIZE = 19 pixels at scale 1 (SIZE * scale in general). The ellipse has
  semi-axes ELLIPSE_AXES * SIZE * scale (14.1 x 7.0 pixels at scale 1, long axis horizontal at
  orientation 0). The heart is the implicit curve (X^2 + Y^2 - 1)^3 = X^2 Y^3, lobes up and tip down
  at orientation 0, scaled so its bounding box is HEART_WIDTH * SIZE * scale wide (18 pixels at
  scale 1) and centred on the sprite centre. At scale 1 and orientation 0 the square, ellipse and
  heart light 361, 307 and 224 pixels; the mean pixel over the dataset is 0.043.
- Rotation: about the sprite centre (the heart's bounding-box centre), counter-clockwise as displayed (rows pointing down), by the
  orientation in radians.
- Rasterisation: each pixel is sampled on a SUPERSAMPLE x SUPERSAMPLE grid and set to 1 where at
  least half of its samples fall inside the shape (dSprites is binary). Sprites never leave the image.

Every (shape, scale, orientation) sprite is rendered once on a PATCH x PATCH patch and copied to the
32 x 32 positions by slicing; nothing is random. The npz is streamed into the zip (as
np.savez_compressed does) so the 3 GB image array is never held in memory.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from idexp.data.cache import remove_dead_temporaries, temporary_path
from idexp.data.factors import index_order_classes
from idexp.progress import counted

NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
SIZES = (1, 3, 6, 40, 32, 32)
IMAGE = 64
PATCH = 33                         # odd, so the sprite centre is the centre of its middle pixel
# Tuned so that the raw-pixel linear baseline matches the original's (see the module docstring).
SIZE = 19.0                        # square side in pixels at scale 1
ELLIPSE_AXES = (0.74, 0.37)        # semi-axes, in units of SIZE
HEART_WIDTH = 0.95                 # heart bounding-box width, in units of SIZE
SUPERSAMPLE = 8
DATE = "December 2026"             # of this geometry; fixed, so the file depends on nothing but the code
HEART_HALF_WIDTH = 1.139           # half-width of the implicit heart (X^2+Y^2-1)^3 = X^2 Y^3
HEART_MID_Y = 0.118                # its vertical extent is [-1, 1.237]: centre the bounding box


def possible_values() -> dict[str, np.ndarray]:
    """Each factor's values, exactly as the original lists them (orientation has both 0 and 2 pi)."""
    return {"color": np.array([1.0]), "shape": np.array([1.0, 2.0, 3.0]), "scale": np.linspace(0.5, 1.0, 6),
            "orientation": np.linspace(0.0, 2 * np.pi, 40), "posX": np.linspace(0.0, 1.0, 32),
            "posY": np.linspace(0.0, 1.0, 32)}


def metadata() -> dict:
    return {"latents_sizes": np.array(SIZES), "latents_names": NAMES, "latents_possible_values": possible_values(),
            "description": "idexp's procedural clone of DeepMind's dSprites (same factors, order and schema; "
                           "own geometry, see idexp/data/render_dsprites.py)",
            "title": "dSprites procedural clone (idexp)", "author": "idexp", "version": 1,
            "date": DATE}


def inside(shape: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points (x right, y up, in units of the sprite's SIZE * scale) lie in the unrotated shape."""
    if shape == 1:
        return (np.abs(x) <= 0.5) & (np.abs(y) <= 0.5)
    if shape == 2:
        a, b = ELLIPSE_AXES
        return (x / a) ** 2 + (y / b) ** 2 <= 1.0
    if shape == 3:
        k = 2 * HEART_HALF_WIDTH / HEART_WIDTH
        hx, hy = x * k, y * k + HEART_MID_Y
        return (hx ** 2 + hy ** 2 - 1) ** 3 - hx ** 2 * hy ** 3 <= 0
    raise ValueError(f"shape must be 1 (square), 2 (ellipse) or 3 (heart), got {shape}")


def render_sprite(shape: int, scale: float, orientation: float) -> np.ndarray:
    """(PATCH, PATCH) uint8 0/1 sprite centred on the middle pixel's centre."""
    offsets = (np.arange(PATCH * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - PATCH / 2
    dx = offsets[None, :]
    dy = -offsets[:, None]                      # rows point down, y points up
    cos, sin = np.cos(orientation), np.sin(orientation)
    size = SIZE * scale
    # Rotating the points by -orientation rotates the shape by +orientation.
    x = (cos * dx + sin * dy) / size
    y = (-sin * dx + cos * dy) / size
    coverage = inside(shape, x, y).reshape(PATCH, SUPERSAMPLE, PATCH, SUPERSAMPLE).mean(axis=(1, 3))
    sprite = (coverage >= 0.5).astype(np.uint8)
    if sprite[[0, -1]].any() or sprite[:, [0, -1]].any():
        raise ValueError(f"sprite {shape} at scale {scale} does not fit its {PATCH}-pixel patch")
    return sprite


def place(sprite: np.ndarray, pos_x: Sequence[int] = range(32), pos_y: Sequence[int] = range(32)) -> np.ndarray:
    """(len(pos_x), len(pos_y), 64, 64) images of `sprite` at the given posX/posY classes."""
    margin = IMAGE - PATCH                      # 31: the position classes are one pixel apart
    canvas = np.zeros((IMAGE + margin, IMAGE + margin), np.uint8)
    canvas[margin:margin + PATCH, margin:margin + PATCH] = sprite
    windows = sliding_window_view(canvas, (IMAGE, IMAGE))   # windows[a, b] = canvas[a:a+64, b:b+64]
    # Class (i, j) puts the centre at column 16 + i, row 16 + j: the window starting at (31 - j, 31 - i).
    rows = margin - np.asarray(pos_y)
    cols = margin - np.asarray(pos_x)
    return np.ascontiguousarray(windows[rows[None, :], cols[:, None]])


def grid_classes(grid: Mapping[str, Sequence[int]] | None = None) -> list[np.ndarray]:
    """Per factor, the class indices rendered: all of them, or the subset `grid` names."""
    grid = grid or {}
    unknown = set(grid) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown dSprites factors {sorted(unknown)}; expected some of {NAMES}")
    return [np.asarray(grid.get(name, range(size)), dtype=np.int64) for name, size in zip(NAMES, SIZES)]


def _image_blocks(classes: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Images in the file's C order, one (shape, scale, orientation) block of positions at a time."""
    values = possible_values()
    for _color in classes[0]:
        for shape in classes[1]:
            for scale in classes[2]:
                for orientation in classes[3]:
                    sprite = render_sprite(int(values["shape"][shape]), values["scale"][scale],
                                           values["orientation"][orientation])
                    yield place(sprite, classes[4], classes[5]).reshape(-1, IMAGE, IMAGE)


def render_images(grid: Mapping[str, Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 64, 64) uint8, classes (N, 6) int64) of a grid, in memory: for small grids."""
    classes = grid_classes(grid)
    images = np.concatenate(list(_image_blocks(classes)))
    return images, _latent_classes(classes)


def _latent_classes(classes: list[np.ndarray]) -> np.ndarray:
    combos = index_order_classes(tuple(len(c) for c in classes))
    return np.stack([c[combos[:, k]] for k, c in enumerate(classes)], axis=1)


def render_dsprites(out: Path, grid: Mapping[str, Sequence[int]] | None = None) -> Path:
    """Write the clone to `out` (npz, original schema); `grid` renders only some classes of some factors.

    A reduced grid keeps the original class indices and the full metadata, so its rows read like a
    subset of the full dataset. The file appears only when complete (written to a temporary, renamed).
    """
    out = Path(out)
    classes = grid_classes(grid)
    latent_classes = _latent_classes(classes)
    values = possible_values()
    latent_values = np.stack([values[name][latent_classes[:, k]] for k, name in enumerate(NAMES)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(out)  # of a render that was killed
    tmp = temporary_path(out)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            images = counted(_image_blocks(classes), len(latent_classes), f"rendering {out.name}", " images")
            _write_stream(archive, "imgs", (len(latent_classes), IMAGE, IMAGE), np.uint8, images)
            _write_array(archive, "latents_classes", latent_classes)
            _write_array(archive, "latents_values", latent_values)
            _write_array(archive, "metadata", np.array(metadata(), dtype=object))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=True) as stream:
        np.lib.format.write_array(stream, array, allow_pickle=True)


def _write_stream(archive: zipfile.ZipFile, name: str, shape: tuple[int, ...], dtype,
                  blocks: Iterator[np.ndarray]) -> None:
    """An .npy member written block by block, as np.save would write the concatenated blocks."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    written = 0
    with archive.open(f"{name}.npy", "w", force_zip64=True) as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        for block in blocks:
            stream.write(np.ascontiguousarray(block, dtype=dtype).tobytes())
            written += len(block)
    if written != shape[0]:
        raise RuntimeError(f"wrote {written} rows of {name}, expected {shape[0]}")
