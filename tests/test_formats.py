"""The dataset readers on tiny files in each canonical format: every image encodes its own factor
classes in its pixels, so the reader, the resize and the uint8 cache are checked end to end."""
from __future__ import annotations

import gzip
import math

import h5py
import numpy as np
import pytest
import scipy.io

from idexp.config import ConfigError
from idexp.data.factors import index_order_classes
from idexp.data.formats import cars3d, mpi3d, shapes3d, smallnorb
from idexp.data.formats.errors import DatasetFileError
from idexp.data.formats.npz import stream_rows


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))


def encode(classes: np.ndarray, size: int, channels: int = 3) -> np.ndarray:
    """(N, size, size, channels) uint8: cell k of a 4x4 grid holds class k, plus 50 per channel.

    Each cell is a quarter of the side, so an area resize to 64 keeps every cell's value exactly."""
    cell = size // 4
    images = np.zeros((len(classes), size, size), dtype=np.uint8)
    for k in range(classes.shape[1]):
        images[:, cell * (k // 4):cell * (k // 4 + 1), cell * (k % 4):cell * (k % 4 + 1)] = classes[:, k, None, None]
    return np.stack([images + 50 * c for c in range(channels)], axis=-1)


def decode(images: np.ndarray, k: int) -> np.ndarray:
    """The classes `encode` wrote, read back from (N, C, 64, 64) images; checks the channel order too."""
    centres = images[:, :, [16 * (j // 4) + 8 for j in range(k)], [16 * (j % 4) + 8 for j in range(k)]]
    assert np.array_equal(centres, centres[:, :1] + 50 * np.arange(images.shape[1])[None, :, None])
    return centres[:, 0].astype(np.int64)


def check(data, channels: int, names: tuple[str, ...]) -> None:
    """dtypes, shapes, a memory-mapped cache, and classes that round-trip through the pixels."""
    assert data.images.dtype == np.uint8 and data.classes.dtype == np.int64
    assert data.images.shape == (len(data.classes), channels, 64, 64)
    assert isinstance(data.images, np.memmap)
    assert tuple(data.names) == names
    assert np.array_equal(decode(data.images, len(names)), data.classes)


def cache_file(tmp_path, source_name: str, name: str):
    return tmp_path / "cache" / f"{source_name}.{name}.npy"


def assert_reused(read, cache) -> None:
    before = cache.stat().st_mtime_ns
    read()
    assert cache.stat().st_mtime_ns == before


def bad(read, path, source: str) -> str:
    with pytest.raises(DatasetFileError) as error:
        read()
    message = str(error.value)
    assert f"dataset.path={path}" in message and source in message
    return message


# ---------------------------------------------------------------- Shapes3D

SHAPES_SIZES = (2, 3, 2, 2, 4, 3)


def write_shapes3d(path, sizes=SHAPES_SIZES, labels_key="labels"):
    classes = index_order_classes(sizes)
    values = [np.round(np.linspace(0, 0.1 * (sizes[0] - 1), sizes[0]), 1), np.linspace(0, 0.9, sizes[1]),
              np.linspace(0.1, 0.5, sizes[2]), np.linspace(0.75, 1.25, sizes[3]), np.arange(sizes[4], dtype=float),
              np.linspace(-30, 30, sizes[5])]
    labels = np.stack([values[k][classes[:, k]] for k in range(len(sizes))], axis=1)
    with h5py.File(path, "w") as file:
        file.create_dataset("images", data=encode(classes, 64), chunks=(1, 64, 64, 3), compression="gzip")
        file.create_dataset(labels_key, data=labels)
    return values, labels


def test_shapes3d_round_trip_and_cache(tmp_path):
    path = tmp_path / "3dshapes.h5"
    values, _ = write_shapes3d(path)
    data = shapes3d.read_shapes3d(path)
    check(data, 3, shapes3d.NAMES)
    assert np.array_equal(data.classes, index_order_classes(SHAPES_SIZES))
    assert [f.kind for f in data.factors] == ["continuous"] * 4 + ["categorical", "continuous"]
    for factor, expected in zip(data.factors, values):
        assert np.allclose(factor.values, expected)
    assert data.values()[-1, 5] == 30.0
    assert_reused(lambda: shapes3d.read_shapes3d(path), cache_file(tmp_path, path.name, "images"))


def test_shapes3d_bad_files(tmp_path):
    path = tmp_path / "3dshapes.h5"
    assert "does not exist" in bad(lambda: shapes3d.read_shapes3d(path), path, shapes3d.SOURCE)
    write_shapes3d(path, labels_key="latents")
    assert "labels" in bad(lambda: shapes3d.read_shapes3d(path), path, shapes3d.SOURCE)
    _, labels = write_shapes3d(path)
    with h5py.File(path, "a") as file:
        file["labels"][0:2] = labels[[1, 0]]
    assert "C order" in bad(lambda: shapes3d.read_shapes3d(path), path, shapes3d.SOURCE)
    path.write_text("not hdf5")
    assert "HDF5" in bad(lambda: shapes3d.read_shapes3d(path), path, shapes3d.SOURCE)


# ---------------------------------------------------------------- MPI3D

MPI_SIZES = (2, 2, 1, 2, 1, 3, 4)


def test_mpi3d_round_trip_and_cache(tmp_path):
    path = tmp_path / "mpi3d_toy.npz"
    np.savez_compressed(path, images=encode(index_order_classes(MPI_SIZES), 64))
    data = mpi3d.read_mpi3d(path, sizes=MPI_SIZES)
    check(data, 3, mpi3d.NAMES)
    assert [f.kind for f in data.factors] == ["categorical"] * 5 + ["continuous"] * 2
    assert data.factors[6].values == (0.0, 1.0, 2.0, 3.0)
    assert_reused(lambda: mpi3d.read_mpi3d(path, sizes=MPI_SIZES), cache_file(tmp_path, path.name, "images"))


def test_npz_rows_stream_in_chunks(tmp_path):
    path = tmp_path / "a.npz"
    array = np.random.default_rng(0).integers(0, 255, (23, 4, 5, 3), dtype=np.uint8)
    np.savez_compressed(path, images=array)
    blocks = list(stream_rows(path, "images", 5))
    assert [rows.start for rows, _ in blocks] == [0, 5, 10, 15, 20]
    assert np.array_equal(np.concatenate([block for _, block in blocks]), array)


def test_mpi3d_bad_files(tmp_path):
    path = tmp_path / "mpi3d_real.npz"
    assert "does not exist" in bad(lambda: mpi3d.read_mpi3d(path, "real"), path, mpi3d.SOURCE)
    np.savez(path, imgs=np.zeros((48, 64, 64, 3), np.uint8))
    assert "no key images" in bad(lambda: mpi3d.read_mpi3d(path, "real"), path, mpi3d.SOURCE)
    np.savez(path, images=np.zeros((48, 64, 64, 3), np.uint8))
    message = bad(lambda: mpi3d.read_mpi3d(path, "real_complex"), path, mpi3d.SOURCE)
    assert "dataset.variant=real_complex" in message and "48 images" in message and "460800" in message
    np.savez(path, images=np.zeros((48, 64, 64), np.uint8))
    assert "(N, 64, 64, 3)" in bad(lambda: mpi3d.read_mpi3d(path, sizes=MPI_SIZES), path, mpi3d.SOURCE)
    path.write_bytes(b"not a zip")
    assert "npz" in bad(lambda: mpi3d.read_mpi3d(path), path, mpi3d.SOURCE)
    with pytest.raises(ConfigError, match="dataset.variant=sim"):
        mpi3d.read_mpi3d(path, "sim")


# ---------------------------------------------------------------- Cars3D

def write_cars_folder(folder, cars: int = 2) -> None:
    """car_00j_mesh.mat files whose views encode (elevation, azimuth, object j in list.txt order)."""
    folder.mkdir()
    order = [f"car_{j:03d}_mesh" for j in reversed(range(1, cars + 1))]
    (folder / "list.txt").write_text("\n".join(order) + "\n")
    for obj, name in enumerate(order):
        classes = index_order_classes((4, 24, 1))
        classes[:, 2] = obj
        views = encode(classes, 128).reshape(4, 24, 128, 128, 3)
        scipy.io.savemat(folder / f"{name}.mat", {"im": views.transpose(2, 3, 4, 1, 0)})


def test_cars3d_folder_and_npz_agree(tmp_path):
    folder = tmp_path / "cars"
    write_cars_folder(folder)
    data = cars3d.read_cars3d(folder)
    check(data, 3, ("elevation", "azimuth", "object_type"))
    assert np.array_equal(data.classes, index_order_classes((4, 24, 2)))
    assert [f.kind for f in data.factors] == ["continuous", "periodic", "categorical"]
    assert math.isclose(data.factors[1].values[6], math.pi / 2)
    assert_reused(lambda: cars3d.read_cars3d(folder), cache_file(tmp_path, "cars", "images64"))

    path = tmp_path / "cars3d.npz"
    np.savez_compressed(path, images=encode(index_order_classes((4, 24, 2)), 64))
    converted = cars3d.read_cars3d(path)
    assert np.array_equal(converted.classes, data.classes)
    assert np.array_equal(converted.images, data.images)


def test_cars3d_folder_without_list_sorts_names(tmp_path):
    folder = tmp_path / "cars"
    write_cars_folder(folder)
    cars3d.read_cars3d(folder)
    (folder / "list.txt").unlink()
    data = cars3d.read_cars3d(folder)  # the folder changed, so the cache is rebuilt
    stored = decode(data.images, 3)
    assert np.array_equal(stored[:, 2], 1 - data.classes[:, 2])  # car_001 was list.txt's second


def test_cars3d_bad_files(tmp_path):
    path = tmp_path / "cars3d.npz"
    assert "does not exist" in bad(lambda: cars3d.read_cars3d(path), path, cars3d.SOURCE)
    np.savez(path, images=np.zeros((100, 64, 64, 3), np.uint8))
    assert "(100, 64, 64, 3)" in bad(lambda: cars3d.read_cars3d(path), path, cars3d.SOURCE)
    folder = tmp_path / "cars"
    folder.mkdir()
    assert "no car_" in bad(lambda: cars3d.read_cars3d(folder), folder, cars3d.SOURCE)
    scipy.io.savemat(folder / "car_001_mesh.mat", {"img": np.zeros((2, 2), np.uint8)})
    assert "car_001_mesh.mat" in bad(lambda: cars3d.read_cars3d(folder), folder, cars3d.SOURCE)
    assert not list((tmp_path / "cache").glob("*"))  # no partial cache was left behind


# ---------------------------------------------------------------- SmallNORB

UINT8, INT32 = 0x1E3D4C55, 0x1E3D4C54


def matrix_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = magic if magic is not None else (UINT8 if array.dtype == np.uint8 else INT32)
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    dtype = "<u1" if array.dtype == np.uint8 else "<i4"
    return np.array([magic, array.ndim, *dims], "<i4").tobytes() + array.astype(dtype).tobytes()


def write_smallnorb(folder, counts=(12, 8), gzipped=(True, False)) -> np.ndarray:
    """The six files (training gzipped, testing plain); returns the (N, 5) classes, train then test."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    all_classes = []
    for split, count, instances, zipped in zip(smallnorb.SPLITS, counts, ([4, 6, 7, 8, 9], [0, 1, 2, 3, 5]), gzipped):
        classes = np.stack([rng.integers(0, 5, count), rng.choice(instances, count), rng.integers(0, 9, count),
                            rng.integers(0, 18, count), rng.integers(0, 6, count)], axis=1)
        left = encode(classes, 96, channels=1)[..., 0]
        dat = np.stack([left, 255 - left], axis=1)  # the right image differs, so using it shows
        info = np.stack([classes[:, 1], classes[:, 2], 2 * classes[:, 3], classes[:, 4]], axis=1).astype(np.int32)
        for part, array in (("dat", dat), ("cat", classes[:, 0].astype(np.int32)), ("info", info)):
            data = matrix_bytes(array)
            name = folder / f"{split}-{part}.mat"
            (name.with_name(name.name + ".gz").write_bytes(gzip.compress(data)) if zipped else name.write_bytes(data))
        all_classes.append(classes)
    return np.concatenate(all_classes)


def test_smallnorb_round_trip_and_cache(tmp_path):
    folder = tmp_path / "norb"
    classes = write_smallnorb(folder)
    data = smallnorb.read_smallnorb(folder)
    check(data, 1, ("category", "instance", "elevation", "azimuth", "lighting"))
    assert np.array_equal(data.classes, classes)
    assert [f.size for f in data.factors] == [5, 10, 9, 18, 6]
    assert [f.kind for f in data.factors] == ["categorical", "categorical", "continuous", "periodic", "categorical"]
    assert math.isclose(data.factors[3].values[9], math.pi)
    assert_reused(lambda: smallnorb.read_smallnorb(folder), cache_file(tmp_path, "norb", "images64"))


def test_smallnorb_bad_files(tmp_path):
    folder = tmp_path / "norb"
    assert "does not exist" in bad(lambda: smallnorb.read_smallnorb(folder), folder, smallnorb.SOURCE)
    write_smallnorb(folder, gzipped=(False, False))
    test_cat = folder / f"{smallnorb.SPLITS[1]}-cat.mat"
    cat = test_cat.read_bytes()
    test_cat.write_bytes(np.array([0x1E3D4C56], "<i4").tobytes() + cat[4:])
    assert "magic 0x1e3d4c56" in bad(lambda: smallnorb.read_smallnorb(folder), folder, smallnorb.SOURCE)
    test_cat.write_bytes(matrix_bytes(np.zeros(7, np.int32)))
    assert "for cat (7,)" in bad(lambda: smallnorb.read_smallnorb(folder), folder, smallnorb.SOURCE)
    test_cat.unlink()
    assert "lacks" in bad(lambda: smallnorb.read_smallnorb(folder), folder, smallnorb.SOURCE)
