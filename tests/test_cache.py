"""The uint8 image cache on real files in the canonical formats: a cache that is not the complete conversion of
its source (truncated, damaged, without manifest, of another source version) is rebuilt or refused by name,
never read; a killed conversion's temporary is removed by the next one, a live one's never; the memory map
is advised for random access and rows are read without mapping them."""
from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from idexp.data import cache
from idexp.data.cache import CacheError, cache_path, cached_images, manifest_path, read_rows, temporary_path
from idexp.data.factor_images import FactorDataModule, RowBatches
from idexp.data.formats.dsprites import read_dsprites
from tests.conftest import run_cli_in_process
from tests.dislib_files import dsprites_overrides, write_dsprites

SIZES = (1, 3, 2, 2, 8, 8)
FACTORS = dict(zip(("color", "shape", "scale", "orientation", "posX", "posY"), SIZES))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def dsprites(tmp_path):
    """A tiny dSprites npz, its images as the cache must hold them, and its cache file (converted once)."""
    path = write_dsprites(tmp_path / "dsprites.npz")
    with np.load(path) as archive:
        expected = archive["imgs"][:, None] * 255
    read_dsprites(path)
    return path, expected, cache_path(path, "imgs")


def _zero(path):
    images = np.load(path, mmap_mode="r+")
    images[:] = 0
    images.flush()


def _rewrite_source(path):
    """Another version of the file (other images), dated before its cache was made, as `cp -p` would."""
    before = path.stat().st_mtime_ns - 10**9
    write_dsprites(path)
    with np.load(path, allow_pickle=True) as archive:
        arrays = dict(archive)
    arrays["imgs"] = arrays["imgs"][::-1].copy()
    np.savez_compressed(path, **arrays)
    os.utime(path, ns=(before, before))
    with np.load(path) as archive:
        return archive["imgs"][:, None] * 255


DAMAGE = {
    "truncated": (lambda path: os.truncate(path, path.stat().st_size // 2), "is truncated"),
    "zeroed": (_zero, "has damaged contents"),
    "extended": (lambda path: path.open("ab").write(b"\0" * 4096), "bytes long"),
    "header": (lambda path: path.open("r+b").write(b"garbage!"), "unreadable .npy header"),
    "no manifest": (lambda path: manifest_path(path).unlink(), "has no manifest"),
    "manifest garbage": (lambda path: manifest_path(path).write_text("{"), "unreadable manifest"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_cache_that_fails_verification_is_rebuilt_with_one_line_naming_it(dsprites, caplog, damage):
    path, expected, cached = dsprites
    harm, reason = DAMAGE[damage]
    harm(cached)
    with caplog.at_level(logging.INFO, logger="idexp.data.cache"):
        data = read_dsprites(path)
    assert np.array_equal(data.images, expected)
    lines = [record for record in caplog.records if str(cached) in record.getMessage()]
    assert len(lines) == 1 and reason in lines[0].getMessage() and "rebuilding it" in lines[0].getMessage()
    assert lines[0].levelno == logging.WARNING
    assert cache.verify(path, cached, expected.shape) is None  # the rebuilt cache proves itself again


def test_a_cache_of_another_version_of_its_source_is_rebuilt_even_when_older(dsprites, caplog):
    path, _, cached = dsprites
    expected = _rewrite_source(path)
    assert path.stat().st_mtime < cached.stat().st_mtime  # a cache newer than its source is not proof enough
    with caplog.at_level(logging.INFO, logger="idexp.data.cache"):
        data = read_dsprites(path)
    assert np.array_equal(data.images, expected)
    assert "converted from another version" in caplog.text and "size, mtime_ns differ" in caplog.text


def test_a_valid_cache_is_opened_without_conversion(dsprites):
    path, expected, cached = dsprites
    before = cached.stat().st_mtime_ns, manifest_path(cached).stat().st_mtime_ns
    data = read_dsprites(path)
    assert np.array_equal(data.images, expected)
    assert (cached.stat().st_mtime_ns, manifest_path(cached).stat().st_mtime_ns) == before
    record = json.loads(manifest_path(cached).read_text())
    assert record["shape"] == list(expected.shape) and record["bytes"] == cached.stat().st_size
    assert record["source"]["size"] == path.stat().st_size and record["source"]["path"] == str(path.resolve())


def test_a_zeroed_cache_is_rebuilt_and_training_batches_are_the_real_images(dsprites):
    path, expected, cached = dsprites
    _zero(cached)
    module = FactorDataModule("dsprites", FACTORS, target="posX", n_classes=8, input_shape=[1, 64, 64],
                              input_dim=4096, path=str(path), batch_size=64, seed=0, loader={"num_workers": 0})
    assert np.array_equal(module.data.images, expected)
    batch = next(iter(module.train_dataloader()))
    assert int(batch["x"].amax(dim=(1, 2, 3)).min()) == 255  # every image holds its sprite
    columns = batch["x"][:, 0].amax(dim=1).argmax(dim=1).numpy()
    assert np.array_equal((columns - 4) // 6, batch["label"].numpy())  # ... where its posX label puts it


def test_a_cache_that_cannot_be_rebuilt_is_refused_naming_the_file_and_the_fix(dsprites):
    path, _, cached = dsprites
    os.truncate(cached, 1000)
    temporary_path(cached).mkdir()  # where this process's conversion must write: it cannot
    with pytest.raises(CacheError) as error:
        read_dsprites(path)
    message = str(error.value)
    assert f"the uint8 cache {cached} is truncated (1,000 of" in message and "could not be rebuilt" in message
    assert f"Fix: delete {cached}" in message and "mmap" not in message
    temporary_path(cached).rmdir()
    assert read_dsprites(path).images.shape == (768, 1, 64, 64)  # the fix works


def test_a_run_completes_after_its_cache_is_truncated(dsprites, tmp_path):
    path, _, cached = dsprites
    os.truncate(cached, cached.stat().st_size - 4096)
    run_dir = tmp_path / "run"
    result = run_cli_in_process([*dsprites_overrides(path), "logger=none", "trainer=cpu", "trainer.max_epochs=1",
                      "dataset.batch_size=64", "dataset.loader.num_workers=0", "model=linear",
                      f"hydra.run.dir={run_dir}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    log_text = (run_dir / "train.log").read_text() if (run_dir / "train.log").exists() else result.stdout + result.stderr
    assert f"the uint8 cache {cached} is truncated" in log_text and "rebuilding it" in log_text
    assert "mmap length" not in result.stderr + result.stdout


SLOW_CONVERSION = """
import sys, time
from pathlib import Path
from idexp.data.cache import cached_images

def fill(out):
    out[0] = 1
    print("filling", flush=True)
    time.sleep(600)

cached_images(Path(sys.argv[1]), "imgs", (768, 1, 64, 64), fill)
"""


def test_a_killed_conversions_temporary_is_removed_by_the_next_and_a_live_ones_never(tmp_path, caplog):
    path = write_dsprites(tmp_path / "dsprites.npz")
    cached = cache_path(path, "imgs")
    converter = subprocess.Popen([sys.executable, "-c", SLOW_CONVERSION, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert converter.stdout.readline().strip() == "filling"
        (live,) = cached.parent.glob(f"{cached.name}.*.{converter.pid}.*.tmp")
        read_dsprites(path)  # a conversion beside the live one (as DDP ranks)
        assert live.exists()
    finally:
        converter.send_signal(signal.SIGKILL)
        converter.wait()
    assert live.exists()  # SIGKILL: nothing cleaned up
    cached.unlink()
    with caplog.at_level(logging.INFO, logger="idexp.data.cache"):
        read_dsprites(path)
    assert not live.exists()
    assert f"removed {live}" in caplog.text and f"its process {converter.pid}" in caplog.text


def test_temporaries_of_other_hosts_go_after_an_hour_and_reused_pids_do_not_keep_them(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    cached = cache_path(path, "imgs")
    cached.parent.mkdir(parents=True)
    names = {"other host, fresh": f"{cached.name}.node7.cluster.org.4242.99.tmp",
             "other host, 2 h old": f"{cached.name}.node7.cluster.org.4243.99.tmp",
             "manifest, other host, 2 h old": f"{cached.name}.manifest.json.node7.4244.99.tmp",
             "earlier idexp, fresh": f"{cached.stem}.4245.tmp",
             "earlier idexp, 2 h old": f"{cached.stem}.4246.tmp",
             "this host, pid reused": f"{cached.name}.{cache.HOST}.{os.getpid()}.1.tmp",
             "another cache's": f"other.npz.imgs.npy.node7.4247.99.tmp"}
    for label, name in names.items():
        (cached.parent / name).write_bytes(b"x")
        if "2 h old" in label:
            os.utime(cached.parent / name, (time.time() - 7200,) * 2)
    read_dsprites(path)
    left = {label for label, name in names.items() if (cached.parent / name).exists()}
    assert left == {"other host, fresh", "earlier idexp, fresh", "another cache's"}


# ---------------------------------------------------------------- memory follows what is read

ROWS, ROW = 16384, (1, 64, 64)  # 64 MiB: large enough that read-ahead and fault-around would show


def _pattern(rows: np.ndarray) -> np.ndarray:
    return np.broadcast_to((rows % 251).astype(np.uint8)[:, None, None, None], (len(rows), *ROW))


def _fill(out) -> None:
    for rows in cache.chunks(ROWS, 2048):
        out[rows] = _pattern(np.arange(rows.start, rows.stop))


def _mappings(path) -> list[dict]:
    """Rss (kB) and VmFlags of each mapping of `path` in this process."""
    found, current = [], None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                current = {"rss": 0, "flags": []} if line.rstrip().endswith(str(path)) else None
                if current is not None:
                    found.append(current)
            elif current is not None and first == "Rss:":
                current["rss"] = int(line.split()[1])
            elif current is not None and first == "VmFlags:":
                current["flags"] = line.split()[1:]
    return found


def _on_tmpfs(path) -> bool:
    mounts = [line.split() for line in open("/proc/mounts")]
    best = max((m for m in mounts if str(path).startswith(m[1].rstrip("/") + "/")), key=lambda m: len(m[1]))
    return best[2] == "tmpfs"


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_the_cache_is_mapped_for_random_access_and_rows_are_read_without_mapping_them(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"source")
    images = cached_images(source, "images", (ROWS, *ROW), _fill)
    path = cache_path(source, "images")
    (mapping,) = _mappings(path)
    assert "rr" in mapping["flags"]  # MADV_RANDOM: a page fault reads its page, no read-around
    rows = np.sort(np.random.default_rng(0).choice(ROWS, ROWS // 50, replace=False))  # 2 %, the file in the page cache
    assert np.array_equal(read_rows(images, rows), _pattern(rows))
    assert np.array_equal(read_rows(images, rows[::-1]), _pattern(rows[::-1]))  # any order; runs of neighbours
    assert np.array_equal(read_rows(images, np.arange(100, 300)), _pattern(np.arange(100, 300)))
    assert _mappings(path)[0]["rss"] <= 8  # pread maps nothing (a fault would map 64 KB of cached neighbours)

    # a DataLoader worker reopens the map the same way (RowBatches.__setstate__)
    worker = pickle.loads(pickle.dumps(RowBatches(type("D", (), {"images": images, "classes": np.zeros((ROWS, 1), np.int64)}),
                                                  np.arange(ROWS), 0)))
    batch = worker.__getitems__(list(range(0, ROWS, 97)))
    assert np.array_equal(batch["x"].numpy(), _pattern(np.arange(0, ROWS, 97)))
    assert len(_mappings(path)) == 2 and all("rr" in m["flags"] and m["rss"] <= 8 for m in _mappings(path))

    if _on_tmpfs(path):  # tmpfs pages never leave memory: the read-through-the-map check needs a disk
        return
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache: each fault must read from disk
    os.close(fd)
    assert np.array_equal(images[rows], _pattern(rows))  # through the map: 2 % of the rows
    touched = len(rows) * 2 * 4  # kB: a 4096-byte row after the 128-byte header spans two pages
    assert _mappings(path)[0]["rss"] <= touched + 256, (_mappings(path), touched)


def test_a_conversion_shows_a_progress_bar_on_stderr_that_reaches_the_whole_file(tmp_path, capfd, monkeypatch):
    """A user waiting for a conversion sees it advance; a quick one shows nothing (here shown at once)."""
    from idexp import progress
    path = write_dsprites(tmp_path / "dsprites.npz")
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    read_dsprites(path)
    bar = capfd.readouterr().err
    mib = int(np.prod(SIZES)) * 64 * 64 / 2**20  # the uint8 cache's size
    assert "caching dsprites.npz as uint8: 100%" in bar and f"{mib:.2f}M/{mib:.2f}M" in bar
    monkeypatch.setattr(progress, "SHOW_AFTER_S", 2.0)
    read_dsprites(write_dsprites(tmp_path / "again.npz"))  # a conversion of a fraction of a second
    assert "caching" not in capfd.readouterr().err
