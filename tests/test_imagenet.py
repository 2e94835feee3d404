"""ImageNet runs end to end through the real CLI: tiny JPEG folders with real ILSVRC2012 validation names,
joined to ImageNet-X annotations; training under DDP, the probe, its feature cache, the random-projection
baseline, torchvision backbones and their weights, the Fig. 3 table, and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from idexp.config import ConfigError
from idexp.models import RandomProjection, backbone
from idexp.rescore import main as probe_cli
from tests.conftest import ROOT, compose_config, run_cli, run_cli_in_process
from tests.imagenet_files import annotated_val_files, write_annotations, write_imagenet

QUICK = ["logger=csv", "trainer=cpu", "dataset=imagenet", "dataset.loader.num_workers=0", "dataset.batch_size=16"]
# a small projection: the same baseline as the paper's 2048 dimensions, without a 1.2 GB matrix
PROJECTION = ["model=projection", "model.out_dim=256", "train=false"]


def finished(result, run_dir) -> dict:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    return record["metrics"]


@pytest.fixture(scope="module")
def brightness_folder(tmp_path_factory):
    """120 real annotated validation names whose image brightness follows `brighter` (a seeded half of them),
    with an annotation file in the official schema where `texture` is an independent seeded half."""
    root = tmp_path_factory.mktemp("imagenet")
    names, classes, frame = annotated_val_files(120, seed=3)
    rng = np.random.default_rng(0)
    frame = frame.copy()
    frame["brighter"] = rng.permutation(np.arange(120) % 2)
    frame["texture"] = rng.permutation(np.arange(120) % 2)
    brightness = np.where(frame["brighter"] == 1, 0.7, 0.35)
    write_imagenet(root, names, classes, brightness=list(brightness), train_per_class=0)
    return root, write_annotations(root / "annotations.jsonl", frame)


@pytest.fixture(scope="module")
def fig3_sweep(brightness_folder, tmp_path_factory):
    """Two feature extractors probed on the brightness folder: the input baseline and a random-init ResNet18."""
    root, annotations = brightness_folder
    sweep = tmp_path_factory.mktemp("sweep")
    common = [*QUICK, "train=false", f"dataset.path={root}", f"probe.annotations={annotations}"]
    results = {"input": run_cli_in_process([*common, *PROJECTION, f"hydra.run.dir={sweep / 'input'}"], sweep),
               "resnet18_init": run_cli_in_process([*common, "model=resnet18", f"hydra.run.dir={sweep / 'resnet18_init'}"],
                                                   sweep)}
    return sweep, results


def test_known_answer_brightness_decodes_and_an_unseen_factor_stays_at_chance(fig3_sweep):
    sweep, results = fig3_sweep
    result = results["input"]
    metrics = finished(result, sweep / "input")
    assert "120 of the 120 validation images" in result.stdout + result.stderr
    assert metrics["probe/acc/brighter"] > 0.9 and metrics["probe/pvalue/brighter"] < 1e-6
    assert abs(metrics["probe/acc/texture"] - 0.5) < 0.12 and metrics["probe/pvalue/texture"] > 0.05 / 17
    assert metrics["probe/n_fit"] == 120 and metrics["probe/n_score"] == 0
    assert not any(key.startswith("probe/baseline_") for key in metrics)  # the input baseline is its own model
    assert "ImageNet-X probe" in result.stdout and (sweep / "input" / "probe.png").exists()


def test_fig3_table_and_figure_from_the_run_folders(fig3_sweep, tmp_path):
    sweep, results = fig3_sweep
    assert finished(results["resnet18_init"], sweep / "resnet18_init")["probe/units"] >= 1
    report = subprocess.run([sys.executable, "-m", "idexp.report", str(sweep), "--table", "ce_fig3", "--out",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "table.md").read_text()
    assert "| factor | Input | ResNet18 init |" in table
    brighter = next(line for line in table.splitlines() if line.startswith("| brighter"))
    assert brighter.count("*") == 2  # decodable from both extractors at the Bonferroni level 0.05 / (2 × 17)
    # the unseen factor is at chance from the input; the 10 repetitions share their images, so on 120 images a
    # random network's chance fluctuation can pass the t-test (a property of the paper's protocol): not asserted
    texture = next(line for line in table.splitlines() if line.startswith("| texture"))
    assert "*" not in texture.split("|")[2]
    assert (tmp_path / "fig3.png").stat().st_size > 10_000


def test_a_probe_only_run_is_reprobed_from_its_config_and_cached_features(fig3_sweep):
    sweep, results = fig3_sweep
    run = sweep / "input"
    cached = (run / "probe_features" / "fit.npz").stat().st_mtime_ns
    assert probe_cli([str(run)]) == 0  # `python -m idexp.rescore RUN`, in-process
    again = json.loads((run / "rescore" / "results.json").read_text())["metrics"]
    assert again["probe/acc/brighter"] == finished(results["input"], run)["probe/acc/brighter"]
    assert (run / "probe_features" / "fit.npz").stat().st_mtime_ns == cached  # read, not recomputed


def test_packaged_annotations_join_by_file_name(tmp_path):
    names, classes, _ = annotated_val_files(24, seed=5)
    extra = ["ILSVRC2012_val_00007197.JPEG", "ILSVRC2012_val_00000014.JPEG"]  # a prototype; one ImageNet-X lacks
    root = write_imagenet(tmp_path / "imagenet", names + extra, classes + [0, 757], train_per_class=0, flat_val=True)
    result = run_cli_in_process([*QUICK, *PROJECTION, f"dataset.path={root}", f"dataset.val_labels={root / 'val_labels.csv'}",
                      f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    metrics = finished(result, tmp_path / "run")
    # the prototypes are dropped, as imagenet_x.load_annotations() does
    assert "24 of the 26 validation images" in result.stdout + result.stderr
    assert metrics["probe/n_fit"] == 24 and metrics["probe/n_positive/class"] == sum(c >= 500 for c in classes)


@pytest.mark.slow  # two ranks train a conv net; the default tier trains under DDP in test_train.py and re-probes
# from the feature cache in test_a_probe_only_run_is_reprobed_from_its_config_and_cached_features
def test_ddp_training_then_probe_and_a_reprobe_from_the_feature_cache(tmp_path):
    """One epoch of a tiny random-init conv net on two CPU ranks, the probe on rank zero; re-probing the run
    reads the cached features (the images are made unreadable first) and gives the same scores."""
    names, classes, _ = annotated_val_files(48, seed=7)
    root = write_imagenet(tmp_path / "imagenet", names, classes, train_per_class=1)
    run = tmp_path / "run"
    result = run_cli([*QUICK, "model=convnet", "loss=ce", "trainer=ddp", "trainer.accelerator=cpu",
                      "trainer.max_epochs=1", "dataset.batch_size=8", f"dataset.path={root}", f"hydra.run.dir={run}"],
                     tmp_path)
    metrics = finished(result, run)
    assert "Starting with 2 processes" in result.stdout + result.stderr and result.stdout.count("Run folder:") == 1
    assert (run / "checkpoints" / "best.ckpt").exists() and (run / "probe_features" / "fit.npz").exists()
    assert 0 <= metrics["probe/acc/class"] <= 1 and metrics["probe/units"] >= 1
    for image in (root / "val").rglob("*.JPEG"):
        image.write_bytes(b"not a jpeg")
    env = {**os.environ, "WANDB_MODE": "offline"}
    rescore = subprocess.run([sys.executable, "-m", "idexp.rescore", str(run)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
    assert rescore.returncode == 0, rescore.stderr[-3000:]
    again = json.loads((run / "rescore" / "results.json").read_text())["metrics"]
    assert again["probe/acc/class"] == metrics["probe/acc/class"]
    assert again["probe/acc/background"] == metrics["probe/acc/background"]


def test_the_fig3_preset_selects_imagenet_and_the_imagenetx_probe(tmp_path):
    cfg = compose_config(["experiment=imagenetx", "dataset.path=/data/imagenet", "model=vit_b_16"], tmp_path)
    assert cfg.table == "ce_fig3" and cfg.dataset._target_ == "idexp.data.ImageNetDataModule"
    assert cfg.dataset.preprocessing == "vit_b_16" and cfg.probe.imagenetx.repetitions == 10
    assert "dgp" not in cfg and cfg.callbacks.probe.scorers.imagenetx.solver == "batched"


def test_random_projection_is_a_fixed_seeded_linear_map():
    x = torch.rand(4, 3, 8, 8)
    first, again, other = RandomProjection(192, 32, seed=1), RandomProjection(192, 32, seed=1), RandomProjection(192, 32, seed=2)
    assert torch.equal(first(x), again(x)) and not torch.allclose(first(x), other(x))
    assert torch.allclose(first(2 * x), 2 * first(x), atol=1e-5)  # linear: no bias, no nonlinearity
    assert first.state_dict() == {}  # regenerated from the seed, never stored in a checkpoint


@pytest.mark.parametrize("architecture, width", [("resnet18", 512), ("resnet50", 2048), ("vit_b_16", 768)])
def test_backbones_give_their_penultimate_features(architecture, width):
    model = backbone(architecture, out_dim=width).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 224, 224)).shape == (1, width)


def test_weights_load_from_a_file_a_checkpoint_and_the_hub_cache_never_downloading(tmp_path, monkeypatch):
    source = backbone("resnet18")
    full = {**source.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    torch.save(full, tmp_path / "resnet18.pth")  # a torchvision state dict, classifier included
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "best.ckpt")
    for path in (tmp_path / "resnet18.pth", tmp_path / "best.ckpt"):
        loaded = backbone("resnet18", weights=str(path))
        assert torch.equal(loaded.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match=r"model.weights=DEFAULT: .* not in the torch hub cache \(.*hub/checkpoints/resnet18-"):
        backbone("resnet18", weights="DEFAULT")
    cached = tmp_path / "hub" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"  # $TORCH_HOME/hub: IMAGENET1K_V1's file
    cached.parent.mkdir(parents=True)
    torch.save(full, cached)
    assert torch.equal(backbone("resnet18", weights="DEFAULT").conv1.weight, source.conv1.weight)


# each error's own wording is tested where it is raised (test_imagenet_data.py, the weights test above);
# through the CLI: one refused before Hydra makes a folder, two refused while building or probing
@pytest.mark.parametrize("overrides, message", [
    (["dataset.path=/no/such/imagenet"], "dataset.path=/no/such/imagenet does not exist"),
    (["dataset.path={root}", "model=resnet50", "model.weights={root}/missing.pth"], "model.weights="),
    (["dataset.path={empty}", "probe.annotations={root}/bad.jsonl"], "probe.annotations="),
])
def test_bad_input_stops_with_one_message_and_no_run_folder(tmp_path, overrides, message):
    names, classes, frame = annotated_val_files(6, seed=9)
    root = write_imagenet(tmp_path / "imagenet", names, classes, train_per_class=0)
    (root / "bad.jsonl").write_text('{"file_name": "ILSVRC2012_val_00000002.JPEG", "class": 3}\n')  # no factor columns
    empty = write_imagenet(tmp_path / "unannotated", ["ILSVRC2012_val_00000014.JPEG"], [757], train_per_class=0)
    args = [arg.format(root=root, empty=empty) for arg in overrides]
    result = run_cli_in_process([*QUICK, "train=false", *args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Fix:" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_reproduce_fig3_script_runs_five_extractors_and_builds_the_figure(brightness_folder, tmp_path):
    """The documented script on the tiny folder: the random projection, ViT-B/16 and ResNet50 at random init
    and with weights from WEIGHTS (random ones saved as torchvision state dicts: nothing downloads here)."""
    root, annotations = brightness_folder
    weights = tmp_path / "weights"
    weights.mkdir()
    for architecture in ("resnet50", "vit_b_16"):
        torch.save(backbone(architecture).state_dict(), weights / f"{architecture}-random.pth")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(["bash", "scripts/reproduce_ce_fig3.sh", f"DATA={root}", f"WEIGHTS={weights}",
                             f"OUT={tmp_path / 'sweep'}", f"probe.annotations={annotations}", "trainer=cpu",
                             "logger=csv", "dataset.batch_size=32", "dataset.loader.num_workers=0"],
                            cwd=ROOT, env={**env, "REPORT": str(tmp_path / "report")}, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| factor | Input | ViT-B/16 init | ResNet50 init | ViT-B/16 trained | ResNet50 trained |" in table
    assert (tmp_path / "report" / "fig3.png").exists()
