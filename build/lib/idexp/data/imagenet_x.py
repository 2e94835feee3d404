"""ImageNet-X annotations (Idrissi et al. 2023): 16 binary factors of variation per ImageNet validation image.

The files come with the `imagenet-x` package. The default annotations are the ones the CE paper used,
`imagenet_x.load_annotations()`'s defaults: the validation images, top factor only, prototypes dropped
(46,110 images).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from idexp.errors import ConfigError

# the factor columns, in the order of the official files
FACTORS = ("multiple_objects", "background", "color", "brighter", "darker", "style", "larger", "smaller",
           "object_blocking", "person_blocking", "partial_view", "pattern", "pose", "shape", "subcategory", "texture")


def annotation_dir() -> Path:
    """The package's annotation folder (the wheel is unpacked, so it is a real folder)."""
    from imagenet_x.utils import get_annotation_path

    return Path(str(get_annotation_path()))


def read_annotations(path: str | None = None) -> pd.DataFrame:
    """`file_name` (base name), `class` (0-999) and the 16 factors (0/1), one row per annotated image.

    Without a path: the packaged val/top-factor file minus the prototype images, as `load_annotations()`.
    A given jsonl (or csv) file in the official schema is used as it is: the user chose its rows.
    """
    if path is None:
        frame = _read_table(annotation_dir() / "imagenet_x_val_top_factor.jsonl", "probe.annotations", path)
        prototypes = pd.read_csv(annotation_dir() / "prototypical_paths.csv").file_name
        frame = frame[~frame.file_name.isin(prototypes)]
    else:
        frame = _read_table(Path(path).expanduser(), "probe.annotations", path)
    columns = ["file_name", "class", *FACTORS]
    _require_columns(frame, columns, "probe.annotations", path, "an ImageNet-X annotation file")
    frame = frame[columns].copy()
    frame["file_name"] = frame.file_name.astype(str).map(os.path.basename)  # joined to images by base name
    try:
        frame[columns[1:]] = frame[columns[1:]].astype("int64")
    except (TypeError, ValueError) as error:
        raise ConfigError(f"probe.annotations={path!r} holds a missing or non-integer class or factor value ({error}). "
                          "Fix: give every row an integer class and 0/1 factors, as the official files do.") from None
    if not frame[list(FACTORS)].isin((0, 1)).all().all():
        raise ConfigError(f"probe.annotations={path!r} has factor values other than 0 and 1. "
                          "Fix: ImageNet-X factors are binary; give 0/1 values.")
    _require_unique(frame.file_name, "probe.annotations", path)
    return frame.reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _class_index() -> tuple[tuple[str, int], ...]:
    lines = (annotation_dir() / "imagenet_labels.txt").read_text().splitlines()
    return tuple((line.split(",", 1)[0].strip(), index) for index, line in enumerate(lines) if line.strip())


def class_index() -> dict[str, int]:
    """wnid -> the standard ImageNet class index (the order of pretrained heads and of ImageNet-X's `class`)."""
    return dict(_class_index())


def val_labels(path: str | None = None) -> dict[str, int]:
    """Validation file base name -> class index, from `file_name,label` (default: the package's 50,000 labels)."""
    file = annotation_dir() / "filename_label.csv" if path is None else Path(path).expanduser()
    frame = _read_table(file, "dataset.val_labels", path)
    _require_columns(frame, ["file_name", "label"], "dataset.val_labels", path, "a csv file with columns file_name,label")
    names = frame.file_name.astype(str).map(os.path.basename)
    _require_unique(names, "dataset.val_labels", path)
    try:
        labels = frame.label.astype("int64")
    except (TypeError, ValueError) as error:
        raise ConfigError(f"dataset.val_labels={path!r} holds a missing or non-integer label ({error}). "
                          "Fix: give every file its class index 0-999.") from None
    return dict(zip(names, labels.tolist()))


def _read_table(file: Path, key: str, value) -> pd.DataFrame:
    if not file.is_file():
        raise ConfigError(f"{key}={value!r}: the file {file} does not exist. "
                          f"Fix: point {key} at an existing file, or leave it null for the packaged one.")
    try:
        return pd.read_csv(file) if file.suffix.lower() == ".csv" else pd.read_json(file, lines=True)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        kind = "csv" if file.suffix.lower() == ".csv" else "jsonl"
        raise ConfigError(f"{key}={value!r}: {file} cannot be read as {kind} ({error}). "
                          "Fix: a .jsonl file of one JSON object per line, or a .csv file with a header row.") from None


def _require_columns(frame: pd.DataFrame, columns: list[str], key: str, value, what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ConfigError(f"{key}={value!r} lacks the columns {missing} (it has {list(frame.columns)}). "
                          f"Fix: {what}, with the columns {columns}.")


def _require_unique(names: pd.Series, key: str, value) -> None:
    duplicated = names[names.duplicated()]
    if len(duplicated):
        raise ConfigError(f"{key}={value!r} lists {len(duplicated)} file names twice (e.g. {duplicated.iloc[0]}). "
                          "Fix: one row per image file.")
