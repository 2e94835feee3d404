#!/usr/bin/env bash
# CE paper, App. D Figure 4 (DIET, generalised-normal conditional): shape β × scale α, where α is the code's
# lbd = c_param/10, the noise scale (larger: more spread); then the table and the figure (R² for z, R² for v_c and
# the mean ‖f(x)‖ over the grid) with the paper's claims tested.
#   bash scripts/reproduce_ce_fig4.sh [SEEDS=0,1,2,3,4] [launcher=joblib | scale=paper launcher=slurm ...]
# Settings (scripts/common.sh): SEEDS (0,1,2 as committed; the paper averages 5), OUT (logs/sweeps/ce_fig4), REPORT ($OUT/report),
# BETAS, ALPHAS (the grid block's scales) and ROWS (grid, concentrated).
NAME=ce_fig4 DEFAULT_SEEDS=0,1,2 SETTINGS="BETAS ALPHAS ROWS"
source "$(dirname "$0")/common.sh"
EXPERIMENT=ce_fig4 COMMON=()
BLOCKS="grid concentrated" PAPER_ONLY=""
source scripts/rows.sh
# grid: the scales of the code's --c-param 5…20 (α = c_param/10); concentrated: α = 0.1, 0.25, tight clusters like
# vMF κ ≈ 50 (a separate block, so that either grid can grow without renumbering the other's jobs)
sweep grid dgp.conditional.beta="${BETAS:-1,1.5,2}" dgp.conditional.scale="${ALPHAS:-0.5,1,2}" "$@"
sweep concentrated dgp.conditional.beta="${BETAS:-1,1.5,2}" dgp.conditional.scale=0.1,0.25 "$@"
report --table ce_fig4
