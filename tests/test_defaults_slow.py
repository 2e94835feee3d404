"""The issue's acceptance runs at full default scale (minutes each): `make test-slow`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("args", [[], ["loss=aninfonce", "dgp=sphere"]], ids=["default", "aninfonce"])
def test_default_commands_identify_the_latents(tmp_path, args):
    result = run_cli([*args, "logger=csv"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    folder = Path(next(line for line in result.stdout.splitlines() if "Run folder:" in line).split(": ", 1)[1])
    record = json.loads((folder / "results.json").read_text())
    print(f"{args or 'default'}: {record['wall_time_s']:.0f} s, R² {record['metrics']['probe/r2_affine']:.4f}")
    assert record["metrics"]["probe/r2_affine"] >= 0.98
    if args:
        # 0.887 to 0.9+ on different CPUs (float summation order): Λ̂ is still spreading out at 4000 steps
        assert record["metrics"]["probe/lambda_corr"] > 0.85
