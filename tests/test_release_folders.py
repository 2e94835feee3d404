"""Run folders made by the last release (before the ground-truth contract, commit dacfac1) are still recognised.

`fixtures/release_dacfac1/` holds what that release wrote (`.hydra/`, `results.json`) for a two-job sweep and a
dSprites run; relaunching the same commands with this version must find them complete and skip them,
leaving them as they are, rather than train again or refuse the folder as another configuration.
"""
import json
import shutil
from pathlib import Path

import pytest

from idexp.run.renamed import upgrade_overrides, upgrade_recorded
from tests.conftest import run_cli

RELEASE = Path(__file__).parent / "fixtures" / "release_dacfac1"
SWEEP = ["-m", "seed=0,1", "trainer.max_steps=30", "logger=csv", "callbacks.probe.n_samples=512",
         "dataset.batch_size=64", "model.hidden=[32,32]"]
DSPRITES = ["dataset=dsprites", "trainer.max_epochs=1", "dataset.subset=0.02", "callbacks.loss_check=null", "logger=csv"]


@pytest.mark.slow  # two relaunches through the CLI as processes (12 s); the renames are tested below in-process
def test_a_sweep_and_an_image_run_of_the_last_release_are_skipped_as_complete(tmp_path):
    shutil.copytree(RELEASE, tmp_path / "release")  # moved since it was made: recognised all the same
    sweep, image = tmp_path / "release" / "sweep", tmp_path / "release" / "dsprites"
    before = {path: path.read_text() for path in (tmp_path / "release").rglob("results.json")}

    relaunched = run_cli([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    assert ("Note: callbacks.probe.n_samples=512 is now written dataset.probe_fit=256 dataset.probe_score=256"
            in relaunched.stderr)
    for job in ("0", "1"):
        assert f"{sweep / job} already holds a completed run of this configuration; skipping it" in relaunched.stdout
    recorded = json.loads((sweep / "0" / "results.json").read_text())["metrics"]
    assert f"{recorded['probe/r2_affine']:.4f}" in relaunched.stdout  # its summary, from the old record

    relaunched = run_cli([*DSPRITES, f"hydra.run.dir={image}"], tmp_path)
    assert relaunched.returncode == 0, relaunched.stderr[-2000:]
    assert f"{image} already holds a completed run of this configuration; skipping it" in relaunched.stdout
    assert "Factor probe" in relaunched.stdout
    assert {path: path.read_text() for path in before} == before  # left as they were


def test_the_old_probe_sizes_are_read_as_the_dataset_ones():
    """The release's three probe-size knobs become dataset.probe_fit/probe_score, on the command line and in records."""
    args, notes = upgrade_overrides(["seed=0", "callbacks.probe.n_samples=512", "callbacks.probe.train_fraction=0.25"])
    assert args == ["seed=0", "dataset.probe_fit=128", "dataset.probe_score=384"] and len(notes) == 1
    assert upgrade_overrides(["dataset=imagenet", "dataset.probe_images=2000"])[0] == ["dataset=imagenet", "dataset.probe_fit=2000"]
    assert upgrade_overrides(["seed=0"]) == (["seed=0"], [])

    sweep = json.loads((RELEASE / "sweep" / "0" / "results.json").read_text())["config"]
    upgraded = upgrade_recorded(sweep)
    assert (upgraded["dataset"]["probe_fit"], upgraded["dataset"]["probe_score"]) == (256, 256)
    assert "n_samples" not in upgraded["callbacks"]["probe"] and "n_samples" in sweep["callbacks"]["probe"]  # a copy
    image = upgrade_recorded(json.loads((RELEASE / "dsprites" / "results.json").read_text())["config"])
    assert (image["dataset"]["probe_fit"], image["dataset"]["probe_score"]) == (50000, 20000)  # the images' own
    assert upgrade_recorded({"dataset": {"probe_images": 7}})["dataset"] == {"probe_fit": 7, "probe_score": None}
