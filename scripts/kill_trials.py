"""Kill-and-relaunch trials: does a run stopped at a random moment, by a random signal, end as if never stopped?

For each family (a synthetic DGP run and a procedural-style dSprites image run, both small enough for a CPU),
one reference run, then `--trials` runs that are each sent SIGTERM, SIGINT or SIGKILL at a random moment and
relaunched with the same command until they complete (killed again at random on the first relaunches). A
trial survives when its scores equal the reference's bit for bit and its folder holds one `last.ckpt`.

    python scripts/kill_trials.py --trials 6 --out /tmp/kill_trials     # prints JSON: survived / tried per family
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dislib_files import dsprites_overrides, write_dsprites  # noqa: E402  (writes the canonical npz schema)

SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
SYNTHETIC = ["logger=none", "trainer=cpu", "trainer.max_steps=3000", "dataset.batch_size=64", "model.hidden=[32,32]",
             "dataset.probe_fit=1024", "dataset.probe_score=1024", "callbacks.checkpoint.every_n_train_steps=100"]
IMAGES = ["logger=none", "trainer=cpu", "trainer.max_epochs=4", "dataset.batch_size=16", "dataset.loader.num_workers=0",
          "model=mlp_dislib", "model.hidden=[64,64]", "model.out_dim=32", "callbacks.early_stop=null",
          "callbacks.checkpoint.every_n_train_steps=25"]


def launch(args: list[str], run_dir: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, f"hydra.run.dir={run_dir}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def scores(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("status") != "completed":
        return None
    return {key: value for key, value in record["metrics"].items() if key != "probe/seconds"}


def trial(args: list[str], run_dir: Path, env: dict, rng: random.Random, window: tuple[float, float]) -> dict:
    """Stop the run at random up to twice, then let it finish; what happened, and whether it completed cleanly."""
    stops, tracebacks = [], 0
    for attempt in range(6):
        process = launch(args, run_dir, env)
        if attempt < 2:
            time.sleep(rng.uniform(*window))
            how = rng.choice(SIGNALS)
            process.send_signal(how)
            stops.append(how.name)
        _, stderr = process.communicate(timeout=900)
        tracebacks += "Traceback" in stderr
        if scores(run_dir) is not None:
            break
    return {"stops": stops, "tracebacks": tracebacks, "scores": scores(run_dir),
            "checkpoints": sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))}


def family(name: str, args: list[str], out: Path, env: dict, trials: int, rng: random.Random,
           window: tuple[float, float], checkpoints: list[str]) -> dict:
    reference_dir = out / name / "reference"
    subprocess.run([sys.executable, str(ROOT / "train.py"), *args, f"hydra.run.dir={reference_dir}"], env=env,
                   check=True, capture_output=True)
    reference = scores(reference_dir)
    results = [trial(args, out / name / f"trial_{k}", env, rng, window) for k in range(trials)]
    survived = [r for r in results if r["scores"] == reference and not r["tracebacks"] and r["checkpoints"] == checkpoints]
    return {"survived": len(survived), "tried": len(results),
            "trials": [{key: r[key] for key in ("stops", "tracebacks", "checkpoints")} | {"same_scores": r["scores"] == reference}
                       for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6, help="trials per family")
    parser.add_argument("--out", type=Path, default=Path("kill_trials"), help="folder for the runs")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    env = {**os.environ, "WANDB_MODE": "offline", "IDEXP_CACHE": str(options.out / "cache")}
    options.out.mkdir(parents=True, exist_ok=True)
    data = options.out / "dsprites.npz"
    sizes = (1, 3, 2, 6, 8, 8)
    write_dsprites(data, sizes=sizes)
    report = {
        "synthetic": family("synthetic", SYNTHETIC, options.out, env, options.trials, rng, (5.0, 12.0), ["last.ckpt"]),
        "images": family("images", [*dsprites_overrides(data, sizes=sizes), *IMAGES], options.out, env, options.trials,
                         rng, (5.0, 14.0), ["best.ckpt", "last.ckpt"]),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
