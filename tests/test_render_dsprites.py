"""The procedural dSprites clone: deterministic binary images whose factors act as in the original."""
from __future__ import annotations

import numpy as np
import pytest

from idexp.data import render_dsprites as rd
from idexp.data.formats.dsprites import read_dsprites

SMALL = {"scale": [0, 5], "orientation": [0, 7], "posX": [0, 15, 31], "posY": [3, 30]}


def centroid(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image)
    return np.array([rows.mean(), cols.mean()])


def test_rendering_is_deterministic_and_binary():
    first, classes = rd.render_images(SMALL)
    second, _ = rd.render_images(SMALL)
    assert first.shape == (3 * 2 * 2 * 3 * 2, 64, 64) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) == {0, 1}
    assert (first.reshape(len(first), -1).sum(1) > 0).all()


def test_classes_are_in_file_order():
    _, classes = rd.render_images(SMALL)
    assert classes.shape == (24 * 3, 6)
    flat = np.ravel_multi_index(classes.T, rd.SIZES)
    assert (np.diff(flat) > 0).all()                      # C order, posY fastest
    np.testing.assert_array_equal(classes[:2, 5], [3, 30])


def test_the_three_shapes_differ():
    sprites = [rd.render_sprite(shape, 0.8, 0.3) for shape in (1, 2, 3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert (sprites[a] != sprites[b]).sum() > 10


@pytest.mark.parametrize("factor, axis", [("posX", 1), ("posY", 0)])
def test_position_moves_the_sprite(factor, axis):
    """posX moves the sprite along the columns, posY along the rows, one pixel per class."""
    other = "posY" if factor == "posX" else "posX"
    images, _ = rd.render_images({"shape": [2], "scale": [3], "orientation": [5], factor: [0, 31], other: [10]})
    shift = centroid(images[1]) - centroid(images[0])
    assert shift[axis] == pytest.approx(31)
    assert shift[1 - axis] == pytest.approx(0)


def test_scale_increases_the_pixel_count():
    for shape in (1, 2, 3):
        counts = [rd.render_sprite(shape, scale, 0.4).sum() for scale in rd.possible_values()["scale"]]
        assert np.all(np.diff(counts) > 0), (shape, counts)


def test_every_sprite_fits_inside_the_image():
    """render_sprite raises when a sprite touches its patch border; the patch spans the image at the extremes."""
    values = rd.possible_values()
    for shape in values["shape"]:
        for orientation in values["orientation"]:
            rd.render_sprite(int(shape), values["scale"][-1], orientation)
    corners, _ = rd.render_images({"scale": [5], "posX": [0, 31], "posY": [0, 31]})
    border = np.ones((64, 64), bool)
    border[1:-1, 1:-1] = False
    assert not corners[:, border].any()


def test_full_grid_size_and_metadata():
    assert np.prod([len(c) for c in rd.grid_classes()]) == 737280
    meta = rd.metadata()
    assert tuple(meta["latents_sizes"]) == rd.SIZES
    orientation = meta["latents_possible_values"]["orientation"]
    assert orientation[0] == 0 and orientation[-1] == pytest.approx(2 * np.pi)
    with pytest.raises(ValueError):
        rd.grid_classes({"colour": [0]})


def test_written_npz_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))
    path = rd.render_dsprites(tmp_path / "small.npz", grid=SMALL)
    assert not list(tmp_path.glob("*.tmp"))
    images, classes = rd.render_images(SMALL)
    data = read_dsprites(path)
    np.testing.assert_array_equal(data.classes, classes)
    np.testing.assert_array_equal(data.images[:, 0], images * 255)
    assert data.names == list(rd.NAMES)
    np.testing.assert_allclose(data.values()[:, 3], rd.possible_values()["orientation"][classes[:, 3]])
    again = rd.render_dsprites(tmp_path / "again.npz", grid=SMALL)
    assert again.read_bytes() == path.read_bytes()         # no randomness, no timestamps
    with np.load(path, allow_pickle=True) as archive:
        np.testing.assert_allclose(archive["latents_values"][:, 4], classes[:, 4] / 31)
