"""The end of a hyperparameter search (hparams_search=...) in which no trial completed.

Hydra's Optuna sweeper then asks Optuna for the best trial, which raises "No trials are completed yet" as a bare
traceback. After the last trial this callback says instead what happened and how to fix it, and ends the search.
"""
from __future__ import annotations

import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from idexp.run.record import existing_record
from idexp.scorers import headline


class NoTrialCompleted(Callback):
    def on_job_end(self, config: DictConfig, job_return=None, **kwargs) -> None:
        hydra = config.hydra
        if hydra.job.get("num") != hydra.sweeper.n_trials - 1:  # not the search's last trial
            return
        records = [record for folder in sorted(Path(hydra.sweep.dir).iterdir()) if folder.is_dir()
                   if (record := existing_record(folder)) is not None]
        if any(_scored(record) for record in records):
            return
        reason = next((record["error"] for record in records if record.get("error")), "see the trials' train.log")
        choice = hydra.runtime.choices.get("hparams_search")
        sys.exit(f"Search failed: none of the {hydra.sweeper.n_trials} trials of "
                 f"{f'hparams_search={choice}' if choice else 'the search'} gave a headline score, so Optuna has no "
                 f"best trial (first failure: {reason}). Each trial's results.json in {hydra.sweep.dir} says why. "
                 "Fix: narrow hydra.sweeper.params to values a single run trains with, then search again.")


def _scored(record: dict) -> bool:
    return record.get("status") == "completed" and headline(record.get("metrics") or {}) is not None
