"""CE Table 4's layout: one row per (dataset, factor), Pearson r of x / f_MLP / f_CNN, the paper's beside ours."""
from __future__ import annotations

import pandas as pd

from idexp.report.collect import Runs
from idexp.report.paper import CE_TABLE4, CE_TABLE4_COLUMNS
from idexp.scorers.base import N_FIT
from idexp.scorers.factors import PEARSON

TITLE = "CE Table 4 (DisLib, Pearson r of linear decoding)"


def no_figures(runs: Runs, out) -> list:
    return []


def images_note(runs: Runs) -> str:
    """Under the table: where each dataset's images came from (dSprites without a file is idexp's procedural clone)."""
    frame = runs.completed
    paths = frame.get("dataset.path", pd.Series(None, index=frame.index))
    sources = {f"{dataset_name(run)}: " + (f"`{path}`" if isinstance(path, str) else "idexp's procedural clone "
                                       "(no dataset.path; idexp/data/render_dsprites.py)")
               for (_, run), path in zip(frame.iterrows(), paths)}
    return "\nImages: " + "; ".join(sorted(sources)) + ".\n"


def dataset_name(run: pd.Series) -> str:
    name = run.get("dataset.name")
    return f"{name}:{run.get('dataset.variant')}" if name == "mpi3d" else str(name)


def model_choice(run: pd.Series) -> str:
    """The run's `model=` choice: from its command line, else a backbone preset's architecture (an experiment that
    selects `model: resnet18` in its defaults), else the encoder's class."""
    return str(run.get("override:model") or run.get("model.architecture")
               or run.get("model._target_", "?").rsplit(".", 1)[-1])


def factor_table(runs: Runs) -> pd.DataFrame:
    """Mean ± std over seeds of each factor's Pearson r; column x is the raw-input baseline of the runs whose
    probe fitted on the most training images (the paper fits on the whole training split)."""
    frame = runs.completed.assign(_dataset=runs.completed.apply(dataset_name, axis=1),
                                  _model=runs.completed.apply(model_choice, axis=1))
    factors = sorted(PEARSON.factors(dict.fromkeys(frame.columns)))
    models = [m for m in CE_TABLE4_COLUMNS.values() if m] + sorted(set(frame["_model"]) - set(CE_TABLE4_COLUMNS.values()))
    rows = []
    for dataset, group in frame.groupby("_dataset", sort=True):
        for factor in factors:
            if group.get(PEARSON.of(factor), pd.Series(dtype=float)).isna().all():
                continue
            paper = CE_TABLE4.get((dataset, factor))
            # x depends only on the data and the probe: taken from the runs whose probe fitted on the most images
            widest = group[group[N_FIT.key] == group[N_FIT.key].max()] if N_FIT.key in group else group
            row = {"dataset": dataset, "factor": factor, "x": _mean_std(widest.get(PEARSON.of(factor, baseline=True))),
                   "x paper": _paper(paper, 0)}
            for model in models:
                runs_of_model = group[group["_model"] == model]
                if runs_of_model.empty:
                    continue
                label = next((c for c, m in CE_TABLE4_COLUMNS.items() if m == model), model)
                row[label] = _mean_std(runs_of_model.get(PEARSON.of(factor)))
                row[f"{label} seeds"] = len(runs_of_model)
                if label in CE_TABLE4_COLUMNS:
                    row[f"{label} paper"] = _paper(paper, list(CE_TABLE4_COLUMNS).index(label))
            rows.append(row)
    return pd.DataFrame(rows)


def _mean_std(values: pd.Series | None) -> str:
    if values is None or values.isna().all():
        return "–"
    values = values.dropna()
    return f"{values.mean():.2f}" if len(values) == 1 else f"{values.mean():.2f}±{values.std(ddof=1):.2f}"


def _paper(values: tuple | None, column: int) -> str:
    return "–" if values is None else f"{values[column]:.2f}"
