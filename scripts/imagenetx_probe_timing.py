"""Time the ImageNet-X probe: the batched solver against the paper's serial scikit-learn loop, same features.

Targets are the real packaged annotations (class ≥ 500 and the 16 factors, so each target keeps its real
prevalence, 40 to 22,897 positives); features are relu(targets @ A · 0.5 + noise), seeded, so some
factors decode and the rest is noise (`--signal` sets how many), at the size of a ResNet-50's penultimate layer.

    .venv/bin/python scripts/imagenetx_probe_timing.py                      # full size, both solvers
    .venv/bin/python scripts/imagenetx_probe_timing.py --sklearn-targets 3  # serial loop on 3 targets, extrapolated
"""
from __future__ import annotations

import argparse
import time

import imagenet_x
import numpy as np
import torch

from idexp.data.factors import Factor
from idexp.ground_truth import ProbeData, ProbeSplit
from idexp.scorers import ImageNetXScores

FACTORS = ("multiple_objects", "background", "color", "brighter", "darker", "style", "larger", "smaller",
           "object_blocking", "person_blocking", "partial_view", "pattern", "pose", "shape", "subcategory", "texture")


def synthetic_probe(n: int | None, dim: int, seed: int, signal: float = 0.5,
                    decay: float = 0.0) -> tuple[np.ndarray, ProbeData]:
    annotations = imagenet_x.load_annotations()
    targets = np.column_stack([annotations["class"] >= 500] + [annotations[name] for name in FACTORS]).astype(np.int64)
    rng = np.random.default_rng(seed)
    targets = targets[rng.permutation(len(targets))[:n]] if n else targets
    mixing = rng.standard_normal((targets.shape[1], dim))
    noise = rng.standard_normal((len(targets), dim), dtype=np.float32)
    if decay:  # correlated noise, variances k^-decay along random directions: ill-conditioned like real features
        rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0] * np.arange(1, dim + 1)[:, None] ** (-decay / 2)
        noise = noise @ (rotation * np.sqrt(dim / (rotation ** 2).sum())).astype(np.float32)
    features = np.maximum(targets.astype(np.float32) @ mixing.astype(np.float32) * signal + noise, 0)
    factors = tuple(Factor(name, "binary", (0.0, 1.0)) for name in ("class", *FACTORS))
    return features, ProbeData(fit=ProbeSplit(inputs=[], targets=targets, name="validation images"), score=None,
                               factors=factors)


def timed(scorer: ImageNetXScores, features: np.ndarray, data: ProbeData) -> tuple[dict, float]:
    started = time.perf_counter()
    metrics = scorer.scores(features, None, data)
    return metrics, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="annotated images used (default: all 46,110)")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--signal", type=float, default=0.5,
                        help="scale of the targets' mixing into the features: 0.5 decodes every factor at 2048 units, "
                             "0.02 leaves the rare ones near chance")
    parser.add_argument("--decay", type=float, default=0.0,
                        help="noise variances decaying as k^-decay (0: white noise); 1 is a realistic spectrum")
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--sklearn-targets", type=int, default=None,
                        help="time the serial loop on the first K targets only and extrapolate to all")
    args = parser.parse_args()

    features, data = synthetic_probe(args.n, args.dim, args.seed, args.signal, args.decay)
    names = [factor.name for factor in data.factors]
    print(f"{len(features)} images × {features.shape[1]} units (signal {args.signal}, decay {args.decay}), "
          f"{len(names)} targets × {args.repetitions} repetitions, {torch.get_num_threads()} torch threads, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}", flush=True)
    batched, batched_s = timed(ImageNetXScores(args.repetitions, solver="batched"), features, data)
    print(f"batched: {batched_s:.1f} s", flush=True)

    serial, serial_s, label = {}, None, "sklearn"
    if not args.skip_sklearn:
        k = args.sklearn_targets or len(names)
        subset = ProbeData(data.fit, None, data.factors[:k])
        serial, serial_s = timed(ImageNetXScores(args.repetitions, solver="sklearn"), features, subset)
        if k < len(names):
            # the serial loop's cost grows with each target's balanced train size: extrapolate by that
            sizes = np.array([2 * min(t.sum(), len(t) - t.sum()) for t in data.fit.targets.T], dtype=float)
            serial_s *= sizes.sum() / sizes[:k].sum()
            label = f"sklearn, timed on {k} targets, extrapolated by train size"
        print(f"{label}: {serial_s:.1f} s", flush=True)

    print(f"\n{'target':18s}{'positives':>10s}{'batched':>16s}{'sklearn':>16s}{'|diff|':>9s}")
    diffs = []
    for name in names:
        cells = [f"{metrics[f'acc/{name}']:.4f}±{metrics[f'acc_sem/{name}']:.4f}" if f"acc/{name}" in metrics else "-"
                 for metrics in (batched, serial)]
        diff = abs(batched[f"acc/{name}"] - serial[f"acc/{name}"]) if f"acc/{name}" in serial else np.nan
        diffs.append(diff)
        print(f"{name:18s}{batched[f'n_positive/{name}']:>10d}{cells[0]:>16s}{cells[1]:>16s}{diff:>9.4f}")
    print(f"\nunits kept: {batched['units']}")
    print(f"time: batched {batched_s:.1f} s, {label} {'-' if serial_s is None else f'{serial_s:.1f} s'}"
          + (f" ({serial_s / batched_s:.1f}× slower)" if serial_s else ""))
    if serial:
        compared = int(np.isfinite(diffs).sum())
        print(f"max |accuracy difference| over {compared} compared targets: {np.nanmax(diffs):.4f}")


if __name__ == "__main__":
    main()
