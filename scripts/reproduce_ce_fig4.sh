#!/usr/bin/env bash
# CE paper, App. D Figure 4 (DIET, generalised-normal conditional): a grid of shape β × scale α, then the table
# and the figure (R² for z, R² for v_c, mean ‖f(x)‖ over the grid).
#   bash scripts/reproduce_ce_fig4.sh [launcher=joblib | scale=paper launcher=slurm ...]
# REPORT (default docs/results/ce_fig4) is where the table and figure go. SEEDS (default 0; the paper averages 5: SEEDS=0,1,2,3,4), OUT (default logs/sweeps/ce_fig4), BETAS and
# ALPHAS (the grid) can be set in the environment; usage otherwise as in reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0}
OUT=${OUT:-logs/sweeps/ce_fig4}
EXPERIMENT=ce_fig4 COMMON=()
BLOCKS="grid" PAPER_ONLY=""
source scripts/rows.sh
sweep grid dgp.conditional.beta="${BETAS:-1,1.5,2}" dgp.conditional.scale="${ALPHAS:-0.5,1,2}" "$@"
"$PY" -m idexp.report "$OUT" --table ce_fig4 --out "${REPORT:-docs/results/ce_fig4}"
