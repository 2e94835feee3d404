"""Sweep launchers are Hydra plugins, installed with the `cluster` extra: name the extra when one is missing.

Hydra composes the config before any of our code runs, and a missing plugin then only reads
"Could not find 'hydra/launcher/submitit_local'"; so the command line is checked first.
"""
from __future__ import annotations

import re
from pathlib import Path

LAUNCHER_PRESETS = Path(__file__).parents[1] / "conf" / "launcher"


def missing_launcher_plugin(args: list[str]) -> str | None:
    """A message if a `launcher=NAME` argument needs a Hydra launcher plugin that is not installed."""
    for arg in args:
        key, _, name = arg.lstrip("+~").partition("=")
        preset = LAUNCHER_PRESETS / f"{name}.yaml"
        if key != "launcher" or not preset.is_file():  # an unknown preset: Hydra lists the options
            continue
        match = re.search(r"override /hydra/launcher:\s*([\w.-]+)", preset.read_text())
        if match and not _installed(match.group(1)):
            return (f"launcher={name} needs Hydra's '{match.group(1)}' launcher plugin, which is not installed. "
                    "Fix: pip install -e '.[cluster]' in this repository (make install does), then run the command again.")
    return None


def _installed(launcher: str) -> bool:
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # imports the installed hydra_plugins, which register their launcher configs
    return f"{launcher}.yaml" in ConfigStore.instance().repo.get("hydra", {}).get("launcher", {})
