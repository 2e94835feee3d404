"""The ImageNet datamodule on real JPEG folders with real ILSVRC2012 file names, joined to the real packaged
ImageNet-X annotations: labels, batches, preprocessing, the probe's data, and every user-facing error."""
from __future__ import annotations

import logging
import shutil

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from idexp.config import ConfigError
from idexp.data.factor_images import ShuffledBatches
from idexp.data.imagenet import ImageNetDataModule
from idexp.data.imagenet_x import FACTORS, annotation_dir, read_annotations, val_labels
from tests.imagenet_files import annotated_val_files, write_annotations, write_imagenet

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


@pytest.fixture(scope="module")
def annotated():
    names, classes, frame = annotated_val_files(12, seed=1)
    assert 0 < sum(c >= 500 for c in classes) < len(classes)  # both sides of the class binarisation
    return names, classes, frame


@pytest.fixture(scope="module")
def others():
    """Two prototype images (annotated, but dropped by default) and two validation images ImageNet-X lacks."""
    labels = val_labels()
    prototypes = pd.read_csv(annotation_dir() / "prototypical_paths.csv").file_name.tolist()[:2]
    listed = set(pd.read_json(annotation_dir() / "imagenet_x_val_top_factor.jsonl", lines=True).file_name)
    unannotated = sorted(name for name in labels if name not in listed)[:2]
    return prototypes, unannotated, labels


def _config_error(call, *words: str) -> str:
    with pytest.raises(ConfigError) as error:
        call()
    message = str(error.value)
    assert "Fix:" in message
    for word in words:
        assert word in message
    return message


def test_folder_and_flat_layouts_give_the_standard_labels(tmp_path, annotated):
    names, classes, _ = annotated
    folder = ImageNetDataModule(str(write_imagenet(tmp_path / "folder", names, classes)))
    flat_root = write_imagenet(tmp_path / "flat", names[::-1], classes[::-1], flat_val=True)
    flat = ImageNetDataModule(str(flat_root), val_labels=str(flat_root / "val_labels.csv"))
    packaged = ImageNetDataModule(str(flat_root))  # the package's labels of all 50,000 validation files
    assert folder.val_names == flat.val_names == packaged.val_names == names  # sorted by file name
    for dm in (folder, flat, packaged):
        assert dm.val[1].tolist() == classes


def test_a_subset_of_classes_keeps_standard_indices(tmp_path, others):
    labels = others[2]
    chosen = {3: None, 517: None, 999: None}
    for name, label in sorted(labels.items()):
        if label in chosen and chosen[label] is None:
            chosen[label] = name
    root = write_imagenet(tmp_path, list(chosen.values()), list(chosen), train_per_class=2)
    dm = ImageNetDataModule(str(root), batch_size=2)
    assert sorted(dm.val[1].tolist()) == [3, 517, 999]
    assert dm.train[1].tolist() == [3, 3, 517, 517, 999, 999]
    seen = torch.cat([batch["label"] for batch in dm.train_dataloader()])
    assert sorted(seen.tolist()) == [3, 3, 517, 517, 999, 999]
    # `subset`: a seeded fraction of the training files, the same each time
    half = [ImageNetDataModule(str(root), subset=0.5, seed=4).train[0].tolist() for _ in range(2)]
    assert len(half[0]) == 3 and half[0] == half[1]


def test_batches_stay_uint8_until_transferred_then_are_normalised(tmp_path, annotated):
    names, classes, _ = annotated
    dm = ImageNetDataModule(str(write_imagenet(tmp_path, names, classes)), batch_size=4)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        batch = next(iter(loader))
        assert batch["x"].dtype == torch.uint8 and batch["x"].shape == (4, 3, 224, 224)
        assert batch["label"].dtype == torch.int64 and batch["label"].shape == (4,)
        raw = batch["x"].clone()
        out = dm.on_after_batch_transfer(batch, 0)
        assert out["x"].dtype == torch.float32 and out["x"].shape == (4, *[3, 224, 224])
        torch.testing.assert_close(out["x"], (raw.float() / 255 - MEAN) / STD)
    val = next(iter(dm.val_dataloader()))
    assert val["label"].tolist() == classes[:4]  # in file-name order


def test_training_batches_are_reshuffled_every_epoch(tmp_path, annotated):
    names, classes, _ = annotated
    root = write_imagenet(tmp_path, names, classes, train_per_class=2)
    sampler = ImageNetDataModule(str(root), batch_size=4, seed=3).train_dataloader().batch_sampler
    assert isinstance(sampler, ShuffledBatches) and len(sampler) == 6
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second and sorted(sum(first, [])) == sorted(sum(second, [])) == list(range(24))
    again = ImageNetDataModule(str(root), batch_size=4, seed=3).train_dataloader().batch_sampler
    assert list(again) == first  # the same seed, the same epoch: the same order


class _Recorder(L.LightningModule):
    """Records each training batch's labels and input type, taking one step on a single weight."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, list[int], torch.dtype]] = []

    def training_step(self, batch: dict, index: int) -> torch.Tensor:
        self.seen.append((self.current_epoch, batch["label"].tolist(), batch["x"].dtype))
        return self.weight * batch["x"].mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_real_fit_reshuffles_every_epoch(tmp_path, annotated):
    names, classes, _ = annotated
    dm = ImageNetDataModule(str(write_imagenet(tmp_path, names, classes, train_per_class=2)), batch_size=8, seed=3)
    module = _Recorder()
    L.Trainer(max_epochs=2, accelerator="cpu", use_distributed_sampler=False, logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False).fit(module, datamodule=dm)
    epochs = [sum((labels for epoch, labels, _ in module.seen if epoch == e), []) for e in (0, 1)]
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1]) == sorted(classes * 2)
    assert {dtype for *_, dtype in module.seen} == {torch.float32}  # normalised on the device by the datamodule


def test_probe_data_joins_the_packaged_annotations(tmp_path, annotated, others, caplog):
    names, classes, frame = annotated
    prototypes, unannotated, labels = others
    extra = prototypes + unannotated
    brightness = list(np.linspace(0.1, 0.9, len(names))) + [0.5] * len(extra)
    root = write_imagenet(tmp_path, names + extra, classes + [labels[n] for n in extra], brightness, train_per_class=0)
    with caplog.at_level(logging.INFO, logger="idexp.data.imagenet"):  # joined when built: bad input stops early
        dm = ImageNetDataModule(str(root), batch_size=5, loader={"num_workers": 2})
    data = dm.probe_data(torch.device("cpu"))
    assert "12 of the 16 validation images" in caplog.text
    assert data.score is None and data.fit.name == "annotated validation images"
    assert [f.name for f in data.factors] == ["class", *FACTORS] and {f.kind for f in data.factors} == {"binary"}
    assert dm.probe_files == data.fit.ids == names  # prototypes dropped, unannotated images left out
    assert data.fit.targets.dtype == np.int64 and data.fit.targets.shape == (12, 17)
    np.testing.assert_array_equal(data.fit.targets[:, 0], (frame["class"] >= 500).astype(int))
    np.testing.assert_array_equal(data.fit.targets[:, 1:], frame[list(FACTORS)].to_numpy())
    batches = list(data.fit.inputs)
    assert len(batches) == len(data.fit.inputs) == 3
    images = torch.cat(batches)
    assert images.dtype == torch.float32 and images.shape == (12, 3, 224, 224) and images.device.type == "cpu"
    brightness_seen = (images * STD + MEAN).mean(dim=(1, 2, 3))  # the images arrive in the targets' order
    assert torch.all(brightness_seen.diff() > 0)
    assert abs(brightness_seen[0].item() - 0.1) < 0.05 and abs(brightness_seen[-1].item() - 0.9) < 0.05


def test_a_custom_annotation_file_and_probe_images(tmp_path, annotated, others):
    names, classes, frame = annotated
    prototypes, _, labels = others
    custom = pd.concat([frame, read_annotations(str(annotation_dir() / "imagenet_x_val_top_factor.jsonl"))
                        .set_index("file_name").loc[prototypes].reset_index()], ignore_index=True)
    custom[list(FACTORS)] = 1 - custom[list(FACTORS)]  # not the packaged values
    path = write_annotations(tmp_path / "mine.jsonl", custom)
    root = write_imagenet(tmp_path / "imagenet", names + prototypes, classes + [labels[n] for n in prototypes],
                          train_per_class=0)
    dm = ImageNetDataModule(str(root), annotations=str(path), probe_fit=5, batch_size=2)
    data = dm.probe_data(torch.device("cpu"))
    expected = custom.sort_values("file_name").iloc[:5]  # prototypes count: the user chose the file
    assert dm.probe_files == expected.file_name.tolist() and set(prototypes) <= set(custom.file_name)
    np.testing.assert_array_equal(data.fit.targets[:, 1:], expected[list(FACTORS)].to_numpy())
    shutil.rmtree(root / "val")  # nothing was read from the images before the probe iterates ...
    with pytest.raises(FileNotFoundError):
        next(iter(data.fit.inputs))  # ... which is when they are opened


def test_bad_inputs_name_the_key_and_the_fix(tmp_path, annotated, others):
    names, classes, frame = annotated
    _, unannotated, labels = others
    _config_error(lambda: ImageNetDataModule(str(tmp_path / "nowhere")), "dataset.path")
    root = write_imagenet(tmp_path / "imagenet", names, classes)

    _config_error(lambda: ImageNetDataModule(str(root), input_shape=(3, 64, 64), input_dim=12288),
                  "dataset.input_shape", "[3, 224, 224]")
    _config_error(lambda: ImageNetDataModule(str(root), preprocessing="nosuchnet"), "dataset.preprocessing", "nosuchnet")

    lacking = write_annotations(tmp_path / "lacking.jsonl", frame).read_text().replace('"texture"', '"texture_"')
    (tmp_path / "lacking.jsonl").write_text(lacking)
    _config_error(lambda: ImageNetDataModule(str(root), annotations=str(tmp_path / "lacking.jsonl")), "probe.annotations",
                  "'texture'")
    _config_error(lambda: ImageNetDataModule(str(root), annotations=str(tmp_path / "absent.jsonl")), "probe.annotations",
                  "absent.jsonl")
    twice = write_annotations(tmp_path / "twice.jsonl", pd.concat([frame, frame.iloc[:1]]))
    _config_error(lambda: read_annotations(str(twice)), "probe.annotations", names[0])

    unlabelled = write_imagenet(tmp_path / "unlabelled", unannotated, [labels[n] for n in unannotated], flat_val=True)
    _config_error(lambda: ImageNetDataModule(str(unlabelled), val_labels=str(tmp_path / "lacking.jsonl")),
                  "dataset.val_labels", "['label']")
    # real validation images that ImageNet-X does not annotate: refused when built, before any training
    _config_error(lambda: ImageNetDataModule(str(unlabelled)), "dataset.path", "probe.annotations",
                  "ILSVRC2012_val_XXXXXXXX.JPEG")
    shutil.copy(next((root / "val").rglob("*.JPEG")), unlabelled / "val" / "photo.jpg")  # no label for it
    _config_error(lambda: ImageNetDataModule(str(unlabelled)), "dataset.val_labels", "photo.jpg")

    shutil.rmtree(root / "train")
    probe_only = ImageNetDataModule(str(root))  # a probe-only run needs no train/ ...
    _config_error(probe_only.train_dataloader, "dataset.path", "train/")  # ... until training asks for it
    (root / "val" / "n99999999").mkdir()
    _config_error(lambda: ImageNetDataModule(str(root)), "dataset.path", "n99999999")
    shutil.rmtree(root / "val")
    _config_error(lambda: ImageNetDataModule(str(root)), "dataset.path", "val/")
