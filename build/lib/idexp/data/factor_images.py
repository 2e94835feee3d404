"""Feeds a finite image dataset with ground-truth factors (dSprites, Shapes3D, ...) to Lightning.

Images stay uint8 (a memory-mapped cache) until the batch reaches the training device, where they become
floats in [0, 1]; the split is the CE paper's seeded 80/10/10, after an optional seeded `subset`.
"""
from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from idexp.data.cache import open_cache, read_rows
from idexp.data.factors import FactorImages
from idexp.errors import ConfigError
from idexp.ground_truth import ProbeData, ProbeSplit

# dataset.name -> the reader of its canonical file(s) (module:function, imported when used)
READERS = {"dsprites": "idexp.data.formats.dsprites:read_dsprites", "shapes3d": "idexp.data.formats.shapes3d:read_shapes3d",
           "mpi3d": "idexp.data.formats.mpi3d:read_mpi3d", "cars3d": "idexp.data.formats.cars3d:read_cars3d",
           "smallnorb": "idexp.data.formats.smallnorb:read_smallnorb"}


def read_dataset(name: str, path: str | None, variant: str | None = None, factors: dict[str, int] | None = None) -> FactorImages:
    """The dataset `name` from its file; dSprites without a path is the procedural clone (rendered once).
    MPI3D's file holds no labels: its factor sizes are the declared `factors` (checked against the image count)."""
    if name not in READERS:
        raise ConfigError(f"dataset.name={name!r} is unknown. Fix: one of {', '.join(READERS)}.")
    clone = name == "dsprites"  # the one dataset idexp can render itself
    if path is None:
        if not clone:
            raise ConfigError(f"dataset.path is not set, and {name} has no procedural clone. Fix: dataset.path=<the {name} "
                              "file or folder> (the README's dataset table says what it holds).")
        path = procedural_dsprites()
    elif not Path(path).expanduser().exists():
        omit = ", or omit dataset.path for the procedural dSprites clone" if clone else ""
        raise ConfigError(f"dataset.path={path} does not exist. Fix: point dataset.path at the {name} file or folder "
                          f"(the README's dataset table says where to get it){omit}.")
    module, function = READERS[name].split(":")
    reader = getattr(importlib.import_module(module), function)
    options = {"variant": variant} if variant else {}
    if name == "mpi3d" and factors:
        options["sizes"] = tuple(factors.values())
    return reader(Path(path).expanduser(), **options)


def procedural_dsprites() -> Path:
    """The procedural dSprites clone in the canonical npz schema, rendered on first use into the cache folder."""
    from idexp.data.render_dsprites import render_dsprites

    path = Path(os.environ.get("IDEXP_CACHE", Path.home() / ".cache" / "idexp")) / "dsprites_procedural_64x64.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        render_dsprites(path)
    return path


def split_rows(n: int, fractions: tuple[float, float, float], subset: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint train/val/test rows: a seeded permutation, cut to `subset` of it, then split by `fractions`."""
    rows = np.random.default_rng(seed).permutation(n)[: max(1, round(n * subset))]
    train_end = round(len(rows) * fractions[0])
    val_end = train_end + round(len(rows) * fractions[1])
    return {"train": rows[:train_end], "val": rows[train_end:val_end], "test": rows[val_end:]}


class ResumesMidEpoch:
    """A datamodule whose training epochs resume where they stopped: the checkpoint keeps how many batches of
    its epoch were trained, and the resumed epoch's batches start after them (Lightning restarts the loader at
    the start of the epoch, which would replay its first batches and drop its last ones)."""

    _resume_at: tuple[int, int] | None = None  # (epoch, batches of it already trained)

    def state_dict(self) -> dict:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        return {"epoch": trainer.current_epoch, "batches_done": trainer.fit_loop.epoch_loop.batch_progress.current.processed}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" in state:
            self._resume_at = (state["epoch"], state["batches_done"])

    def shuffled_batches(self, n: int) -> ShuffledBatches:
        """The training batches, set to the epoch about to run: a loader with workers draws its first batches
        when Lightning creates its iterator, before Lightning calls `set_epoch` (a resumed run's epoch > 0)."""
        trainer = getattr(self, "trainer", None)
        epoch = trainer.fit_loop.epoch_progress.current.processed if trainer is not None else 0
        return ShuffledBatches(n, self.batch_size, self.seed, self._resume_at, epoch)


class FactorDataModule(ResumesMidEpoch, L.LightningDataModule):
    """Batches `{"x": images, "label": class of the target factor}` from a dataset with ground-truth factors.

    The constructor reads the dataset (converting it once to the uint8 cache) and checks it against what the
    config declares (`factors` with their numbers of values, `n_classes`, `input_shape`), which model and loss
    configs read as `${dataset....}`. The probe fits on up to `probe_fit` training images and scores on up
    to `probe_score` validation images; the test split is left untouched.
    """

    batch_keys = ("x", "label")

    def __init__(self, name: str, factors: dict[str, int], target: str, n_classes: int, input_shape: list[int],
                 input_dim: int, path: str | None = None, variant: str | None = None,
                 split: tuple[float, float, float] = (0.8, 0.1, 0.1), subset: float = 1.0, batch_size: int = 512,
                 seed: int = 0, probe_fit: int = 50000, probe_score: int = 20000, loader: dict | None = None) -> None:
        super().__init__()
        _check_settings(factors, target, split, subset, probe_fit, probe_score)  # before the file is read
        self.data = read_dataset(name, path, variant, dict(factors))
        _check_declared(self.data, factors, target, n_classes, input_shape, input_dim)
        self.factors = self.data.factors
        self.target = self.data.names.index(target)
        self.rows = split_rows(len(self.data), tuple(split), subset, seed)
        self.batch_size, self.seed = batch_size, seed
        self.probe_fit, self.probe_score = probe_fit, probe_score
        self.loader = dict(loader or {})

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.rows["train"], self.shuffled_batches(len(self.rows["train"])))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.rows["val"], list(_ordered_batches(len(self.rows["val"]), self.batch_size)))

    def _loader(self, rows: np.ndarray, batches) -> DataLoader:
        workers = self.loader.get("num_workers", 0)
        return DataLoader(RowBatches(self.data, rows, self.target), batch_sampler=batches, collate_fn=_as_batch,
                          num_workers=workers, pin_memory=self.loader.get("pin_memory", False) and torch.cuda.is_available(),
                          persistent_workers=workers > 0 and self.loader.get("persistent_workers", True))

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        batch["x"] = batch["x"].float().div_(255)  # on the training device: uint8 crosses the bus, not floats
        return batch

    def probe_data(self, device: torch.device) -> ProbeData:
        """Training images to fit on, validation images to score on (the CE paper's Table 4 protocol)."""
        fit = np.sort(self.rows["train"][: self.probe_fit])
        score = np.sort(self.rows["val"][: self.probe_score])
        return ProbeData(fit=ProbeSplit(self._images(fit, device), self.data.values(fit), "training images"),
                         score=ProbeSplit(self._images(score, device), self.data.values(score), "validation images"),
                         factors=self.factors)

    def _images(self, rows: np.ndarray, device: torch.device, batch: int = 1024) -> Iterator[torch.Tensor]:
        for start in range(0, len(rows), batch):
            yield torch.from_numpy(read_rows(self.data.images, rows[start:start + batch])).to(device).float().div_(255)


class RowBatches(Dataset):
    """Indexed by a whole batch of positions in `rows`: one `read_rows` of the memory-mapped cache per batch."""

    def __init__(self, data: FactorImages, rows: np.ndarray, target: int) -> None:
        self.images, self.labels, self.rows = data.images, data.classes[:, target], rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        rows = np.sort(self.rows[positions])  # ascending rows read the file sequentially, neighbours in one read
        return {"x": torch.from_numpy(read_rows(self.images, rows)),
                "label": torch.from_numpy(self.labels[rows])}

    def __getstate__(self) -> dict:
        """A worker process reopens the memory map instead of receiving a pickled copy of the images."""
        state = dict(self.__dict__)
        if isinstance(self.images, np.memmap):
            state["images"] = (self.images.filename, self.images.shape)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["images"], tuple):  # as the parent's: advised random access, read by pread
            filename, shape = state["images"]
            state["images"] = open_cache(filename)
            if state["images"].shape != tuple(shape):
                raise RuntimeError(f"the uint8 cache {filename} was replaced while this run used it: it holds "
                                   f"{state['images'].shape} images, not {tuple(shape)}. Fix: rerun.")
        self.__dict__.update(state)


class ShuffledBatches(Sampler):
    """A seeded reshuffle every epoch (Lightning calls `set_epoch`), cut into full batches; under DDP each
    rank takes every world-th batch, so ranks see disjoint data and the same number of steps."""

    def __init__(self, n: int, batch_size: int, seed: int, resume_at: tuple[int, int] | None = None,
                 epoch: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, min(batch_size, n), seed, epoch
        self.resume_at = resume_at  # (epoch, batches of it already trained): that epoch goes on after them

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> ShuffledBatches:
        """Lightning calls `set_epoch` on a batch sampler's `.sampler`, never on the batch sampler itself:
        without this, every epoch would replay epoch 0's order."""
        return self

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = _rank_and_world()
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        done = self.resume_at[1] if self.resume_at and self.resume_at[0] == self.epoch else 0
        stride = world * self.batch_size
        for start in range((done * world + rank) * self.batch_size, len(self) * stride, stride):
            yield order[start:start + self.batch_size].tolist()

    def __len__(self) -> int:
        return self.n // self.batch_size // _rank_and_world()[1]  # full batches only: BatchNorm needs > 1 image


def _ordered_batches(n: int, batch_size: int) -> Iterator[list[int]]:
    for start in range(0, n, batch_size):
        yield list(range(start, min(start + batch_size, n)))


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _as_batch(batch: dict) -> dict:
    return batch


def check_subset(subset: float) -> None:
    if not (isinstance(subset, (int, float)) and 0 < subset <= 1):
        raise ConfigError(f"dataset.subset={subset} must be a fraction in (0, 1]. Fix: e.g. dataset.subset=0.1 for a tenth.")


def _check_settings(factors: dict, target: str, split, subset: float, probe_fit: int, probe_score: int) -> None:
    """The settings that need no file."""
    if target not in factors:
        raise ConfigError(f"dataset.target={target!r} is not a factor of this dataset. "
                          f"Fix: dataset.target=<one of {', '.join(factors)}>.")
    check_subset(subset)
    values = list(split or ())
    if not (len(values) == 3 and all(isinstance(v, (int, float)) and v > 0 for v in values)
            and abs(sum(values) - 1) < 1e-6):
        raise ConfigError(f"dataset.split={values} must be three positive train/val/test fractions summing to 1. "
                          "Fix: dataset.split=[0.8,0.1,0.1].")
    for key, value in (("probe_fit", probe_fit), ("probe_score", probe_score)):
        if not (isinstance(value, int) and value >= 10):
            raise ConfigError(f"dataset.{key}={value} must be at least 10 images. Fix: e.g. dataset.{key}=20000.")


def _check_declared(data: FactorImages, factors: dict, target: str, n_classes: int, input_shape, input_dim: int) -> None:
    """The config's declarations (read by model and loss configs) must match the file."""
    found = {factor.name: factor.size for factor in data.factors}
    if dict(factors) != found:
        raise ConfigError(f"dataset.factors={dict(factors)}, but the file holds the factors {found}. "
                          "Fix: correct dataset.factors (or dataset.variant) to match the file.")
    if n_classes != found[target]:
        raise ConfigError(f"dataset.n_classes={n_classes}, but the target factor {target} has {found[target]} values. "
                          "Fix: drop the dataset.n_classes override (it follows dataset.target).")
    shape = list(data.images.shape[1:])
    if list(input_shape) != shape or input_dim != math.prod(shape):
        raise ConfigError(f"dataset.input_shape={list(input_shape)} (input_dim={input_dim}), but the images are {shape}. "
                          f"Fix: dataset.input_shape={shape}.")
