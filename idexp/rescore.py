"""Re-score a run from its checkpoint, without training: `python -m idexp.rescore RUN_DIR [options]`.

The run's recorded config rebuilds its components, `checkpoints/best.ckpt` (image runs: the best
validation accuracy) or else `checkpoints/last.ckpt` restores the encoder and the loss (heads, Λ) (a
`train=false` run has none: its encoder is what the config builds, e.g. `model.weights`), and the
probe runs as at the end of training, on the same samples unless --probe-fit/--probe-score change them. The scores go
to RUN_DIR/rescore/ (results.json, probe.png); the run's own results.json and probe.png are left as they are.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from idexp.config import ConfigError, validate
from idexp.run.record import RESULTS_FILE, as_recorded, existing_record
from idexp.run.renamed import upgrade_recorded
from idexp.train import build, configured_scorers, format_summary


def rescore(run_dir: Path, out: Path, probe_fit: int | None = None, probe_score: int | None = None,
            checkpoint: Path | None = None) -> dict:
    """Probe the checkpointed encoder of `run_dir` (or the weights in `checkpoint`, e.g. a snapshot); returns the
    metrics (also in `out`/results.json)."""
    record = existing_record(run_dir)
    if record is None or not record.get("config"):
        raise ConfigError(f"{run_dir / RESULTS_FILE} is missing or unreadable, so the run's config is unknown. "
                          "Fix: pass a run folder that training wrote (it holds results.json and checkpoints/).")
    # an image run's probe scores its best checkpoint (best validation accuracy); a DGP run's, its last
    given = checkpoint is not None
    checkpoint = checkpoint or next((path for name in ("best.ckpt", "last.ckpt")
                                     if (path := run_dir / "checkpoints" / name).exists()), run_dir / "checkpoints" / "last.ckpt")
    probe_only = record["config"].get("train") is False  # its encoder is rebuilt from the config (seed, model.weights)
    if given and not checkpoint.is_file():
        raise ConfigError(f"--checkpoint {checkpoint} is not a file. Fix: pass a checkpoint of the run, e.g. one in "
                          f"{run_dir / 'checkpoints'}.")
    if not checkpoint.exists() and not probe_only:
        raise ConfigError(f"{checkpoint} does not exist: the run saved no state to probe. "
                          "Fix: re-launch the run's own command to train it first.")
    cfg = OmegaConf.create(upgrade_recorded(record["config"]))
    probe = {"output_dir": str(out), "feature_cache": str(run_dir / "probe_features")}
    sizes = {key: value for key, value in (("probe_fit", probe_fit), ("probe_score", probe_score)) if value}
    # Probing needs no logger, no cluster and no training strategy: one process on what this machine has.
    cfg = OmegaConf.merge(cfg, {"paths": {"output_dir": str(run_dir)}, "logger": {}, "train": False,
                                "callbacks": {"probe": probe}, "dataset": sizes,
                                "trainer": {"accelerator": "auto", "devices": 1, "strategy": "auto"}})
    validate(cfg)
    trainer, module, datamodule, callbacks = build(cfg)
    if checkpoint.exists():
        module.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"])
    out.mkdir(parents=True, exist_ok=True)
    callbacks["probe"].run(trainer, module, datamodule)
    metrics = callbacks["probe"].metrics
    (out / RESULTS_FILE).write_text(json.dumps(as_recorded(
        {"status": "completed", "metrics": metrics, "rescore_of": str(run_dir),
         "checkpoint": str(checkpoint) if checkpoint.exists() else None,
         "probe": probe | sizes}), indent=2))
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.rescore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a run folder (results.json, checkpoints/last.ckpt)")
    parser.add_argument("--probe-fit", type=int, help="samples or images to fit the probes on (default: the run's "
                        "dataset.probe_fit)")
    parser.add_argument("--probe-score", type=int, help="samples or images to score them on (default: the run's "
                        "dataset.probe_score)")
    parser.add_argument("--checkpoint", type=Path, help="the weights to probe (default: checkpoints/best.ckpt, else "
                        "last.ckpt), e.g. a snapshot in checkpoints/snapshots/")
    parser.add_argument("--out", type=Path, help="where to write results.json and probe.png (default: RUN_DIR/rescore)")
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / "rescore"
    try:
        metrics = rescore(args.run_dir, out, args.probe_fit, args.probe_score, args.checkpoint)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    scorers = configured_scorers(OmegaConf.create(existing_record(args.run_dir)["config"]))
    print(format_summary(metrics, out, scorers=scorers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
