"""The papers' rows are found from the settings of real composed experiment configs."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from idexp.report.collect import flatten
from idexp.report.paper import PAPER_TABLES
from tests.conftest import ROOT, compose_config


@pytest.mark.parametrize("experiment,overrides,table,column,expected", [
    ("ce_table3", [], "ce_table3", "R² z̃→z", 99.8),
    ("ce_table3", ["dgp.dim=20"], "ce_table3", "R² z̃→z", 82.1),
    ("ce_table3", ["dgp.conditional.kappa=50"], "ce_table3", "R² z̃→z", 65.5),
    ("ce_table3", ["dgp/conditional=laplace"], "ce_table3", "R² z̃→z", 85.4),
    ("ce_table3", ["dgp.n_clusters=10000"], "ce_table3", "R² z̃→z", 99.8),  # N = 10³, as the paper's code ran it
    ("ce_table2", ["dgp.n_clusters=10"], "ce_table2", "R²_a w_i→v_c", 99.0),
    ("ce_table2", ["dgp.n_clusters=10", "loss.normalize_rows=true"], "ce_table2", "R²_o w_i→v_c", 85.7),
    ("ce_table2", ["dgp.n_instances=100000"], "ce_table2", "R²_a z̃→z", 99.7),
    ("ce_table2", ["dgp/conditional=normal", "loss.normalize_rows=true"], "ce_table2", "R²_o z̃→z", 98.7),
    ("ce_table5", ["dgp/marginal@dgp.cluster_marginal=laplace", "loss.normalize_rows=true"], "ce_table5", "R²_o z̃→z", 98.7),
    ("aninfonce", ["dgp.conditional.lambdas=linspace"], "aninfonce", "MCC", 99.0),
])
def test_paper_rows_are_matched_by_the_run_settings(tmp_path, experiment, overrides, table, column, expected):
    cfg = compose_config([f"experiment={experiment}", *overrides], tmp_path)
    run = pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))
    assert PAPER_TABLES[table].lookup(run)[column] == expected


def test_anInfoNCE_reference_values_are_labelled_as_the_official_log_not_a_paper(tmp_path):
    from idexp.report.collect import Runs
    from idexp.report.tables import ablation_table

    cfg = compose_config(["experiment=aninfonce", "dgp.conditional.lambdas=linspace"], tmp_path)
    run = {**flatten(OmegaConf.to_container(cfg, resolve=True)), "probe/mcc_pearson": 0.95, "probe/r2_affine": 0.99}
    table = ablation_table(Runs(pd.DataFrame([run])), paper=PAPER_TABLES["aninfonce"])
    assert table.loc[0, "MCC official log"] == 99.0 and not any(column.endswith(" paper") for column in table.columns)
    assert "in-sample" in PAPER_TABLES["aninfonce"].name and "held out" in PAPER_TABLES["aninfonce"].name
    from idexp.report.__main__ import layout
    notes = layout("aninfonce").notes(Runs(pd.DataFrame([run])))  # under the table: the Λ corr is ours, from the log
    assert "not printed in it but computed by us from the learned Λ̂ it prints" in notes


def test_a_metric_the_run_does_not_define_has_no_difference_to_the_papers(tmp_path):
    """MAE_o needs the DGP's κ: a Laplace-conditional run has none, so its row shows the paper's value and no Δ."""
    from idexp.report.collect import Runs
    from idexp.report.tables import ablation_table

    cfg = compose_config(["experiment=ce_table2", "dgp/conditional=laplace", "loss.normalize_rows=true"], tmp_path)
    # beside κ-defining runs of the same table the column exists, empty (nan) for this one
    run = {**flatten(OmegaConf.to_container(cfg, resolve=True)), "probe/r2_orthogonal": 0.87, "probe/mae_o": float("nan")}
    table = ablation_table(Runs(pd.DataFrame([run])), paper=PAPER_TABLES["ce_table2"])
    row = table.iloc[0]
    assert (row["MAE_o z̃→z"], row["MAE_o z̃→z paper"], row["MAE_o z̃→z Δ"]) == ("–", 0.01, "–")
    assert row["R²_o z̃→z Δ"] == "+1.8"  # 87.0 against the paper's 85.2


@pytest.mark.parametrize("override", ["dgp.dim=7", "dgp.n_clusters=10", "dgp.conditional.kappa=50", "dgp.n_instances=100",
                                      "dgp.cluster_marginal.noise.scale=2"])
def test_a_table5_row_matches_the_paper_only_at_the_papers_d_clusters_kappa_n_and_scale(tmp_path, override):
    base = ["experiment=ce_table5", "dgp/marginal@dgp.cluster_marginal=laplace", "loss.normalize_rows=true"]
    cfg = compose_config([*base, override], tmp_path)
    assert PAPER_TABLES["ce_table5"].lookup(pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))) is None


def test_table3s_10k_cluster_row_is_matched_only_at_the_papers_n(tmp_path):
    cfg = compose_config(["experiment=ce_table3", "dgp.n_clusters=10000", "dgp.n_instances=10000"], tmp_path)
    assert PAPER_TABLES["ce_table3"].lookup(pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))) is None


def test_a_row_the_paper_does_not_report_has_no_paper_value(tmp_path):
    cfg = compose_config(["experiment=ce_table3", "dgp.dim=7"], tmp_path)
    run = pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))
    assert PAPER_TABLES["ce_table3"].lookup(run) is None


@pytest.mark.parametrize("normalize_rows,columns", [("true", {"R²_o z̃→z", "R²_o w_i→v_c", "MAE_o z̃→z", "MAE_o w_i→v_c"}),
                                                    ("false", {"R²_a z̃→z", "R²_a w_i→v_c"})])
def test_diet_runs_get_the_paper_columns_of_their_w(tmp_path, normalize_rows, columns):
    """The paper's o-columns come from normalised W, its a-columns from unnormalised W."""
    cfg = compose_config(["experiment=ce_table2", f"loss.normalize_rows={normalize_rows}"], tmp_path)
    run = pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))
    assert set(PAPER_TABLES["ce_table2"].lookup(run)) == columns


def test_a_conditional_of_another_scale_is_not_the_papers_row(tmp_path):
    cfg = compose_config(["experiment=ce_table3", "dgp/conditional=laplace", "dgp.conditional.scale=0.5"], tmp_path)
    assert PAPER_TABLES["ce_table3"].lookup(pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True)))) is None


def test_a_row_that_kept_the_preset_shows_its_value_and_the_title_is_used(tmp_path, capsys):
    from idexp.report.__main__ import main as report
    for job, (overrides, dim) in enumerate([(["dgp.dim=3"], 3), ([], 5)]):
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "results.json").write_text(json.dumps({
            "status": "completed", "metrics": {"probe/r2_affine": 0.5 + job / 4}, "wall_time_s": 10.0,
            "config": {"seed": 0, "dgp": {"dim": dim}}, "overrides": ["launcher=joblib", *overrides]}))
    assert report([str(tmp_path), "--title", "My sweep", "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert table.startswith("# My sweep: 2 runs")
    assert "| dgp.dim | seeds |" in table and "launcher" not in table  # how it was launched is no setting
    assert "| 3 | 1 | 50.0 (n = 1) |" in table and "| *5* | 1 | 75.0 (n = 1) |" in table  # one seed: no ± 0.0
    capsys.readouterr()


def test_a_group_choice_left_at_the_preset_reads_preset(tmp_path):
    from idexp.report.__main__ import main as report
    for job, overrides in enumerate([["loss=infonce"], []]):
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "results.json").write_text(json.dumps({
            "status": "completed", "metrics": {"probe/r2_affine": 0.9}, "wall_time_s": 10.0,
            "config": {"seed": 0, "loss": {"_target_": "idexp.losses.InfoNCE" if job == 0 else "idexp.losses.AnInfoNCE"}},
            "overrides": overrides}))
    assert report([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| infonce | 1 |" in table and "| preset | 1 |" in table


def test_spreads_are_sample_standard_deviations_and_the_header_states_the_recipe(tmp_path):
    from idexp.report.__main__ import main as report
    config = {"scale": "quick", "trainer": {"max_steps": 8000}, "dataset": {"batch_size": 1024},
              "optimizer": {"lr": 0.003}, "scheduler": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR"}}
    for seed, r2 in enumerate([0.90, 0.92, 0.94]):
        (tmp_path / str(seed)).mkdir()
        (tmp_path / str(seed) / "results.json").write_text(json.dumps({
            "status": "completed", "metrics": {"probe/r2_affine": r2}, "wall_time_s": 10.0,
            "config": {**config, "seed": seed}, "overrides": [f"seed={seed}"]}))
    assert report([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| 3 | 92.0±2.0 |" in table  # sample std (ddof = 1) of 90, 92, 94; the population std would be 1.6
    assert "Trained with: scale quick · steps 8000 · batch 1024 · lr 0.003 · schedule cosine." in table


@pytest.mark.parametrize("scale,expected", [
    ("quick", "scale quick · steps 4000 · batch 1024 · lr 0.003 · loss lr 0.01 · schedule cosine"),
    ("paper", "scale paper · steps 100000 · batch 1000 · lr 0.0001 · loss lr 0.001 · schedule constant")])
def test_the_recipe_of_aninfonce_states_the_rate_of_lambda_too(tmp_path, scale, expected):
    from idexp.report.collect import Runs
    from idexp.report.tables import recipe

    cfg = compose_config(["experiment=aninfonce", f"scale={scale}"], tmp_path)
    runs = Runs(pd.DataFrame([flatten(OmegaConf.to_container(cfg, resolve=True))]))
    assert recipe(runs) == expected


def test_encoders_trained_with_recipes_of_their_own_get_one_each():
    """CE Table 4's f_MLP and f_CNN: all images at batch 4096 for 5 epochs, and a 10% subset at 256 for 2."""
    from idexp.report.collect import Runs
    from idexp.report.tables import recipe

    runs = Runs(pd.DataFrame([
        {"override:model": "mlp_dislib", "trainer.max_epochs": 5, "dataset.subset": 1.0, "dataset.batch_size": 4096,
         "optimizer.lr": 0.001},
        {"override:model": "resnet18", "trainer.max_epochs": 2, "dataset.subset": 0.1, "dataset.batch_size": 256,
         "optimizer.lr": 0.001}]))
    assert recipe(runs) == ("model=mlp_dislib: epochs 5 · subset 1.0 · batch 4096 · lr 0.001 · schedule constant; "
                            "model=resnet18: epochs 2 · subset 0.1 · batch 256 · lr 0.001 · schedule constant")
    same = Runs(runs.completed.assign(**{"trainer.max_epochs": 2, "dataset.subset": 0.1, "dataset.batch_size": 256}))
    assert recipe(same) == "epochs 2 · subset 0.1 · batch 256 · lr 0.001 · schedule constant"


def test_execution_settings_neither_split_rows_nor_block_a_relaunch():
    from idexp.run.relaunch import config_differences
    from idexp.run.record import is_launch_setting, run_overrides

    assert is_launch_setting("dataset.loader.num_workers") and is_launch_setting("dataset.loader")
    assert not is_launch_setting("dataset.batch_size") and not is_launch_setting("model.loaders")
    assert run_overrides(["dataset.loader.num_workers=8", "seed=1", "callbacks.progress.refresh_rate=5"]) == ["seed=1"]
    recorded = {"dataset": {"batch_size": 64, "loader": {"num_workers": 0, "pin_memory": False}}}
    current = {"dataset": {"batch_size": 64, "loader": {"num_workers": 8, "pin_memory": True}}}
    assert config_differences(recorded, current) == []
    assert config_differences(recorded, {"dataset": {**current["dataset"], "batch_size": 32}}) == [
        "dataset.batch_size: 64 -> 32"]


VMF, LAPLACE = "idexp.dgp.VonMisesFisher", "idexp.dgp.Laplace"
TABLE3_VARIED = ["dgp.dim", "dgp.n_clusters", "dgp.conditional.kappa", "dgp/conditional"]
TABLE3_ABLATIONS = [  # (override, what it changes in the dgp config, R²)
    ("dgp.dim=10", {"dim": 10}, 0.97), ("dgp.dim=20", {"dim": 20}, 0.80), ("dgp.dim=7", {"dim": 7}, 0.95),
    ("dgp.n_clusters=10", {"n_clusters": 10}, 0.97), ("dgp.n_clusters=1000", {"n_clusters": 1000}, 0.99),
    ("dgp.n_clusters=10000", {"n_clusters": 10000}, 0.99),
    ("dgp.conditional.kappa=5", {"conditional": {"_target_": VMF, "kappa": 5}}, 0.99),
    ("dgp.conditional.kappa=50", {"conditional": {"_target_": VMF, "kappa": 50}}, 0.60),
    ("dgp/conditional=laplace", {"conditional": {"_target_": LAPLACE, "scale": 1.0}}, 0.85),
]


def _write_run(folder, dgp: dict, overrides: list[str], r2: float, seed: int = 0):
    folder.mkdir(parents=True)
    base = {"dim": 5, "n_clusters": 100, "n_instances": 1000, "conditional": {"_target_": VMF, "kappa": 10.0}}
    (folder / "results.json").write_text(json.dumps({
        "status": "completed", "metrics": {"probe/r2_affine": r2}, "wall_time_s": 10.0,
        "config": {"seed": seed, "dgp": {**base, **dgp}}, "overrides": [*overrides, f"seed={seed}"]}))


def _table3_sweep(folder):
    """A CE Table 3-like sweep: the baseline (two seeds: R² 99.0 and 99.4), one seed of each ablation,
    and d = 7, which the paper does not report."""
    for seed, r2 in enumerate([0.990, 0.994]):
        _write_run(folder / f"base{seed}", {}, [], r2, seed)
    for job, (override, dgp, r2) in enumerate(TABLE3_ABLATIONS):
        _write_run(folder / str(job), dgp, [override], r2)
    return folder


def test_the_baseline_sits_beside_each_blocks_own_paper_baseline(tmp_path):
    from idexp.report.collect import collect_runs
    from idexp.report.tables import ablation_table

    table = ablation_table(collect_runs([_table3_sweep(tmp_path)]), paper=PAPER_TABLES["ce_table3"])
    assert table.columns[0] == "block"
    assert list(table["block"]) == ["d"] * 3 + ["|C|"] * 4 + ["κ"] * 3 + ["p(z|v_c)"] * 2 + ["–"]  # paper's block order
    baseline = table[table[TABLE3_VARIED].isna().all(axis=1)]
    assert list(baseline["block"]) == ["d", "|C|", "κ", "p(z|v_c)"]
    assert list(baseline["R² z̃→z paper"]) == [99.8, 99.8, 99.7, 99.8]  # each block's own baseline
    assert set(baseline["R² z̃→z"]) == {"99.2±0.3"} and list(baseline["R² z̃→z Δ"]) == ["-0.6", "-0.6", "-0.5", "-0.6"]
    assert list(baseline["_repeat"]) == [False, True, True, True]
    assert table.loc[table["dgp.dim"] == "7", "R² z̃→z paper"].item() == "–"
    in_paper_order = table["R² z̃→z paper"].tolist()[:12]  # within each block, the paper's row order
    assert in_paper_order == [99.8, 97.2, 82.1, 97.5, 99.8, 99.8, 99.8, 99.7, 99.7, 65.5, 99.8, 85.4]
    assert table["dgp.n_clusters"].fillna("base").tolist()[3:7] == ["10", "base", "1000", "10000"]  # baseline mid-block


def test_a_blocked_table_renders_one_seed_blocks_and_files(tmp_path):
    from idexp.report.__main__ import main as report

    out = tmp_path / "out"
    assert report([str(_table3_sweep(tmp_path / "sweep")), "--table", "ce_table3", "--out", str(out)]) == 0
    markdown = (out / "table.md").read_text()
    assert "| block | " in markdown and "| \\|C\\| | " in markdown  # a | in a cell is escaped, not a column break
    assert "| 97.0 (n = 1) | 97.2 | -0.2 |" in markdown  # d = 10: one seed, no ± 0.0
    assert "| d | 10 | *100* | *10* | preset |" in markdown  # the preset's κ = 10.0 printed like an override's 10
    assert "| *5* | *100* | – | laplace |" in markdown  # a Laplace conditional has no κ: not "preset"
    csv = pd.read_csv(out / "table.csv")
    assert csv.columns[0] == "block" and not any(c.startswith("_") for c in csv.columns) and len(csv) == 13
    assert "block" in (out / "table.tex").read_text() and (out / "ablation_dgp.dim.png").exists()


def test_without_a_blocked_paper_table_no_block_column_and_no_copies(tmp_path):
    from idexp.report.collect import collect_runs
    from idexp.report.tables import ablation_table

    runs = collect_runs([_table3_sweep(tmp_path)])
    for paper in (None, PAPER_TABLES["ce_table5"]):
        table = ablation_table(runs, paper=paper)
        assert "block" not in table.columns and "_repeat" not in table.columns
        assert len(table) == 1 + len(TABLE3_ABLATIONS)


def test_the_plot_of_a_swept_key_has_the_baseline_once(tmp_path):
    from idexp.report.collect import collect_runs
    from idexp.report.plots import ablation_points
    from idexp.report.tables import ablation_table

    runs = collect_runs([_table3_sweep(tmp_path)])
    table = ablation_table(runs, paper=PAPER_TABLES["ce_table3"])
    assert list(ablation_points(table, runs.varied, "dgp.dim")["_x:dgp.dim"]) == [5, 7, 10, 20]
    assert len(ablation_points(table, runs.varied, "dgp/conditional")) == 2  # Laplace and the baseline


def test_table2s_baseline_has_each_blocks_values(tmp_path):
    cfg = compose_config(["experiment=ce_table2", "loss.normalize_rows=true"], tmp_path)
    matches = PAPER_TABLES["ce_table2"].matches(pd.Series(flatten(OmegaConf.to_container(cfg, resolve=True))))
    assert [(row.block, row.values["R²_o z̃→z"], row.values["MAE_o z̃→z"]) for _, row in matches] == [
        ("N", 98.6, 0.01), ("d", 98.6, 0.01), ("|C|", 98.6, 0.01), ("κ", 99.0, 0.00), ("p(z|v_c)", 98.6, 0.01)]


# --- App. D figures: heatmaps, curves and the paper's claims ----------------------------------------------

def _write_figure_run(folder, config: dict, overrides: list[str], metrics: dict, seed: int = 0):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({
        "status": "completed", "metrics": metrics, "wall_time_s": 60.0,
        "config": {"seed": seed, **config}, "overrides": [*overrides, f"seed={seed}"]}))


def test_fig4_grid_is_drawn_and_each_claim_is_tested_on_the_runs(tmp_path):
    """β × α: R² falls with α (claim holds), v_c beats z everywhere (holds), the norm falls as β → 1 (does not)."""
    from idexp.report.__main__ import main as report

    for job, (beta, alpha) in enumerate([(1, 0.5), (1, 2), (2, 0.5), (2, 2)]):
        r2 = 0.99 - 0.2 * (alpha == 2) - 0.05 * (beta == 1)
        for seed in (0, 1):
            _write_figure_run(tmp_path / "sweep" / f"{job}_{seed}", {"dgp": {"conditional": {"beta": beta, "scale": alpha}}},
                              [f"dgp.conditional.beta={beta}", f"dgp.conditional.scale={alpha}"],
                              {"probe/r2_affine": r2 + 0.002 * seed, "probe/head_r2_affine": r2 + 0.005,
                               "probe/code_norm": 10.0 + beta}, seed)
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig4", "--out", str(out)]) == 0
    markdown = (out / "table.md").read_text()
    assert "| 2 | 2 | 2 | 79.1±0.1 | 79.5±0.0 | 12.000±0.000 |" in markdown  # β=2, α=2 over two seeds
    claims = markdown.split("## The paper's claims, tested")[1]
    assert "| v_c is easier to recover than z | R² w_i→v_c ≥ R² z̃→z in every cell of the grid | ✓ 4 of 4 cells" in claims
    assert "| a larger scale α degrades R² |" in claims and "✓ β=1: 94.1 ± 0.1 → 74.1 ± 0.1; β=2: 99.1 ± 0.1 → 79.1 ± 0.1" in claims
    assert "✗ α=0.5: 11.00 ± 0.00 (β=1) vs 12.00 ± 0.00" in claims  # the norm does not grow as β → 1 in these runs
    assert (out / "fig4.png").stat().st_size > 10_000


def test_fig4_scale_claim_holding_on_the_codes_range_only_is_partial(tmp_path):
    """R² falls from α = 0.5 to 2 but is lowest at the tight α = 0.1: the claim holds in part, both ranges said."""
    from idexp.report.__main__ import main as report

    for job, (alpha, r2) in enumerate([(0.1, 0.60), (0.5, 0.99), (2, 0.80)]):
        _write_figure_run(tmp_path / "sweep" / str(job), {"dgp": {"conditional": {"beta": 2, "scale": alpha}}},
                          ["dgp.conditional.beta=2", f"dgp.conditional.scale={alpha}"],
                          {"probe/r2_affine": r2, "probe/head_r2_affine": r2, "probe/code_norm": 5.0})
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig4", "--out", str(out)]) == 0
    claims = (out / "table.md").read_text().split("## The paper's claims, tested")[1]
    assert ("| a larger scale α degrades R² |" in claims and "◐ partly: for α ≥ 0.5: β=2: 99.0 → 80.0; but over the "
            "whole grid (α 0.1 → 2) R² rises: β=2: 60.0 → 80.0 |" in claims), claims


def test_fig6_curves_and_label_noise_claims(tmp_path):
    from idexp.report.__main__ import main as report

    r2 = {"SupervisedCE": {0: 0.99, 0.8: 0.97, 1: 0.60}, "DIET": {0: 0.99, 0.8: 0.90, 1: 0.55}}
    for loss, curve in r2.items():
        for noise, value in curve.items():
            _write_figure_run(tmp_path / "sweep" / f"{loss}{noise}", {"loss": {"_target_": f"idexp.losses.{loss}", "label_noise": noise}},
                              [f"loss={'ce' if loss == 'SupervisedCE' else 'diet'}", f"loss.label_noise={noise}"],
                              {"probe/r2_affine": value, "probe/head_r2_affine": 0.995 if noise < 1 else 0.2, "probe/code_norm": 5.0})
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig6", "--out", str(out)]) == 0
    claims = (out / "table.md").read_text().split("## The paper's claims, tested")[1]
    assert "✗ SupervisedCE: 99.0 → 97.0; DIET: 99.0 → 90.0 |" in claims  # DIET lost 9 points by 80 %: not "slightly"
    assert "✓ DIET: lowest 99.5 |" in claims
    assert "✓ SupervisedCE: 97.0 → 60.0; DIET: 90.0 → 55.0 |" in claims
    assert (out / "fig6.png").exists()


def test_a_claim_that_holds_on_the_means_by_less_than_the_seeds_spread_holds_in_part(tmp_path):
    """Two seeds per noise level: "both drop at 100 %" clears its 10 points on the means (60 → 45, a 15-point
    drop) but by less than the two levels' stds together, so it holds in part (◐) and says so."""
    from idexp.report.__main__ import main as report

    for seed, (at_80, at_100) in enumerate([(0.50, 0.45), (0.70, 0.45)]):
        for noise, value in ((0, 0.99), (0.8, at_80), (1, at_100)):
            _write_figure_run(tmp_path / "sweep" / f"{noise}_{seed}", {"loss": {"_target_": "idexp.losses.SupervisedCE",
                              "label_noise": noise}}, ["loss=ce", f"loss.label_noise={noise}"],
                              {"probe/r2_affine": value, "probe/head_r2_affine": 0.99, "probe/code_norm": 5.0}, seed)
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig6", "--out", str(out)]) == 0
    claims = (out / "table.md").read_text().split("## The paper's claims, tested")[1]
    assert ("◐ partly: SupervisedCE: 60.0 ± 14.1 → 45.0 ± 0.0; on the means, but by less than the seeds' spread for "
            "SupervisedCE |") in claims, claims


def test_a_figure_claim_the_runs_do_not_cover_says_so(tmp_path):
    from idexp.report.__main__ import main as report

    _write_figure_run(tmp_path / "sweep" / "0", {"dgp": {"n_clusters": 10, "dim": 5}}, ["dgp.n_clusters=10", "dgp.dim=5"],
                      {"probe/r2_affine": 0.9, "probe/head_r2_affine": 0.9, "probe/code_norm": 1.0})
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig5", "--out", str(out)]) == 0
    claims = (out / "table.md").read_text().split("## The paper's claims, tested")[1]
    assert claims.count("– not covered by these runs") == 5


def test_fig5_claims_on_a_batch_by_kappa_and_a_clusters_by_dim_grid(tmp_path):
    from idexp.report.__main__ import main as report

    r2 = {(256, 10): 0.95, (256, 50): 0.80, (2048, 10): 0.97, (2048, 50): 0.90}  # batch × κ: the drop shrinks
    for (batch, kappa), value in r2.items():
        _write_figure_run(tmp_path / "sweep" / "bk" / f"{batch}_{kappa}", {"dataset": {"batch_size": batch},
                          "dgp": {"conditional": {"kappa": kappa}}}, [f"dataset.batch_size={batch}", f"dgp.conditional.kappa={kappa}"],
                          {"probe/r2_affine": value, "probe/head_r2_affine": value, "probe/code_norm": 1.0})
    r2 = {(10, 5): 0.90, (100, 5): 0.98, (10, 10): 0.60, (100, 10): 0.85, (10, 20): 0.40, (100, 20): 0.45}
    for (clusters, dim), value in r2.items():
        _write_figure_run(tmp_path / "sweep" / "cd" / f"{clusters}_{dim}", {"dgp": {"n_clusters": clusters, "dim": dim}},
                          [f"dgp.n_clusters={clusters}", f"dgp.dim={dim}"],
                          {"probe/r2_affine": value, "probe/head_r2_affine": value, "probe/code_norm": 1.0})
    out = tmp_path / "out"
    assert report([str(tmp_path / "sweep"), "--table", "ce_fig5", "--out", str(out)]) == 0
    claims = (out / "table.md").read_text().split("## The paper's claims, tested")[1]
    assert "✓ batch=256: 95.0 → 80.0; batch=2048: 97.0 → 90.0 |" in claims  # a high κ lowers R²
    assert "✓ R² drop: from κ=10 to κ=50: 15.0 at batch 256, 7.0 at 2048 |" in claims
    assert "✓ d=5: 90.0 → 98.0; d=10: 60.0 → 85.0; d=20: 40.0 → 45.0 |" in claims  # more clusters help
    assert "✗ d=10: 60.0 at \\|C\\|=10 vs 85.0 at \\|C\\|=100; d=20: 40.0 at \\|C\\|=10 vs 45.0 at \\|C\\|=100 |" in claims
    assert claims.count("– not covered by these runs") == 1  # no truncated Laplace runs


# --- ablation figures: what a paper prints ---------------------------------------------------------------

def _ablation_figure(runs, key, paper=PAPER_TABLES["ce_table3"]):
    from idexp.report.plots import ablation_figure
    from idexp.report.tables import ablation_table

    table = ablation_table(runs, paper=paper)
    return ablation_figure(table, runs.varied, key, paper.metrics, paper.source, paper.name)


def test_an_ablation_figure_shows_mean_and_std_on_a_numeric_axis_beside_the_papers_value(tmp_path):
    """|C| = 10, 100 (baseline: seeds at R² 99.0 and 99.4), 1000, 10⁴: a log axis, the baseline's bar ± its std,
    the paper's values as stars, and labels, not score keys."""
    from matplotlib.container import ErrorbarContainer

    from idexp.report.collect import collect_runs

    x_key, fig = _ablation_figure(collect_runs([_table3_sweep(tmp_path)]), "dgp.n_clusters")
    ax = fig.axes[0]
    assert x_key == "dgp.n_clusters" and ax.get_xscale() == "log" and ax.get_xlabel() == "|C|"
    assert "CE Table 3" in fig._suptitle.get_text() and "mean ± std over 1–2 seeds" in ax.get_ylabel()
    bars = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    line, _, (segments,) = bars
    assert list(line.get_xdata()) == [10, 100, 1000, 10000]  # the values, not categories
    baseline = segments.get_segments()[1]  # one seed elsewhere: no bar (nan)
    assert baseline[1][1] - baseline[0][1] == pytest.approx(2 * pd.Series([99.0, 99.4]).std(), abs=1e-6)
    stars = [artist for artist in ax.lines if artist.get_marker() == "*"]
    assert list(stars[0].get_ydata()) == [97.5, 99.8, 99.8, 99.8]  # the |C| block's paper values
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["R² z̃→z", "paper"]


def test_a_setting_with_one_value_gets_no_figure_and_the_report_says_so(tmp_path, capsys):
    """d = 5 overridden on one run is the preset's d = 5: nothing to compare."""
    from idexp.report.__main__ import main as report

    _write_run(tmp_path / "sweep" / "base", {}, [], 0.99)
    _write_run(tmp_path / "sweep" / "d5", {}, ["dgp.dim=5"], 0.98)
    assert report([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 0
    assert "no figure for d: a single value (5) per row" in capsys.readouterr().out
    assert not list((tmp_path / "out").glob("*.png"))


def test_a_crossed_setting_splits_the_figure_and_categories_stay_categories(tmp_path):
    """DIET's W normalised or not, crossed with p(z|v_c): one column of panels per W, the conditionals as ticks."""
    from idexp.report.collect import collect_runs

    for normalize in (True, False):
        for job, (overrides, dgp) in enumerate([([], {}), (["dgp/conditional=laplace"],
                                                 {"conditional": {"_target_": LAPLACE, "scale": 1.0}})]):
            for seed in (0, 1):
                folder = tmp_path / f"{normalize}{job}{seed}"
                _write_run(folder, dgp, [*overrides, f"loss.normalize_rows={normalize}"], 0.9 + 0.01 * seed, seed)
    x_key, fig = _ablation_figure(collect_runs([tmp_path]), "dgp/conditional", PAPER_TABLES["ce_table2"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["rows of W normalised = False", "rows of W normalised = True"]
    assert [tick.get_text() for tick in fig.axes[0].get_xticklabels()] == ["preset", "laplace"]


def test_the_heatmaps_in_percent_of_a_figure_share_one_colour_scale(tmp_path):
    from idexp.report.collect import collect_runs
    from idexp.report.figures import FIG5, paper_figure

    for (batch, kappa), value in {(256, 10): 0.95, (256, 50): 0.80, (2048, 10): 0.97, (2048, 50): 0.90}.items():
        _write_figure_run(tmp_path / "bk" / f"{batch}_{kappa}", {"dataset": {"batch_size": batch},
                          "dgp": {"conditional": {"kappa": kappa}}}, [f"dataset.batch_size={batch}", f"dgp.conditional.kappa={kappa}"],
                          {"probe/r2_affine": value})
    for (clusters, dim), value in {(10, 5): 0.40, (100, 5): 0.98, (10, 10): 0.60, (100, 10): 0.85}.items():
        _write_figure_run(tmp_path / "cd" / f"{clusters}_{dim}", {"dgp": {"n_clusters": clusters, "dim": dim}},
                          [f"dgp.n_clusters={clusters}", f"dgp.dim={dim}"], {"probe/r2_affine": value})
    fig = paper_figure(FIG5, collect_runs([tmp_path]))
    scales = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert scales == [pytest.approx((40.0, 100.0))] * 2  # the lowest score of either panel, to 100


def test_figures_redrawn_from_a_committed_table_are_those_of_the_runs(tmp_path, capsys):
    """docs/results keeps table.md, not the sweeps: redrawing from it gives the same figures, with the same points."""
    from idexp.report.__main__ import main as report
    from idexp.report.replot import read_table, replot, table_frame

    out = tmp_path / "out"
    assert report([str(_table3_sweep(tmp_path / "sweep")), "--table", "ce_table3", "--out", str(out)]) == 0
    drawn = sorted(path.name for path in out.glob("ablation_*.png"))
    (out / "ablation_stale.png").write_bytes(b"")
    assert sorted(path.name for path in replot(out, "ce_table3")) == drawn == sorted(p.name for p in out.glob("*.png"))
    title, header, rows = read_table(out / "table.md")
    frame, varied = table_frame(header, rows, PAPER_TABLES["ce_table3"].metrics)
    assert title == "CE Table 3 (supervised)" and varied == TABLE3_VARIED
    baseline = frame[frame[varied].isna().all(axis=1)].iloc[0]
    assert (baseline["_x:dgp.dim"], baseline["_mean:R² z̃→z"], baseline["_std:R² z̃→z"]) == ("5", 99.2, 0.3)


def test_a_table_is_rebuilt_from_the_records_it_keeps_of_its_runs(tmp_path):
    """docs/results keeps each table's runs.jsonl: the completed runs' records (an unfinished run is listed, not
    kept), from which the same table is rebuilt without the sweep, into its own folder by default."""
    from idexp.report.__main__ import main as report

    sweep = _table3_sweep(tmp_path / "sweep")
    record = json.loads((sweep / "base0" / "results.json").read_text())
    record["config"]["paths"] = {"output_dir": f"{Path.cwd()}/logs/run", "cache": f"{Path.home()}/.cache/idexp"}
    (sweep / "base0" / "results.json").write_text(json.dumps(record))
    (sweep / "cut").mkdir()
    (sweep / "cut" / "results.json").write_text(json.dumps({"status": "running", "metrics": {}, "config": {}}))
    assert report([str(sweep), "--table", "ce_table3", "--out", str(tmp_path / "out")]) == 0
    lines = (tmp_path / "out" / "runs.jsonl").read_text().splitlines()
    records = {record["folder"]: record for record in map(json.loads, lines)}
    assert len(lines) == len(records) == 2 + len(TABLE3_ABLATIONS) and "cut" not in records
    assert records["base1"]["metrics"] == {"probe/r2_affine": 0.994} and records["0"]["overrides"][-1] == "seed=0"
    assert records["base0"]["config"]["paths"] == {"output_dir": "logs/run", "cache": "~/.cache/idexp"}  # no machine's paths
    assert report([str(tmp_path / "out" / "runs.jsonl"), "--table", "ce_table3"]) == 0
    rebuilt = (tmp_path / "out" / "report" / "table.md").read_text()
    assert rebuilt == (tmp_path / "out" / "table.md").read_text().split("\nNot averaged")[0]
    assert (tmp_path / "out" / "report" / "runs.jsonl").read_text().splitlines() == lines
    _write_run(tmp_path / "more" / "base2", {}, [], 0.998, seed=2)  # a seed added beside the kept records
    assert report([str(tmp_path / "out" / "runs.jsonl"), str(tmp_path / "more"), "--table", "ce_table3"]) == 0
    assert "| 3 | 99.4±0.4 |" in (tmp_path / "out" / "report" / "table.md").read_text()  # 99.0, 99.4, 99.8


def test_table4_says_where_its_images_came_from():
    """dSprites without a file is idexp's procedural clone; a dataset read from a file is named by its path."""
    from idexp.report.collect import Runs
    from idexp.report.factors import images_note

    runs = Runs(pd.DataFrame([{"dataset.name": "dsprites", "dataset.path": None},
                              {"dataset.name": "shapes3d", "dataset.path": "/data/3dshapes.h5"}]))
    assert images_note(runs) == ("\nImages: dsprites: idexp's procedural clone (no dataset.path; "
                                 "idexp/data/render_dsprites.py); shapes3d: `/data/3dshapes.h5`.\n")


def test_ours_vs_paper_list_is_rebuilt_from_the_tables(tmp_path):
    """docs/results/README.md's per-column list is current, and is rebuilt from each table.csv, never typed."""
    from idexp.report.compare import END, START, main as compare

    assert compare([str(ROOT / "docs" / "results"), "--check"]) == 0
    folder = tmp_path / "results" / "demo"
    folder.mkdir(parents=True)
    (folder / "table.md").write_text("# Demo table: 4 runs, 0.1 h of run time (90 s per run)\n")
    (folder / "table.csv").write_text("block,dgp.dim,seeds,R²,R² paper,R² Δ,MCC\n"
                                      "d,,3,99.2±0.1,99.8,-0.6,50.0±1.0\n"
                                      "d,10,3,85.3±2.4,97.2,-11.9,40.0±1.0\n"
                                      "κ,,3,99.2±0.1,99.8,-0.6,50.0±1.0\n"
                                      "κ,,1,77.0 (n = 1),–,–,1.0 (n = 1)\n")
    readme = tmp_path / "results" / "README.md"
    readme.write_text(f"intro\n{START}\nstale\n{END}\nafter\n")
    assert compare([str(tmp_path / "results"), "--check"]) == 1
    assert compare([str(tmp_path / "results")]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{END}\nafter\n") and "stale" not in text
    assert "**Demo table**, R² (reference: paper)" in text and "MCC" not in text  # no reference, no list
    assert "| d: baseline | 3 | 99.2±0.1 | 99.8 | -0.6 |" in text
    assert "| d: dgp.dim=10 | 3 | 85.3±2.4 | 97.2 | -11.9 |" in text
    assert "| κ: baseline | 3 | 99.2±0.1 | 99.8 | -0.6 |" in text and "77.0" not in text  # no paper value: left out
    assert compare([str(tmp_path / "results"), "--check"]) == 0
