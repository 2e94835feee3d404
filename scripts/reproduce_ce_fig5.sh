#!/usr/bin/env bash
# CE paper, App. D Figure 5 (DIET): three grids around the Table 2 baseline, then the table and the figure:
#   batch_kappa  batch size × κ (do larger batches counteract a high κ?)
#   clusters_dim |C| × d (|C| = 10 cannot span d ≥ 10: the theory needs at least d + 1 clusters)
#   truncated    truncated Laplace conditional: bound ±1…±3 × scale (heavier tails, lower R²?)
#   bash scripts/reproduce_ce_fig5.sh [launcher=joblib | scale=paper launcher=slurm ...]
# REPORT (default docs/results/ce_fig5) is where the table and figure go. SEEDS (default 0; the paper averages 5), OUT (default logs/sweeps/ce_fig5) and ROWS (panels to run) as in
# reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0}
OUT=${OUT:-logs/sweeps/ce_fig5}
EXPERIMENT=ce_fig5 COMMON=()
BLOCKS="batch_kappa clusters_dim truncated" PAPER_ONLY=""
source scripts/rows.sh
sweep batch_kappa dataset.batch_size=256,1024,2048 dgp.conditional.kappa=10,20,50 "$@"
sweep clusters_dim dgp.n_clusters=10,100,1000 dgp.dim=5,10,20 "$@"
sweep truncated dgp/conditional=truncated_laplace dgp.conditional.bound=1,2,3 dgp.conditional.scale=0.5,1,2 "$@"
"$PY" -m idexp.report "$OUT" --table ce_fig5 --out "${REPORT:-docs/results/ce_fig5}"
