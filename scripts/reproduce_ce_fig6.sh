#!/usr/bin/env bash
# CE paper, App. D Figure 6: label noise 0…100 % for supervised CE (cluster labels) and DIET (instance labels),
# then the table and the figure (R² for z and for v_c against the noise ratio).
#   bash scripts/reproduce_ce_fig6.sh [SEEDS=0,1,2,3,4] [NOISE=0,0.5,1] [launcher=joblib | scale=paper launcher=slurm ...]
# Settings (scripts/common.sh): SEEDS (0,1,2 as committed; the paper averages 5), OUT (logs/sweeps/ce_fig6), REPORT ($OUT/report),
# NOISE (the ratios).
NAME=ce_fig6 DEFAULT_SEEDS=0,1,2 SETTINGS="NOISE"
source "$(dirname "$0")/common.sh"
EXPERIMENT=ce_fig6 COMMON=()
BLOCKS="noise" PAPER_ONLY=""
source scripts/rows.sh
sweep noise loss=ce,diet loss.label_noise="${NOISE:-0,0.2,0.4,0.6,0.8,1}" "$@"
report --table ce_fig6
