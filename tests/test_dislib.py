"""DisLib-style image runs end to end: every canonical format through the real CLI, reader, datamodule,
Lightning trainer and factor probe; the datamodule's split and batches; bad values and bad files."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from idexp.data.factor_images import FactorDataModule, split_rows
from idexp.train import build
from tests.conftest import compose_config, run_cli, run_cli_in_process
from tests.test_config import IMAGE_MODELS
from tests.dislib_files import dsprites_overrides, write_dsprites
from idexp.data.factors import index_order_classes
from tests.test_formats import encode, write_cars_folder, write_shapes3d, write_smallnorb

QUICK = ["logger=csv", "trainer=cpu", "trainer.max_epochs=2", "dataset.batch_size=32", "dataset.loader.num_workers=0"]
SMALL_MLP = ["model=mlp_dislib", "model.hidden=[64,64]", "model.out_dim=64"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IDEXP_CACHE", str(tmp_path / "cache"))


def finished(result, run_dir) -> dict:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed"
    assert (run_dir / "probe.png").exists() and (run_dir / "checkpoints" / "best.ckpt").exists()
    return record["metrics"]


def test_dsprites_run_trains_classifies_and_probes_every_factor(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process([*dsprites_overrides(path), *QUICK, "model=convnet",
                      f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    metrics = finished(result, tmp_path / "run")
    assert "Factor probe" in result.stdout and "posX" in result.stdout
    # the tiny file's sprites move by 6 pixels per class: position is linear in the pixels
    assert metrics["probe/baseline_pearson/posX"] > 0.95 and metrics["probe/baseline_pearson/posY"] > 0.95
    assert {"probe/pearson/shape", "probe/r2/scale", "probe/acc/shape"} <= set(metrics)
    assert "probe/pearson/color" not in metrics  # one value: nothing to decode


def test_raw_pixel_baseline_probes_without_training(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process([*dsprites_overrides(path), *QUICK, "model=image", "train=false",
                      f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]
    # the representation is the input itself, so ours and the baseline are the same read-out
    assert metrics["probe/pearson/posX"] == pytest.approx(metrics["probe/baseline_pearson/posX"], abs=1e-6)
    assert not (tmp_path / "run" / "checkpoints").exists()


# every format is read by tests/test_formats.py and the dSprites CLI run below is in the default suite; these
# CLI runs are in the slow suite (make test-slow)
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) for name in ("shapes3d", "mpi3d", "cars3d", "smallnorb")])
def test_each_canonical_format_trains_and_probes(tmp_path, name):
    if name == "shapes3d":
        path, factors = tmp_path / "3dshapes.h5", "{floor_hue:2,wall_hue:2,object_hue:2,scale:2,shape:4,orientation:3}"
        write_shapes3d(path, sizes=(2, 2, 2, 2, 4, 3))
    elif name == "mpi3d":
        path = tmp_path / "mpi3d_toy.npz"
        factors = "{object_color:2,object_shape:3,object_size:2,camera_height:1,background_color:1,horizontal_axis:4,vertical_axis:4}"
        np.savez_compressed(path, images=encode(index_order_classes((2, 3, 2, 1, 1, 4, 4)), 64))
    elif name == "cars3d":
        path, factors = tmp_path / "cars", "{elevation:4,azimuth:24,object_type:2}"
        write_cars_folder(path)
    else:
        path, factors = tmp_path / "norb", None
        write_smallnorb(path, counts=(60, 40))
    args = [f"dataset={name}", f"dataset.path={path}", *QUICK, *SMALL_MLP, f"hydra.run.dir={tmp_path / 'run'}"]
    metrics = finished(run_cli(args + ([f"dataset.factors={factors}"] if factors else []), tmp_path), tmp_path / "run")
    assert any(key.startswith("probe/pearson/") for key in metrics)
    assert any(key.startswith("probe/baseline_acc/") for key in metrics)


@pytest.mark.parametrize("model", [*IMAGE_MODELS, "mlp"])  # mlp: the synthetic default, on pixels
def test_every_image_model_builds_on_the_declared_input(tmp_path, model):
    path = write_dsprites(tmp_path / "dsprites.npz")
    cfg = compose_config([*dsprites_overrides(path), f"model={model}", "logger=none", "trainer=cpu"], tmp_path / "run")
    _, module, datamodule, _ = build(cfg)
    images = module.encoder(torch.rand(4, *cfg.dataset.input_shape))
    assert images.shape == (4, cfg.model.out_dim) == (4, module.loss.head.in_features)


def test_table4_preset_at_both_scales_and_a_short_run(tmp_path):
    quick = compose_config(["experiment=ce_table4", "logger=none"], tmp_path / "q")
    paper = compose_config(["experiment=ce_table4", "scale=paper", "logger=none"], tmp_path / "p")
    assert (quick.dataset.name, quick.dataset.subset, quick.trainer.max_epochs) == ("dsprites", 0.1, 2)
    assert (paper.dataset.subset, paper.dataset.batch_size, paper.trainer.max_epochs) == (1.0, 4096, 100)
    assert paper.optimizer.lr == 1e-3 and paper.scheduler is None and paper.trainer.max_steps == -1
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process(["experiment=ce_table4", *dsprites_overrides(path)[1:], *QUICK, *SMALL_MLP, "dataset.subset=1.0",
                      f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert "probe/pearson/posX" in finished(result, tmp_path / "run")


def test_split_is_disjoint_seeded_and_subset_is_deterministic():
    rows = split_rows(1000, (0.8, 0.1, 0.1), 1.0, seed=3)
    assert [len(rows[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    assert len(np.unique(np.concatenate(list(rows.values())))) == 1000
    again, other = split_rows(1000, (0.8, 0.1, 0.1), 1.0, seed=3), split_rows(1000, (0.8, 0.1, 0.1), 1.0, seed=4)
    assert all(np.array_equal(rows[k], again[k]) for k in rows)
    assert not np.array_equal(rows["train"], other["train"])
    subset = split_rows(1000, (0.8, 0.1, 0.1), 0.25, seed=3)
    assert sum(map(len, subset.values())) == 250
    assert np.array_equal(subset["train"], split_rows(1000, (0.8, 0.1, 0.1), 0.25, seed=3)["train"])


def test_batches_are_uint8_until_the_device_and_labels_follow_the_target(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    module = FactorDataModule("dsprites", {"color": 1, "shape": 3, "scale": 2, "orientation": 2, "posX": 8, "posY": 8},
                              target="posX", n_classes=8, input_shape=[1, 64, 64], input_dim=4096, path=str(path),
                              batch_size=16, seed=0, loader={"num_workers": 0})
    batch = next(iter(module.train_dataloader()))
    assert batch["x"].dtype.is_floating_point is False and batch["x"].shape == (16, 1, 64, 64)
    on_device = module.on_after_batch_transfer(batch, 0)
    assert on_device["x"].dtype.is_floating_point and float(on_device["x"].max()) == 1.0
    # each image's label is its posX class: recompute it from where the square's left edge is
    columns = on_device["x"][:, 0].amax(dim=1).argmax(dim=1).numpy()
    assert np.array_equal((columns - 4) // 6, on_device["label"].numpy())
    assert isinstance(module.data.images, np.memmap)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["dataset.path=/nowhere/dsprites.npz"], "dataset.path=/nowhere/dsprites.npz does not exist"),
    (["dataset.subset=0"], "dataset.subset=0 must be a fraction"),
    (["dataset.target=size"], "dataset.target='size' is not a factor"),
    (["loss=infonce"], "needs the batch keys x_pos, which dataset=dsprites does not provide (its batches hold label, x). Fix: loss=ce or loss=vae."),
    (["trainer.max_epochs=-1"], "set no end to training"),
    (["dataset.split=[0.5,0.5]"], "dataset.split=[0.5, 0.5] must be three"),
])
def test_bad_values_stop_before_any_work(tmp_path, overrides, expected):
    result = run_cli_in_process(["dataset=dsprites", *overrides, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1 and expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_malformed_file_says_what_was_expected_and_where_to_get_it(tmp_path):
    bad = tmp_path / "dsprites.npz"
    np.savez(bad, images=np.zeros((2, 64, 64), np.uint8))
    result = run_cli_in_process(["dataset=dsprites", f"dataset.path={bad}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "has no imgs, latents_classes, metadata" in result.stderr and "dsprites-dataset" in result.stderr
    assert "omit dataset.path" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_declared_factors_must_match_the_file(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    result = run_cli_in_process(["dataset=dsprites", f"dataset.path={path}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 1 and "but the file holds the factors" in result.stderr, result.stderr[-2000:]


def _factor_data(n: int, seed: int):
    from idexp.data.factors import Factor
    from idexp.ground_truth import ProbeData, ProbeSplit

    rng = np.random.default_rng(seed)
    factors = (Factor("shape", "categorical", (1.0, 2.0, 3.0)), Factor("posX", "continuous", tuple(np.linspace(0, 1, 32))),
               Factor("orientation", "periodic", tuple(np.linspace(0, 2 * np.pi, 40))), Factor("color", "categorical", (1.0,)))
    classes = np.stack([rng.integers(0, f.size, n) for f in factors], axis=1)
    values = np.stack([np.asarray(f.values)[classes[:, k]] for k, f in enumerate(factors)], axis=1)
    return factors, values, lambda fit, score: ProbeData(ProbeSplit([], fit, "a"), ProbeSplit([], score, "b"), factors)


def test_factor_probe_known_answers():
    from idexp.scorers import FactorScores

    factors, values, data = _factor_data(4000, seed=0)
    rng = np.random.default_rng(1)
    # a noisy linear map of (shape one-hot, posX, sin, cos): every factor is linearly decodable
    signal = np.column_stack([np.eye(3)[values[:, 0].astype(int) - 1], values[:, 1], np.sin(values[:, 2]), np.cos(values[:, 2])])
    codes = signal @ rng.normal(size=(signal.shape[1], 32)) + 0.01 * rng.normal(size=(4000, 32))
    noise = rng.normal(size=(4000, 32))
    probe_data = data(values[:3000], values[3000:])
    decodable = FactorScores().scores(codes[:3000], codes[3000:], probe_data)
    unrelated = FactorScores().scores(noise[:3000], noise[3000:], probe_data)
    for name in ("shape", "posX", "orientation_sin", "orientation_cos"):
        assert decodable[f"pearson/{name}"] > 0.99 and decodable[f"r2/{name}"] > 0.98
        assert abs(unrelated[f"pearson/{name}"]) < 0.1 and unrelated[f"r2/{name}"] < 0.02
    assert decodable["acc/shape"] > 0.99 and unrelated["acc/shape"] < 0.45  # chance is 1/3
    assert "pearson/color" not in decodable and "acc/color" not in decodable  # one value: nothing to decode
    assert "pearson/orientation" not in decodable  # periodic: as sine and cosine only


def test_factor_probe_streamed_in_ragged_chunks_matches_scikit_learn():
    """The probe hands the raw inputs over batch by batch: the streamed read-out must give scikit-learn's
    least squares (no intercept, z-scored target) and logistic accuracy on the whole arrays."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from idexp.scorers import FactorScores

    factors, values, data = _factor_data(3000, seed=2)
    rng = np.random.default_rng(3)
    signal = np.column_stack([np.eye(3)[values[:, 0].astype(int) - 1], values[:, 1], np.sin(values[:, 2])])
    codes = (signal @ rng.normal(size=(5, 24)) + 1.5 * rng.normal(size=(3000, 24))).astype(np.float32)
    fit, score = codes[:2000], codes[2000:]
    scorer = FactorScores(logistic_samples=700)
    stream = scorer.stream(data(values[:2000], values[2000:]))
    for split, feed in ((fit, stream.fit), (score, stream.score)):
        for rows in np.array_split(np.arange(len(split)), [37, 38, 500, 1234]):  # ragged, one of a single row
            feed(split[rows])
    streamed = stream.result()

    z = (values[:2000, 1] - values[:2000, 1].mean()) / values[:2000, 1].std()
    readout = LinearRegression(fit_intercept=False).fit(fit.astype(np.float64), z)
    predicted = readout.predict(score.astype(np.float64))
    assert streamed["pearson/posX"] == pytest.approx(np.corrcoef(values[2000:, 1], predicted)[0, 1], abs=1e-6)
    rows = np.sort(np.random.default_rng(0).choice(2000, 700, replace=False))  # the scorer's documented subset
    scaler = StandardScaler().fit(fit[rows])
    model = LogisticRegression(max_iter=300).fit(scaler.transform(fit[rows]), values[:2000, 0][rows])
    assert streamed["acc/shape"] == pytest.approx(model.score(scaler.transform(score), values[2000:, 0]))
    assert 0.5 < streamed["acc/shape"] < 0.99 and 0.3 < streamed["pearson/posX"] < 0.99  # neither trivial nor chance


def test_factor_probe_stream_memory_does_not_grow_with_the_fit_split():
    """300,000 raw dSprites images are 4.9 GB as one float array: the stream keeps D × D sums and a fixed
    subset of rows, so feeding 8× more fit rows costs (almost) no more memory."""
    import tracemalloc

    from idexp.scorers import FactorScores

    factors, values, data = _factor_data(2000 + 16 * 512, seed=4)

    def peak(n_fit: int) -> int:
        stream = FactorScores(logistic_samples=256).stream(data(values[:n_fit], values[-1000:]))
        rng = np.random.default_rng(5)
        tracemalloc.start()
        for _ in range(n_fit // 512):
            stream.fit(rng.normal(size=(512, 256)).astype(np.float32))  # a batch, made and dropped as the probe's
        stream.score(rng.normal(size=(1000, 256)).astype(np.float32))
        stream.result()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = peak(2 * 512), peak(16 * 512)
    assert large < 1.25 * small, (small, large)  # whole arrays would be ≥ 8× (16 × 512 × 256 float32 = 8 MB)


@pytest.mark.slow  # a sweep of two image runs and the table; the default tier runs the table4 preset and a sweep
def test_table4_builder_puts_the_papers_values_beside_ours(tmp_path):
    path = write_dsprites(tmp_path / "dsprites.npz")
    sweep = tmp_path / "sweep"
    result = run_cli(["-m", "experiment=ce_table4", *dsprites_overrides(path)[1:], *QUICK, "dataset.subset=1.0",
                      "model=mlp_dislib,linear", f"hydra.sweep.dir={sweep}"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from idexp.report.__main__ import main as report

    assert report([str(sweep), "--table", "ce_table4", "--out", str(tmp_path / "table")]) == 0
    table = (tmp_path / "table" / "table.md").read_text()
    assert "| dsprites | posX |" in table and "| 0.92 |" in table  # the paper's x for posX
    # both encoders share one recipe here, so one line; the file is named as the images' source
    assert "Trained with: scale quick · epochs 2 · subset 1.0 · batch 32" in table
    assert f"Images: dsprites: `{path}`." in table
    header = next(line for line in table.splitlines() if line.startswith("| dataset"))
    assert "f_MLP" in header and "f_MLP paper" in header and "linear" in header


def _named_splits(fit: np.ndarray, score: np.ndarray, factors):
    from idexp.ground_truth import ProbeData, ProbeSplit

    return ProbeData(ProbeSplit([], fit, "training images"), ProbeSplit([], score, "validation images"), factors)


def test_factor_probe_names_why_a_score_is_undefined():
    from idexp.scorers import FactorScores

    factors, values, _ = _factor_data(3000, seed=0)
    rng = np.random.default_rng(1)
    signal = np.column_stack([np.eye(3)[values[:, 0].astype(int) - 1], values[:, 1], np.sin(values[:, 2])])
    codes = signal @ rng.normal(size=(signal.shape[1], 16)) + 0.01 * rng.normal(size=(3000, 16))
    fit, score = values[:2000].copy(), values[2000:].copy()
    score[:, 1] = score[0, 1]  # posX: one value in the validation images
    fit[:, 0] = 1.0  # shape: one value in the training images
    scorer = FactorScores()
    metrics = scorer.scores(codes[:2000], codes[2000:], _named_splits(fit, score, factors))
    assert ("factor posX is constant in the 1000 validation images: Pearson r and R² are undefined"
            in scorer.warnings)
    assert any(w.startswith("factor shape is constant in the 2000 training images: no read-out can be fitted")
               for w in scorer.warnings)
    assert not any("color" in w for w in scorer.warnings)  # declared with one value: nothing to decode, by design
    assert "pearson/posX" not in metrics and "acc/shape" not in metrics
    assert metrics["pearson/orientation_sin"] > 0.99 and len(scorer.warnings) == 2

    data = _named_splits(values[:2000], values[2000:], factors)
    flat = np.ones((3000, 16), np.float32)
    metrics = scorer.scores(flat[:2000], flat[2000:], data)  # the encoder's codes
    assert scorer.warnings[0].startswith("the encoder's codes are constant over the 2000 training images")
    assert scorer.warnings[1].startswith("the encoder's codes are constant over the 1000 validation images")
    assert all(np.isnan(metrics[f"pearson/{name}"]) for name in ("shape", "posX", "orientation_sin"))
    assert metrics["r2/posX"] <= 0.01
    broken = codes.copy()
    broken[2500, 3] = np.nan
    metrics = scorer.scores(broken[:2000], broken[2000:], data, baseline=True)  # the raw-input baseline
    assert ("the raw inputs (the probe/baseline_ scores) are not finite (nan/inf) for 1 of the 1000 validation "
            "images: every Pearson r, R² and accuracy of them is undefined") in scorer.warnings
    assert np.isnan(metrics["pearson/posX"]) and np.isnan(metrics["acc/shape"])
    assert len(scorer.warnings) == 3
    scorer.scores(codes[:2000], codes[2000:], _named_splits(values[:2000], values[2000:], factors))
    assert scorer.warnings == []  # a new probe starts afresh


def _degenerate_dsprites(path):
    """A dSprites file whose images are all black and whose scale, declared with two values, takes only one."""
    write_dsprites(path, sizes=(1, 3, 1, 2, 8, 8))
    with np.load(path, allow_pickle=True, encoding="latin1") as archive:
        arrays = dict(archive)
    metadata = arrays["metadata"][()]
    metadata["latents_possible_values"]["scale"] = np.array([0.5, 1.0])
    arrays["metadata"], arrays["imgs"] = np.array(metadata, dtype=object), np.zeros_like(arrays["imgs"])
    np.savez_compressed(path, **arrays)
    return path


def test_a_constant_factor_and_constant_codes_are_warned_about_in_results_json(tmp_path):
    path = _degenerate_dsprites(tmp_path / "dsprites.npz")
    args = [*dsprites_overrides(path, sizes=(1, 3, 2, 2, 8, 8)), "logger=none", "trainer=cpu", "trainer.max_epochs=1",
            "dataset.batch_size=64", "dataset.loader.num_workers=0", *SMALL_MLP, f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli_in_process(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = json.loads((tmp_path / "run" / "results.json").read_text()).get("warnings", [])
    expected = [r"factor scale is constant in the \d+ training images: no read-out can be fitted",
                r"the encoder's codes are constant over the \d+ validation images",
                r"the raw inputs \(the probe/baseline_ scores\) are constant over the \d+ training images"]
    for pattern in expected:
        assert any(re.match(pattern, warning) for warning in warnings), (pattern, warnings)
