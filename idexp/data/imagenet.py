"""Feeds ImageNet (ILSVRC2012) JPEG folders to Lightning, and its ImageNet-X annotated validation images to the probe.

Labels are the standard class indices of the wnid folders (not their position among the folders present), so
a subset of classes, a pretrained head and ImageNet-X's `class` column agree. Images are decoded and cropped
in the loader workers and stay uint8 until the batch reaches the device, where they become floats normalised
with the statistics of the architecture named by `preprocessing` (its torchvision weights' own transforms).
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.transforms import functional as F

from idexp.data.factor_images import ResumesMidEpoch, _ordered_batches, _rank_and_world, check_subset
from idexp.data.factors import Factor
from idexp.data.imagenet_x import FACTORS, class_index, read_annotations, val_labels as read_val_labels
from idexp.errors import ConfigError
from idexp.ground_truth import ProbeData, ProbeSplit

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


class ImageNetDataModule(ResumesMidEpoch, L.LightningDataModule):
    """Batches `{"x": images, "label": standard class index}` from `path/train/<wnid>/` and `path/val/`.

    `val/` holds `<wnid>/` folders or flat files labelled by `val_labels` (default: the package's labels of
    the 50,000 ILSVRC2012 validation files). `train/` is only needed when training asks for its batches.
    """

    batch_keys = ("x", "label")

    def __init__(self, path: str, preprocessing: str = "resnet50", n_classes: int = 1000, input_shape=(3, 224, 224),
                 input_dim: int = 150528, val_labels: str | None = None, annotations: str | None = None,
                 class_threshold: int = 500, subset: float = 1.0, batch_size: int = 256, seed: int = 0,
                 probe_fit: int | None = None, probe_score: None = None, loader: dict | None = None,
                 name: str = "imagenet") -> None:
        super().__init__()
        check_subset(subset)
        if probe_fit is not None and (isinstance(probe_fit, bool) or not isinstance(probe_fit, int) or probe_fit < 1):
            raise ConfigError(f"dataset.probe_fit={probe_fit!r} must be a number of annotated images, or null for all "
                              "46,110. Fix: e.g. dataset.probe_fit=2000 for a check.")
        if probe_score is not None:
            raise ConfigError(f"dataset.probe_score={probe_score!r}: the ImageNet-X probe scores on its own repeated "
                              "held-out splits of the probe_fit images (probe.test_size), not on separate images. "
                              "Fix: dataset.probe_score=null (the default).")
        self.preset = _preset(preprocessing)
        _check_shape(self.preset, preprocessing, input_shape, input_dim)
        fix = "Fix: dataset.path=<the ImageNet folder holding val/ (and train/ to train)>."
        if path is None:
            raise ConfigError(f"dataset.path is not set. {fix}")
        self.root = Path(path).expanduser()
        if not self.root.is_dir():
            raise ConfigError(f"dataset.path={path} {'is not a folder' if self.root.exists() else 'does not exist'}. {fix}")
        self.val = _list_val(self.root / "val", val_labels)
        self.train = _list_folders(self.root / "train") if (self.root / "train").is_dir() else None
        if self.train is not None and subset < 1.0:  # a seeded fraction of the training files, taken once
            n = len(self.train[0])
            keep = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, round(n * subset))])
            self.train = (self.train[0][keep], self.train[1][keep])
        for files, labels in filter(None, (self.val, self.train)):
            if labels.max() >= n_classes:
                raise ConfigError(f"dataset.n_classes={n_classes}, but the images have standard class indices up to "
                                  f"{labels.max()}. Fix: dataset.n_classes=1000 (labels keep their ImageNet index).")
        self.eval_transform = T.Compose([T.Resize(self.preset.resize_size, self.preset.interpolation, antialias=True),
                                         T.CenterCrop(self.preset.crop_size), T.PILToTensor()])
        self.train_transform = T.Compose([T.RandomResizedCrop(self.preset.crop_size, interpolation=self.preset.interpolation,
                                                              antialias=True),
                                          T.RandomHorizontalFlip(), T.PILToTensor()])
        self.path, self.annotations, self.class_threshold = path, annotations, class_threshold
        self.batch_size, self.seed, self.probe_fit = batch_size, seed, probe_fit
        self.loader = dict(loader or {})
        self.probe_files: list[str] = []
        self.annotated = self._join_annotations()

    @property
    def val_names(self) -> list[str]:
        """The validation images' base names, in loader order."""
        return [os.path.basename(name.decode()) for name in self.val[0]]

    def train_dataloader(self) -> DataLoader:
        if self.train is None:
            raise ConfigError(f"dataset.path={self.path!r} has no train/ folder; training reads train/<wnid>/*.JPEG. "
                              "Fix: point dataset.path at a folder holding train/ and val/, or train=false to only probe.")
        files, labels = self.train
        return self._loader(ImageFiles(self.root / "train", files, labels, self.train_transform),
                            self.shuffled_batches(len(files)))

    def val_dataloader(self) -> DataLoader:
        files, labels = self.val
        rank, world = _rank_and_world()  # under DDP each rank validates its own share of the batches
        return self._loader(ImageFiles(self.root / "val", files, labels, self.eval_transform),
                            list(_ordered_batches(len(files), self.batch_size))[rank::world])

    def _loader(self, dataset: Dataset, batches, persistent: bool = True) -> DataLoader:
        workers = self.loader.get("num_workers", 0)
        return DataLoader(dataset, batch_sampler=batches, num_workers=workers,
                          pin_memory=self.loader.get("pin_memory", False) and torch.cuda.is_available(),
                          persistent_workers=persistent and workers > 0 and self.loader.get("persistent_workers", True))

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        batch["x"] = self._normalise(batch["x"])  # on the training device: uint8 crosses the bus, not floats
        return batch

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x.float().div_(255), self.preset.mean, self.preset.std, inplace=True)

    def _join_annotations(self) -> pd.DataFrame:
        """The annotated validation images (by file name), checked when the datamodule is built: a bad
        annotation file or an empty join stops a run before training, not after it."""
        annotations = read_annotations(self.annotations)
        names = self.val_names
        joined = annotations[annotations.file_name.isin(set(names))].sort_values("file_name")
        log.info("ImageNet-X: %d of the %d validation images in %s are annotated (%d annotations)",
                 len(joined), len(names), self.root / "val", len(annotations))
        if joined.empty:
            raise ConfigError(
                f"dataset.path={self.path!r}, probe.annotations={self.annotations!r}: none of the {len(annotations)} "
                f"annotated file names (e.g. {annotations.file_name.iloc[0] if len(annotations) else '-'}) are in "
                f"{self.root / 'val'} (e.g. {names[0]}); ImageNet-X annotates the ILSVRC2012 validation images "
                "ILSVRC2012_val_XXXXXXXX.JPEG. Fix: point dataset.path at the ILSVRC2012 folder whose val/ holds them "
                "(flat or in wnid folders), or probe.annotations at annotations of your images.")
        return joined.iloc[: self.probe_fit] if self.probe_fit else joined

    def probe_data(self, device: torch.device) -> ProbeData:
        """The first `probe_fit` (all when null) ImageNet-X annotated validation images with their binarised class
        and 16 factors. The scorer draws its own held-out splits of them, so there are no separate score images."""
        joined = self.annotated
        position = {name: i for i, name in enumerate(self.val_names)}
        rows = np.array([position[name] for name in joined.file_name], dtype=np.int64)
        disagree = int((self.val[1][rows] != joined["class"].to_numpy()).sum())
        if disagree:  # a wrong label file or misplaced folder; the probe uses the annotation's class
            log.warning("ImageNet-X: %d annotated images have another class in the annotations than in %s",
                        disagree, self.root / "val")
        targets = np.column_stack([joined["class"].to_numpy() >= self.class_threshold,
                                   joined[list(FACTORS)].to_numpy()]).astype(np.int64)
        self.probe_files = joined.file_name.tolist()
        factors = tuple(Factor(name, "binary", (0.0, 1.0)) for name in ["class", *FACTORS])
        inputs = ProbeBatches(self, rows, device)
        return ProbeData(fit=ProbeSplit(inputs, targets, "annotated validation images", ids=list(self.probe_files)),
                         score=None, factors=factors)


class ProbeBatches:
    """Normalised float batches of chosen validation images on `device`, decoded by the loader's workers only
    when iterated (a probe whose codes are cached never opens an image); iterable more than once."""

    def __init__(self, datamodule: ImageNetDataModule, rows: np.ndarray, device: torch.device) -> None:
        self.datamodule, self.rows, self.device = datamodule, rows, device

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.datamodule.batch_size)

    def __iter__(self):
        dm = self.datamodule
        files, labels = dm.val
        dataset = ImageFiles(dm.root / "val", files[self.rows], labels[self.rows], dm.eval_transform)
        loader = dm._loader(dataset, list(_ordered_batches(len(self.rows), dm.batch_size)), persistent=False)
        for batch in loader:  # the probe's own bar counts the images
            yield dm._normalise(batch["x"].to(self.device, non_blocking=True))


class ImageFiles(Dataset):
    """One decoded, transformed image per index. Paths are a numpy bytes array, not a list of str: forked
    workers touching Python objects' refcounts would copy a 1.28M-entry list into every worker."""

    def __init__(self, folder: Path, files: np.ndarray, labels: np.ndarray, transform) -> None:
        self.folder, self.files, self.labels, self.transform = folder, files, labels, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        with Image.open(self.folder / self.files[index].decode()) as image:
            x = self.transform(image.convert("RGB"))
        return {"x": x, "label": torch.tensor(self.labels[index], dtype=torch.int64)}


def _preset(preprocessing: str):
    """The evaluation transforms of `preprocessing`'s default torchvision weights (nothing is downloaded)."""
    from torchvision.models import get_model_weights

    try:
        preset = get_model_weights(preprocessing).DEFAULT.transforms()
    except (ValueError, KeyError, AttributeError, TypeError):
        preset = None
    if not all(hasattr(preset, name) for name in ("resize_size", "crop_size", "mean", "std")):  # ImageClassification
        raise ConfigError(f"dataset.preprocessing={preprocessing!r} is not a torchvision image classifier with weights. "
                          "Fix: an architecture such as resnet50, resnet18 or vit_b_16 (it follows model.architecture).")
    return preset


def _check_shape(preset, preprocessing: str, input_shape, input_dim: int) -> None:
    shape = [3, preset.crop_size[0], preset.crop_size[0]]
    if list(input_shape) != shape or input_dim != math.prod(shape):
        raise ConfigError(f"dataset.input_shape={list(input_shape)} (input_dim={input_dim}), but {preprocessing}'s "
                          f"preprocessing crops {shape}. "
                          f"Fix: dataset.input_shape={shape} and dataset.input_dim={math.prod(shape)}.")


def _images(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return [entry.name for entry in entries if entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)]


def _list_folders(split: Path) -> tuple[np.ndarray, np.ndarray]:
    """Files `<wnid>/<name>` (sorted) under `split`, labelled with the wnid's standard class index."""
    index = class_index()
    with os.scandir(split) as entries:
        folders = sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))
    unknown = [name for name in folders if name not in index]
    if unknown:
        raise ConfigError(f"dataset.path: {split} holds folders that are no ImageNet wnid: {unknown[:5]}. "
                          f"Fix: name each class folder by its wnid (e.g. n01440764), or move the others out of {split}.")
    files, labels = [], []
    for folder in folders:
        names = sorted(_images(split / folder))
        files += [f"{folder}/{name}" for name in names]
        labels += [index[folder]] * len(names)
    if not files:
        raise ConfigError(f"dataset.path: {split} holds no images in wnid folders. "
                          f"Fix: put the images in {split}/<wnid>/ (.JPEG, .jpg or .png).")
    return _paths(files), np.array(labels, dtype=np.int64)


def _list_val(val: Path, labels_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Validation files sorted by base name (the same order for both layouts), with their standard labels."""
    if not val.is_dir():
        raise ConfigError(f"dataset.path={str(val.parent)!r} has no val/ folder. Fix: put the ILSVRC2012 validation "
                          f"images in {val}/ (flat, or in <wnid>/ folders).")
    flat = sorted(_images(val))
    if not flat:  # val/<wnid>/<name>
        files, labels = _list_folders(val)
        names = [os.path.basename(name.decode()) for name in files]
        if len(set(names)) < len(names):  # the probe joins annotations to images by base name
            raise ConfigError(f"dataset.path: {val} holds the same file name in two wnid folders. "
                              "Fix: keep one copy of each validation image.")
        order = np.argsort(names, kind="stable")
        return files[order], labels[order]
    known = read_val_labels(labels_path)
    unlabelled = [name for name in flat if name not in known]
    if unlabelled:
        raise ConfigError(f"dataset.val_labels={labels_path!r} has no label for {len(unlabelled)} of the {len(flat)} "
                          f"images in {val} (e.g. {unlabelled[0]}). Fix: dataset.val_labels=<a csv file_name,label "
                          "covering them>, or put the validation images in val/<wnid>/ folders.")
    return _paths(flat), np.array([known[name] for name in flat], dtype=np.int64)


def _paths(names: list[str]) -> np.ndarray:
    return np.array([name.encode() for name in names], dtype=np.bytes_)
