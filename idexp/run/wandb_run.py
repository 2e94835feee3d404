"""W&B runs that can be found again: a group per experiment (and per sweep), a name that says what the run is,
and the headline score as a summary value of its own."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict

from idexp.config import ConfigError
from idexp.run.record import run_overrides
from idexp.scorers import headline

HEADLINE_SUMMARY = "headline"  # the summary key a runs table shows and a W&B sweep's `metric.name` reads
UNNAMED = "defaults"  # the name of a run launched without overrides
MAX_TAG = 64  # characters, W&B's limit


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger, less the `anonymous=None` it always hands to `wandb.init`: W&B ≥ 0.31 warns on
    every run that the setting has no effect, which would break the silence our summary relies on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "anonymous" in self._wandb_init and self._wandb_init["anonymous"] is None:
            del self._wandb_init["anonymous"]


def name_wandb_run(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Check the tags, then fill in logger.wandb.group and .name where the config leaves them null (a value the
    user set is kept)."""
    node = OmegaConf.select(cfg, "logger.wandb")
    if node is None:
        return
    check_tags(cfg.get("tags"))
    with open_dict(cfg):
        if node.get("group") is None:
            node.group = run_group(cfg)
        if node.get("name") is None:
            node.name = run_name(overrides)


def check_tags(tags) -> None:
    """W&B takes tags of 1 to 64 characters; refuse others before the run starts, naming `tags`."""
    for tag in tags or []:
        if not 1 <= len(str(tag)) <= MAX_TAG:
            raise ConfigError(f"tags: the tag '{tag}' has {len(str(tag))} characters; W&B takes 1 to {MAX_TAG}. "
                              f"Fix: give tags of 1 to {MAX_TAG} characters, e.g. tags=[baseline,v2].")


def run_group(cfg: DictConfig) -> str:
    """The experiment preset, else the loss and the data (`infonce+sphere`, `ce+dsprites`); the jobs of a sweep
    add the sweep's folder (`infonce+sphere/2026-01-31_12-00-00_000000`), so each sweep's runs sit together."""
    if not HydraConfig.initialized():
        return cfg.get("task_name") or "train"
    hydra = HydraConfig.get()
    choices = hydra.runtime.choices
    data = choices.get("dgp") if choices.get("dataset") in (None, "synthetic") else choices.get("dataset")
    group = choices.get("experiment") or "+".join(str(c) for c in (choices.get("loss"), data) if c) \
        or cfg.get("task_name") or "train"
    if hydra.mode == RunMode.MULTIRUN:
        group += "/" + Path(hydra.sweep.dir).name
    return group


def run_name(overrides: Sequence[str]) -> str:
    """The overrides that define the run, launch settings left out, long decimals shortened:
    `seed=1,loss.temperature=0.1`. The same command gives the same name, so a relaunch keeps it."""
    return ",".join(_short_number(item) for item in run_overrides(overrides)) or UNNAMED


def _short_number(override: str) -> str:
    """`optimizer.lr=0.0085525309099` -> `optimizer.lr=0.008553`: a search's sampled values, readable."""
    key, sep, value = override.partition("=")
    if re.fullmatch(r"-?\d*\.\d{5,}(e-?\d+)?", value):
        value = f"{float(value):.4g}"
    return key + sep + value


def summarise_headline(loggers, metrics: dict) -> None:
    """Write the headline score (probe/headline, whichever the probe family) as the summary value `headline`."""
    value = headline(metrics)
    if value is None:
        return
    for logger in loggers:
        if isinstance(logger, LightningWandbLogger):
            logger.experiment.summary[HEADLINE_SUMMARY] = value
