"""Speed benchmarks for idexp, printed as JSON (run with `make bench`).

- time_to_r2: the default run (`python train.py`), probed every `--probe-every` steps on fresh
  samples (fit on one half, scored on the other; probe time excluded); seconds and steps until
  affine R² >= 0.99.
- overhead: training throughput of idexp (Lightning) vs a plain PyTorch loop with the same DGP,
  encoder, loss, batch and optimizer, measured side by side in this process, alternating rounds.
- probe: seconds for the full probe scores on 8192 samples of d = 10.
- render: seconds to render the procedural dSprites clone (737,280 images) into its npz.
- loader: images/s that the dSprites datamodule's training loader delivers (uint8 batches, its workers).
- image_overhead: training images/s of idexp vs a plain PyTorch loop on dSprites, with the same encoder,
  loss, optimizer and batches (the datamodule's loader), side by side, alternating rounds.
- feature_extraction: the ImageNet probe's feature extraction (JPEG decoding and preprocessing in loader
  workers, the encoder in inference mode) in images/s, idexp vs a plain PyTorch inference loop (the
  model's `weights.transforms()` in the workers, `model(x)`), same images, model, batch size and workers.
- resnet18: training images/s of the f_CNN (ResNet18) on dSprites in three layouts, side by side, alternating
  rounds: the weights channels-first (`model.channels_last=false`, before), channels-last (the default), and
  channels-last with bfloat16 autocast (`trainer.precision=bf16-mixed`; fast only where the CPU has bf16
  instructions, AVX512-BF16 or AMX, or on a GPU).
- dislib: seconds and peak memory (RSS above the data's) of MIG, SAP and DCI (lasso; gbt extrapolated from one
  boosting stage) on 50k x 512 codes of 5 dSprites-like factors, each in a fresh process, at the scorer's
  defaults (a 10000/5000 subset) and, for the cheap ones, on every sample (docs/metrics.md).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import open_dict

from idexp.metrics import affine_r2
from idexp.module import IdentifiabilityModule
from idexp.scorers.latents import identifiability_scores
from idexp.train import build


def compose_default(overrides: list[str], output_dir: Path):
    GlobalHydra.instance().clear()
    with initialize_config_module("idexp.conf", version_base="1.3"):
        cfg = compose("train", overrides=["logger=none", *overrides], return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


class _StepClock(L.Callback):
    """Wall time of the training steps after a warm-up, excluding set-up and the probe."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end, self.steps = time.perf_counter(), trainer.global_step - self.warmup


class _R2Clock(L.Callback):
    """Probes every k steps with the clock paused; stops training once R² reaches the target."""

    def __init__(self, every: int, target: float, n: int = 4096) -> None:
        self.every, self.target, self.n = every, target, n
        self.training_seconds, self.last, self.reached = 0.0, None, None
        self.curve: list[tuple[int, float, float]] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        self.training_seconds += time.perf_counter() - self.last
        batch = trainer.datamodule.probe_batch(self.n, pl_module.device, seed_offset=7)
        pl_module.eval()
        with torch.no_grad():
            codes = pl_module.encoder(batch["x"]).cpu().numpy()
        pl_module.train()
        z, half = batch["z"].cpu().numpy(), self.n // 2
        r2 = affine_r2(codes[:half], z[:half], codes[half:], z[half:])["r2"]
        self.curve.append((step, round(self.training_seconds, 2), round(r2, 4)))
        if r2 >= self.target and self.reached is None:
            self.reached = (step, self.training_seconds)
            trainer.should_stop = True
        self.last = time.perf_counter()


def time_to_r2(overrides: list[str], every: int, target: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_default([*overrides, "~callbacks.checkpoint", "~callbacks.progress",
                               "+trainer.enable_progress_bar=false"], Path(tmp))
        trainer, module, datamodule, _ = build(cfg)
        clock = _R2Clock(every, target)
        trainer.callbacks.append(clock)
        trainer.fit(module, datamodule=datamodule)
    reached = clock.reached
    return {"overrides": overrides, "target_r2": target, "reached": reached is not None,
            "steps": reached[0] if reached else None, "seconds": round(reached[1], 1) if reached else None,
            "curve": clock.curve}


def lightning_throughput(cfg, steps: int, warmup: int) -> float:
    with open_dict(cfg):
        cfg.trainer.max_steps = steps + warmup
        cfg.trainer.limit_val_batches = 0
        for name in ("probe", "best", "early_stop"):
            cfg.callbacks.pop(name, None)
    trainer, module, datamodule, _ = build(cfg)
    clock = _StepClock(warmup)
    trainer.callbacks.append(clock)
    trainer.fit(module, datamodule=datamodule)
    return clock.steps / (clock.end - clock.start)



def plain_throughput(cfg, steps: int, warmup: int) -> float:
    """The hand-written loop a researcher would otherwise use: same components, no framework."""
    torch.manual_seed(cfg.seed)
    dgp, encoder, loss = instantiate(cfg.dgp), instantiate(cfg.model), instantiate(cfg.loss)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    # The same parameter groups and schedule as idexp builds, without the Lightning loop around them.
    configured = IdentifiabilityModule(encoder, loss, instantiate(cfg.optimizer), scheduler).configure_optimizers()
    optimizer, scheduler = ((configured["optimizer"], configured["lr_scheduler"]["scheduler"])
                            if isinstance(configured, dict) else (configured, None))
    generator = torch.Generator().manual_seed(cfg.seed)
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        batch = dgp.sample(cfg.dataset.batch_size, generator=generator)
        value, _ = loss(encoder, batch)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return steps / (time.perf_counter() - start)


def overhead(overrides: list[str], steps: int, rounds: int) -> dict:
    """Paired rounds, alternating sides, so drift in machine load hits both alike; median of the ratios."""
    plain, framework = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            plain.append(plain_throughput(compose_default(overrides, Path(tmp)), steps, warmup=20))
            framework.append(lightning_throughput(compose_default(overrides, Path(tmp)), steps, warmup=20))
    ratios = np.array(framework) / np.array(plain)
    return {"overrides": overrides, "steps": steps, "rounds": rounds,
            "plain_steps_per_s": round(float(np.median(plain)), 2),
            "idexp_steps_per_s": round(float(np.median(framework)), 2),
            "ratio": round(float(np.median(ratios)), 3), "ratio_per_round": [round(float(r), 3) for r in ratios]}


def plain_image_throughput(cfg, steps: int, warmup: int) -> float:
    """A plain loop over the same loader and components: batches to the device, /255, step."""
    torch.manual_seed(cfg.seed)
    datamodule, encoder, loss = instantiate(cfg.dataset), instantiate(cfg.model), instantiate(cfg.loss)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder.to(device)
    loss.to(device)
    optimizer = IdentifiabilityModule(encoder, loss, instantiate(cfg.optimizer)).configure_optimizers()
    batches = iter(datamodule.train_dataloader())
    for step in range(steps + warmup):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        batch = next(batches)
        batch = {"x": batch["x"].to(device, non_blocking=True).float().div_(255), "label": batch["label"].to(device)}
        value, _ = loss(encoder, batch)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    _sync(device)
    return steps / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def image_overhead(overrides: list[str], steps: int, rounds: int) -> dict:
    """As `overhead`, for an image dataset: images/s of both loops, alternating rounds."""
    plain, framework = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            cfg = compose_default(overrides, Path(tmp))
            plain.append(plain_image_throughput(cfg, steps, warmup=5) * cfg.dataset.batch_size)
            cfg = compose_default(overrides, Path(tmp))
            framework.append(lightning_throughput(cfg, steps, warmup=5) * cfg.dataset.batch_size)
    ratios = np.array(framework) / np.array(plain)
    return {"overrides": overrides, "steps": steps, "rounds": rounds,
            "plain_images_per_s": round(float(np.median(plain)), 1), "idexp_images_per_s": round(float(np.median(framework)), 1),
            "ratio": round(float(np.median(ratios)), 3), "ratio_per_round": [round(float(r), 3) for r in ratios]}


RESNET_LAYOUTS = {"channels_first": ["model.channels_last=false"], "channels_last": [],
                  "channels_last_bf16": ["trainer.precision=bf16-mixed"]}


def resnet18_throughput(overrides: list[str], steps: int, rounds: int) -> dict:
    """Training images/s of model=resnet18 in each of RESNET_LAYOUTS, alternating rounds."""
    speeds = {name: [] for name in RESNET_LAYOUTS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name, layout in RESNET_LAYOUTS.items():
                cfg = compose_default([*overrides, "model=resnet18", *layout], Path(tmp))
                speeds[name].append(lightning_throughput(cfg, steps, warmup=3) * cfg.dataset.batch_size)
    before = np.array(speeds["channels_first"])
    return {"overrides": overrides, "steps": steps, "rounds": rounds,
            "images_per_s": {name: round(float(np.median(v)), 1) for name, v in speeds.items()},
            "speedup": {name: round(float(np.median(np.array(v) / before)), 2) for name, v in speeds.items()}}


def loader_throughput(overrides: list[str], batches: int = 200) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        datamodule = instantiate(compose_default(overrides, Path(tmp)).dataset)
    loader = iter(datamodule.train_dataloader())
    next(loader)  # workers started
    start = time.perf_counter()
    images = sum(len(next(loader)["x"]) for _ in range(batches))
    seconds = time.perf_counter() - start
    return {"overrides": overrides, "images": images, "images_per_s": round(images / seconds, 1)}


def render_time() -> dict:
    from idexp.data.render_dsprites import render_dsprites

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = render_dsprites(Path(tmp) / "dsprites.npz")
        seconds = time.perf_counter() - start
        size = path.stat().st_size
    return {"images": 737280, "seconds": round(seconds, 1), "npz_mb": round(size / 2**20, 1)}


def probe_cost(n: int = 8192, dim: int = 10, repeats: int = 5) -> dict:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, dim))
    codes = np.tanh(z @ rng.normal(size=(dim, dim)))
    identifiability_scores(codes, z)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        identifiability_scores(codes, z)
        identifiability_scores(z, z)  # the probe also scores the baseline h = g
        times.append(time.perf_counter() - start)
    return {"n_samples": n, "dim": dim, "seconds_trained_plus_baseline": round(float(np.median(times)), 4)}


DISLIB_CLASSES = (3, 6, 40, 32, 32)  # dSprites' shape, scale, orientation, posX, posY


def _dislib_problem(n: int, dim: int):
    """Codes whose first 5 units are the factors (plus noise) and the rest noise; fit and score splits of n each."""
    from idexp.ground_truth import Factor, ProbeData, ProbeSplit

    rng = np.random.default_rng(0)
    values = [np.stack([rng.integers(0, k, n) / k for k in DISLIB_CLASSES], axis=1) for _ in range(2)]
    codes = [rng.standard_normal((n, dim), dtype=np.float32) for _ in range(2)]
    for c, v in zip(codes, values):
        c[:, : len(DISLIB_CLASSES)] += 4 * v
    factors = tuple(Factor(f"f{j}", "categorical", tuple(np.arange(k) / k)) for j, k in enumerate(DISLIB_CLASSES))
    return codes, ProbeData(ProbeSplit([], values[0], "fit"), ProbeSplit([], values[1], "score"), factors)


def _dislib_child(metric: str, n: int, dim: int, samples: tuple[int, int], queue) -> None:
    from idexp.metrics import disentanglement as dis
    from idexp.scorers.disentanglement import DisentanglementScores, _subset

    (fit_codes, score_codes), data = _dislib_problem(n, dim)
    fit_rows, score_rows = _subset(n, samples[0], 0), _subset(n, samples[1], 0)
    fx, sx = fit_codes[fit_rows], score_codes[score_rows]
    fy, sy = dis.classes(data.fit.targets[fit_rows]), dis.classes(data.score.targets[score_rows])
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS from here on, not the data's making
    rss = _status_kb("VmRSS")
    start = time.perf_counter()
    if metric == "mig":
        dis.mig(dis.discretize(fx), fy)
    elif metric == "sap":
        dis.sap(dis.sap_matrix(fx, fy, sx, sy, np.zeros(fy.shape[1], dtype=bool)))
    elif metric == "dci_lasso":
        importance, _ = dis.importance_lasso(fx, fy.astype(float), sx, sy.astype(float))
        dis.dci_disentanglement(importance), dis.dci_completeness(importance)
    elif metric == "dci_gbt_one_stage":  # one boosting stage of every factor: 1/100 of the default's 100 stages
        from sklearn.ensemble import GradientBoostingClassifier

        for j in range(fy.shape[1]):
            GradientBoostingClassifier(n_estimators=1).fit(fx, fy[:, j])
    elif metric == "scorer":
        DisentanglementScores(fit_samples=samples[0], score_samples=samples[1]).scores(fit_codes, score_codes, data)
    seconds = time.perf_counter() - start
    queue.put({"seconds": round(seconds, 2), "peak_mb_above_data": round((_status_kb("VmHWM") - rss) / 1024, 1)})


def _status_kb(field: str) -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def dislib_cost(n: int = 50000, dim: int = 512, full_sap: bool = False) -> dict:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    runs = {"mig": (10000, 5000), "sap": (10000, 5000), "dci_lasso": (10000, 5000), "dci_gbt_one_stage": (10000, 5000),
            "scorer": (10000, 5000), "mig_all_samples": (n, n), "dci_lasso_all_samples": (n, n)}
    if full_sap:
        runs["sap_all_samples"] = (n, n)
    report = {"codes": [n, dim], "factor_classes": list(DISLIB_CLASSES), "subset_fit_score": [10000, 5000]}
    for name, samples in runs.items():
        queue = context.Queue()
        child = context.Process(target=_dislib_child, args=(name.removesuffix("_all_samples"), n, dim, samples, queue))
        child.start()
        report[name] = queue.get()
        child.join()
        print(name, report[name], flush=True)
    stage = report["dci_gbt_one_stage"]["seconds"]
    report["dci_gbt_estimate_100_stages"] = {"seconds": round(100 * stage), "hours": round(100 * stage / 3600, 1)}
    return report


def _jpeg_folder(root: Path, n: int) -> list[str]:
    """n random-texture JPEGs under root/val/, named as annotated ImageNet validation images."""
    from PIL import Image

    from idexp.data.imagenet_x import read_annotations

    names = sorted(read_annotations().file_name)[:n]
    rng = np.random.default_rng(0)
    (root / "val").mkdir(parents=True)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (128, 160, 3), dtype=np.uint8)).save(root / "val" / name, quality=90)
    return names


def plain_feature_throughput(encoder, files: list[Path], architecture: str, batch_size: int, workers: int) -> float:
    """What a researcher writes: the weights' transforms in a Dataset, a DataLoader, the model in inference mode."""
    import torchvision
    from PIL import Image

    transform = torchvision.models.get_model_weights(architecture).DEFAULT.transforms()

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return transform(Image.open(files[i]).convert("RGB"))

    device = next(encoder.parameters()).device
    loader = torch.utils.data.DataLoader(Images(), batch_size=batch_size, num_workers=workers)
    start = time.perf_counter()
    with torch.inference_mode():
        for x in loader:
            encoder(x.to(device, non_blocking=True)).cpu()
    _sync(device)
    return len(files) / (time.perf_counter() - start)


def feature_extraction(architecture: str, n: int, batch_size: int, workers: int, rounds: int) -> dict:
    """Feature-extraction images/s: the probe's path (datamodule batches, `encode`) vs a plain loop, alternating."""
    from idexp.callbacks.probe import encode
    from idexp.data import ImageNetDataModule
    from idexp.models import backbone

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder = backbone(architecture).to(device)
    plain, framework = [], []
    with tempfile.TemporaryDirectory() as tmp:
        names = _jpeg_folder(Path(tmp), n)
        datamodule = ImageNetDataModule(tmp, preprocessing=architecture, batch_size=batch_size,
                                        loader={"num_workers": workers, "pin_memory": True})
        for _ in range(rounds):
            plain.append(plain_feature_throughput(encoder, [Path(tmp) / "val" / name for name in names], architecture,
                                                  batch_size, workers))
            start = time.perf_counter()
            split = datamodule.probe_data(device).fit
            encode(encoder, split.inputs, len(split.targets))
            _sync(device)
            framework.append(n / (time.perf_counter() - start))
    ratios = np.array(framework) / np.array(plain)
    return {"model": architecture, "images": n, "batch_size": batch_size, "workers": workers, "rounds": rounds,
            "plain_images_per_s": round(float(np.median(plain)), 1), "idexp_images_per_s": round(float(np.median(framework)), 1),
            "ratio": round(float(np.median(ratios)), 3), "ratio_per_round": [round(float(r), 3) for r in ratios]}


BENCHMARKS = ["time_to_r2", "overhead", "probe", "render", "loader", "image_overhead", "resnet18", "feature_extraction",
              "dislib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=BENCHMARKS, nargs="*")
    parser.add_argument("--probe-every", type=int, default=100)
    parser.add_argument("--overhead-steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image-steps", type=int, default=60)
    parser.add_argument("--resnet-steps", type=int, default=10, help="resnet18: timed steps per layout and round")
    parser.add_argument("--feature-model", help="feature_extraction's torchvision model (default: resnet50 on a GPU, "
                                                "resnet18 on a CPU)")
    parser.add_argument("--feature-images", type=int, help="feature_extraction's images (default: 4096 GPU, 256 CPU)")
    parser.add_argument("--dislib-full-sap", action="store_true", help="dislib: also SAP on all 50k samples (slow)")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    only = set(args.only or BENCHMARKS)
    report = {"torch_threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu"}
    if "probe" in only:
        report["probe"] = probe_cost()
    if "overhead" in only:
        report["overhead"] = overhead(["trainer=cpu"], args.overhead_steps, args.rounds)
    if "time_to_r2" in only:
        report["time_to_r2"] = time_to_r2([], args.probe_every, 0.99)
    if "render" in only:
        report["render"] = render_time()
    images = ["dataset=dsprites", "trainer=cpu" if not torch.cuda.is_available() else "trainer=gpu", "dataset.batch_size=256"]
    if "loader" in only:
        report["loader"] = loader_throughput(images)
    if "image_overhead" in only:
        report["image_overhead"] = image_overhead([*images, "model=convnet"], args.image_steps, args.rounds)
    if "resnet18" in only:
        report["resnet18"] = resnet18_throughput(images, args.resnet_steps, args.rounds)
    if "feature_extraction" in only:
        gpu = torch.cuda.is_available()
        report["feature_extraction"] = feature_extraction(
            args.feature_model or ("resnet50" if gpu else "resnet18"), args.feature_images or (4096 if gpu else 256),
            batch_size=256 if gpu else 32, workers=8 if gpu else 2, rounds=args.rounds)
    if "dislib" in only:
        report["dislib"] = dislib_cost(full_sap=args.dislib_full_sap)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
