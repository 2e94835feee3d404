"""Launching into a run folder that already holds a run: skip it, resume it, or refuse it.

A sweep re-launched into the same `hydra.sweep.dir`, or a SLURM job requeued after preemption, finds
its folder's `results.json`. Job folders are numbered by their position in the sweep, so a re-launch
with other overrides (`seed=1,0` after `seed=0,1`) would find *another* run there: that one must be
neither skipped as done, nor resumed from its checkpoint, nor overwritten.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from idexp.config import ConfigError
from idexp.run.record import as_recorded, is_launch_setting, run_overrides
from idexp.run.renamed import upgrade_recorded


class RunFolderTaken(ConfigError):
    """The run folder holds a run of another configuration; it is left as it is."""


def check_same_run(previous: dict, cfg: DictConfig, overrides: list[str], run_dir: Path) -> None:
    """Raise RunFolderTaken (after undoing Hydra's rewrite of `.hydra/`) if `previous` is another run."""
    overridden = [item.lstrip("+~").split("=", 1)[0].replace("/", ".")
                  for item in [*(previous.get("overrides") or []), *overrides]]
    differences = config_differences(upgrade_recorded(previous.get("config") or {}), _as_if_in(cfg, previous), overridden)
    if not differences:
        return
    restore_hydra_files(previous, run_dir)
    before, now = run_overrides(previous.get("overrides") or []), run_overrides(overrides)
    then_only, now_only = [o for o in before if o not in now], [o for o in now if o not in before]
    shown = (f"launched with {' '.join(then_only) or 'no such override'} then, {' '.join(now_only) or 'none'} now; "
             if "overrides" in previous and (then_only or now_only) else "")
    shown += "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
    raise RunFolderTaken(f"{run_dir} already holds a run of another configuration ({shown}). It is left as is. "
                         "Fix: re-launch with the same overrides (new seeds go at the end of the seed list), "
                         "or choose a new hydra.sweep.dir / hydra.run.dir.")


def _as_if_in(cfg: DictConfig, previous: dict) -> dict:
    """The current config as recorded, resolved in the recorded folder (which may have moved since)."""
    recorded_dir = (previous.get("config") or {}).get("paths", {}).get("output_dir")
    if recorded_dir:
        cfg = OmegaConf.merge(cfg, {"paths": {"output_dir": recorded_dir}})
    return as_recorded(OmegaConf.to_container(cfg, resolve=True))


def config_differences(recorded: dict, current: dict, overridden: list[str] = (), prefix: str = "") -> list[str]:
    """`key: recorded -> current` for every setting (but launch settings) that differs.

    A key that only one side has comes from another version of idexp (a setting added or removed
    since) at its default value: it is not a difference unless a launch set it on the command line.
    """
    differences = []
    for key in sorted(set(recorded) | set(current), key=str):
        name = f"{prefix}{key}"
        if is_launch_setting(name) or (key not in recorded or key not in current) and not _set_by(name, overridden):
            continue
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            differences += config_differences(old, new, overridden, name + ".")
        elif old != new:
            differences.append(f"{name}: {old!r} -> {new!r}")
    return differences


def _set_by(name: str, overridden: list[str]) -> bool:
    """Whether a command-line override set `name`, a setting inside it, or the group it belongs to."""
    return any(name == key or name.startswith(key + ".") or key.startswith(name + ".") for key in overridden)


def restore_hydra_files(previous: dict, run_dir: Path) -> None:
    """Hydra has already written this launch's config into `.hydra/`: put back the recorded run's."""
    hydra_dir = run_dir / ".hydra"
    if not hydra_dir.is_dir():
        return
    OmegaConf.save(OmegaConf.create(previous.get("config") or {}), hydra_dir / "config.yaml")
    (hydra_dir / "hydra.yaml").unlink(missing_ok=True)  # it describes the refused launch
    if "overrides" in previous:
        OmegaConf.save(OmegaConf.create(previous["overrides"]), hydra_dir / "overrides.yaml")
    else:  # a record from before results.json kept them: better none than the refused launch's
        (hydra_dir / "overrides.yaml").unlink(missing_ok=True)
