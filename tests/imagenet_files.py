"""Tiny ImageNet folders with real ILSVRC2012 validation file names, and ImageNet-X annotation files, for tests
that read them through the real datamodule."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from idexp.data.imagenet_x import FACTORS, class_index, read_annotations


def write_image(path: Path, brightness: float | None = None, size: int = 40) -> None:
    """A random-texture RGB JPEG, seeded by its name; its mean pixel follows `brightness` in [0, 1] when given."""
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    level = 255 * brightness if brightness is not None else rng.uniform(60, 200)
    pixels = np.clip(level + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, quality=90)


def write_imagenet(root: Path, val_files: list[str], val_classes: list[int], brightness: list[float] | None = None,
                   train_per_class: int = 2, flat_val: bool = False, size: int = 40) -> Path:
    """`root/val/<wnid>/<name>` (or flat `root/val/<name>` with `root/val_labels.csv`) and
    `root/train/<wnid>/<wnid>_<k>.JPEG` for every class present; returns `root`."""
    wnid = {index: name for name, index in class_index().items()}
    for i, (name, label) in enumerate(zip(val_files, val_classes)):
        folder = root / "val" if flat_val else root / "val" / wnid[label]
        write_image(folder / name, None if brightness is None else brightness[i], size)
    if flat_val:
        pd.DataFrame({"file_name": val_files, "label": val_classes}).to_csv(root / "val_labels.csv", index=False)
    for label in sorted(set(val_classes)):
        for k in range(train_per_class):
            write_image(root / "train" / wnid[label] / f"{wnid[label]}_{k}.JPEG", size=size)
    return root


def annotated_val_files(k: int, seed: int = 0) -> tuple[list[str], list[int], pd.DataFrame]:
    """k real annotated validation images (prototypes excluded), sorted by file name: names, classes, rows."""
    annotations = read_annotations()
    rows = np.sort(np.random.default_rng(seed).choice(len(annotations), k, replace=False))
    frame = annotations.iloc[rows].sort_values("file_name").reset_index(drop=True)
    return frame.file_name.tolist(), frame["class"].tolist(), frame


def write_annotations(path: Path, frame: pd.DataFrame) -> Path:
    """An annotation file in the official jsonl schema (justification and one_word left empty if absent)."""
    rows = frame.copy()
    for column in ("justification", "one_word"):
        if column not in rows:
            rows[column] = ""
    rows[["file_name", "class", *FACTORS, "justification", "one_word"]].to_json(path, orient="records", lines=True)
    return path
