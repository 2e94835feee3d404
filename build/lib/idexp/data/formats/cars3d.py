"""Cars3D: the `data/cars` folder of Reed et al.'s nips2015-analogy-data.tar.gz, or a converted npz.

Folder: 183 `car_*_mesh.mat` files, each with key `im` (128, 128, 3, 24, 4) uint8 (H, W, RGB, 24
azimuths, 4 elevations), taken in `list.txt` order when the folder has one, else sorted by name.
Converted npz (DISENT/DCF): key `images` (17568, S, S, 3) uint8. Both are laid out in C order over
(elevation 4, azimuth 24, object 183), so both give the same classes, which come from that index
order, never from scaled float values. Images are resized to 64x64 by area averaging (torch
`interpolate(mode="area")`: an exact 2x2 mean for 128 -> 64) and cached as (N, 3, 64, 64) uint8; the
folder's cache is keyed on the folder.
"""
from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F

from idexp.data.cache import cached_images
from idexp.data.factors import Factor, FactorImages, index_order_classes
from idexp.data.formats.errors import missing_or_malformed
from idexp.data.formats.npz import images_header, stream_rows

EXPECTED = ("the Cars3D folder data/cars (car_*_mesh.mat files with key im (128, 128, 3, 24, 4) uint8, optional "
            "list.txt), or an npz with key images (17568, 64, 64, 3) uint8 in (elevation, azimuth, object) C order")
SOURCE = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (unpack it; its data/cars folder)"
ELEVATIONS, AZIMUTHS = 4, 24
MESH_SHAPE = (128, 128, 3, AZIMUTHS, ELEVATIONS)


def read_cars3d(path: Path) -> FactorImages:
    path = Path(path)
    if path.is_dir():
        folder = path.resolve()
        files = _mesh_files(folder)
        count = ELEVATIONS * AZIMUTHS * len(files)
        images = cached_images(folder, "images64", (count, 3, 64, 64), lambda out: _copy_meshes(files, out))
    else:
        count = _npz_count(path)
        images = cached_images(path, "images64", (count, 3, 64, 64), lambda out: _copy_npz(path, out))
    objects = count // (ELEVATIONS * AZIMUTHS)
    factors = (Factor("elevation", "continuous", tuple(float(c) for c in range(ELEVATIONS))),
               Factor("azimuth", "periodic", tuple(2 * math.pi * c / AZIMUTHS for c in range(AZIMUTHS))),
               Factor("object_type", "categorical", tuple(float(c) for c in range(objects))))
    return FactorImages(images, index_order_classes((ELEVATIONS, AZIMUTHS, objects)), factors)


def area_resize(block: np.ndarray, size: int = 64) -> np.ndarray:
    """(n, C, H, W) uint8 -> (n, C, size, size) uint8, each pixel the mean of the area it covers (no aliasing)."""
    if block.shape[-2:] == (size, size):
        return block
    pixels = torch.from_numpy(np.ascontiguousarray(block)).float()
    return F.interpolate(pixels, size=(size, size), mode="area").round_().clamp_(0, 255).to(torch.uint8).numpy()


def _mesh_files(folder: Path) -> list[Path]:
    """The car files in object order: list.txt's (names with or without `.mat`), else sorted names."""
    listing = folder / "list.txt"
    if listing.exists():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        files = [folder / (name if name.endswith(".mat") else f"{name}.mat") for name in names]
        absent = [file.name for file in files if not file.exists()]
        if absent:
            raise missing_or_malformed(folder, EXPECTED, SOURCE, f"lacks {len(absent)} files named in list.txt ({absent[0]}, ...)")
    else:
        files = sorted(folder.glob("car_*_mesh.mat"))
    if not files:
        raise missing_or_malformed(folder, EXPECTED, SOURCE, "holds no car_*_mesh.mat files")
    return files


def _copy_meshes(files: list[Path], out: np.ndarray) -> None:
    """One car at a time into its (elevation, azimuth) slots of the (elevation, azimuth, object) layout."""
    layout = out.reshape(ELEVATIONS, AZIMUTHS, len(files), *out.shape[1:])
    for car, file in enumerate(files):
        views = _load_mesh(file).transpose(4, 3, 2, 0, 1).reshape(-1, 3, *MESH_SHAPE[:2])
        layout[:, :, car] = area_resize(views).reshape(ELEVATIONS, AZIMUTHS, 3, 64, 64)


def _bad(file: Path, problem: str):
    """The error for one bad file of the folder (dataset.path is the folder)."""
    return missing_or_malformed(file.parent, EXPECTED, SOURCE, f"holds {file.name}, which {problem}")


def _load_mesh(file: Path) -> np.ndarray:
    try:
        im = scipy.io.loadmat(file).get("im")
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as error:
        raise _bad(file, f"is not a readable .mat file ({error})") from None
    if im is None or im.shape != MESH_SHAPE or im.dtype != np.uint8:
        found = "no key im" if im is None else f"im {im.shape} {im.dtype}"
        raise _bad(file, f"has {found}, not im {MESH_SHAPE} uint8")
    return im


def _npz_count(path: Path) -> int:
    """N, from the `images` header, after checking it is (N, S, S, 3) uint8 with N a multiple of 4 * 24."""
    shape, dtype = images_header(path, EXPECTED, SOURCE)
    views = ELEVATIONS * AZIMUTHS
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or dtype != np.uint8 or not shape[0] or shape[0] % views:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"holds images {shape} {dtype}, not (objects * {views}, 64, 64, 3) uint8")
    return shape[0]


def _copy_npz(path: Path, out: np.ndarray) -> None:
    try:
        for rows, block in stream_rows(path, "images", 2048):
            out[rows] = area_resize(block.transpose(0, 3, 1, 2))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise missing_or_malformed(path, EXPECTED, SOURCE, f"has unreadable images ({error})") from None
