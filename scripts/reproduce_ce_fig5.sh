#!/usr/bin/env bash
# CE paper, App. D Figure 5 (DIET): three grids around the Table 2 baseline, then the table and the figure:
#   batch_kappa  batch size × κ (do larger batches counteract a high κ?)
#   clusters_dim |C| × d (|C| = 10 cannot span d ≥ 10: the theory needs at least d + 1 clusters)
#   truncated    truncated Laplace conditional: bound ±1…±3 × scale (heavier tails, lower R²?)
#   bash scripts/reproduce_ce_fig5.sh [SEEDS=0,1,2,3,4] [ROWS=truncated] [launcher=joblib | scale=paper launcher=slurm ...]
# Settings (scripts/common.sh): SEEDS (0,1,2 as committed; the paper averages 5), OUT (logs/sweeps/ce_fig5), REPORT ($OUT/report),
# ROWS (the panels to run).
NAME=ce_fig5 DEFAULT_SEEDS=0,1,2 SETTINGS="ROWS"
source "$(dirname "$0")/common.sh"
EXPERIMENT=ce_fig5 COMMON=()
BLOCKS="batch_kappa clusters_dim truncated" PAPER_ONLY=""
source scripts/rows.sh
sweep batch_kappa dataset.batch_size=256,1024,2048 dgp.conditional.kappa=10,20,50 "$@"
sweep clusters_dim dgp.n_clusters=10,100,1000 dgp.dim=5,10,20 "$@"
sweep truncated dgp/conditional=truncated_laplace dgp.conditional.bound=1,2,3 dgp.conditional.scale=0.5,1,2 "$@"
report --table ce_fig5
