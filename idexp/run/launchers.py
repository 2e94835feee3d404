"""Sweep launchers and the Optuna sweeper are Hydra plugins, installed with the `cluster` extra: name the extra
when one is missing.

Hydra composes the config before any of our code runs, and a missing plugin then only reads
"Could not find 'hydra/launcher/submitit_local'" (or 'hydra/sweeper/optuna'); so the command line is checked first.
"""
from __future__ import annotations

import re
from pathlib import Path

CONF = Path(__file__).parents[1] / "conf"
# Our config groups whose presets select a Hydra plugin, and the Hydra group of that plugin.
PLUGIN_GROUPS = {"launcher": "launcher", "hparams_search": "sweeper"}


def missing_hydra_plugin(args: list[str]) -> str | None:
    """A message if a `launcher=NAME` or `hparams_search=NAME` argument needs a Hydra plugin that is not installed."""
    for arg in args:
        key, _, name = arg.lstrip("+~").partition("=")
        kind = PLUGIN_GROUPS.get(key)
        preset = CONF / key / f"{name}.yaml"
        if kind is None or not preset.is_file():  # an unknown preset: Hydra lists the options
            continue
        match = re.search(rf"override /hydra/{kind}:\s*([\w.-]+)", preset.read_text())
        if match and not _installed(kind, match.group(1)):
            return (f"{key}={name} needs Hydra's '{match.group(1)}' {kind} plugin, which is not installed. "
                    "Fix: pip install -e '.[cluster]' in this repository (make install does), then run the command again.")
    return None


def _installed(kind: str, plugin: str) -> bool:
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # imports the installed hydra_plugins, which register their configs
    return f"{plugin}.yaml" in ConfigStore.instance().repo.get("hydra", {}).get(kind, {})
