"""Every training command the README shows, at its full defaults (minutes each): `make test-slow`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

README_COMMANDS = {
    "default": ([], 0.98),
    "aninfonce": (["loss=aninfonce", "dgp=sphere"], 0.98),
    "ce": (["loss=ce", "dgp=clusters"], 0.95),
    "diet": (["loss=diet", "dgp=clusters"], 0.95),
    "kappa50": (["dgp.dim=5", "dgp.conditional.kappa=50", "seed=3"], 0.95),
    "vae": (["loss=vae", "dgp=moebius", "loss/prior=uniform"], 0.85),  # the Möbius map is mild: x alone gives 0.87
}


@pytest.mark.parametrize("name", README_COMMANDS)
def test_readme_commands_identify_the_latents(tmp_path, name):
    args, threshold = README_COMMANDS[name]
    result = run_cli([*args, "logger=csv"], tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr
    assert "Warning:" not in result.stdout
    folder = Path(next(line for line in result.stdout.splitlines() if "Run folder:" in line).split(": ", 1)[1])
    record = json.loads((folder / "results.json").read_text())
    print(f"{name}: {record['wall_time_s']:.0f} s, R² {record['metrics']['probe/r2_affine']:.4f}")
    assert record["metrics"]["probe/r2_affine"] >= threshold
    if name == "aninfonce":
        # 0.887 to 0.9+ on different CPUs (float summation order): Λ̂ is still spreading out at 4000 steps
        assert record["metrics"]["probe/lambda_corr"] > 0.85
    if name == "vae":  # the VAE's codes are closer to the sources than the observations (0.89 against 0.78 here)
        assert record["metrics"]["probe/mcc_pearson"] > record["metrics"]["probe/baseline_mcc_pearson"] + 0.05
