"""Settings renamed since an earlier release, so that its commands and run folders keep working.

The probe's sizes were three knobs: `callbacks.probe.n_samples` with `callbacks.probe.train_fraction`
(fresh DGP samples), `dataset.probe_fit`/`probe_score` (images) and `dataset.probe_images` (ImageNet-X).
They are now the dataset's `probe_fit` and `probe_score` for every family. An old command line is
rewritten to the new keys (with a note), and an old run's recorded config is read as if written with
them, so a relaunched sweep finds its completed runs and `idexp.rescore` re-scores an old run.
"""
from __future__ import annotations

import copy

from idexp.errors import ConfigError

OLD_SAMPLES, OLD_FRACTION = "callbacks.probe.n_samples", "callbacks.probe.train_fraction"
OLD_IMAGES = "dataset.probe_images"
OLD_DEFAULTS = {OLD_SAMPLES: 8192, OLD_FRACTION: 0.5}


def _split(samples: int, fraction: float) -> tuple[int, int]:
    fit = int(samples * fraction)
    return fit, samples - fit


def upgrade_overrides(args: list[str]) -> tuple[list[str], list[str]]:
    """`args` with the old probe-size overrides replaced by `dataset.probe_fit/probe_score`, and a note per rewrite."""
    pairs = [arg.partition("=")[::2] for arg in args]
    old = {key: value for key, value in pairs if key in (OLD_SAMPLES, OLD_FRACTION, OLD_IMAGES)}
    if not old:
        return list(args), []
    given = " ".join(f"{key}={value}" for key, value in old.items())
    new = [f"dataset.probe_fit={old[OLD_IMAGES]}"] if OLD_IMAGES in old else []
    if OLD_SAMPLES in old or OLD_FRACTION in old:
        try:
            samples = int(old.get(OLD_SAMPLES, OLD_DEFAULTS[OLD_SAMPLES]))
            fraction = float(old.get(OLD_FRACTION, OLD_DEFAULTS[OLD_FRACTION]))
        except ValueError:
            raise ConfigError(f"{given}: these settings were replaced by dataset.probe_fit and dataset.probe_score (the "
                              "probe's fit and score samples), and only a single value of them can be translated. "
                              "Fix: e.g. dataset.probe_fit=4096 dataset.probe_score=4096 "
                              "(a sweep: dataset.probe_fit=1024,4096).") from None
        fit, score = _split(samples, fraction)
        new += [f"dataset.probe_fit={fit}", f"dataset.probe_score={score}"]
    kept = [arg for arg, (key, _) in zip(args, pairs) if key not in old]
    return kept + new, [f"Note: {given} is now written {' '.join(new)} (the probe's sizes are the dataset's)."]


def upgrade_recorded(config: dict) -> dict:
    """A recorded config (results.json) with the old probe-size keys moved to `dataset.probe_fit/probe_score`."""
    config = copy.deepcopy(config)
    probe = (config.get("callbacks") or {}).get("probe") or {}
    dataset = config.get("dataset") or {}
    samples, fraction = probe.pop("n_samples", None), probe.pop("train_fraction", None)
    if "probe_images" in dataset:
        dataset["probe_fit"], dataset["probe_score"] = dataset.pop("probe_images"), None
    elif samples is not None and "probe_fit" not in dataset and isinstance(config.get("dataset"), dict):
        dataset["probe_fit"], dataset["probe_score"] = _split(samples, fraction or OLD_DEFAULTS[OLD_FRACTION])
    return config
