#!/usr/bin/env bash
# CE paper, App. D Figure 6: label noise 0…100 % for supervised CE (cluster labels) and DIET (instance labels),
# then the table and the figure (R² for z and for v_c against the noise ratio).
#   bash scripts/reproduce_ce_fig6.sh [launcher=joblib | scale=paper launcher=slurm ...]
# REPORT (default docs/results/ce_fig6) is where the table and figure go. SEEDS (default 0; the paper averages 5), OUT (default logs/sweeps/ce_fig6) and NOISE (the ratios) can be set in
# the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0}
OUT=${OUT:-logs/sweeps/ce_fig6}
EXPERIMENT=ce_fig6 COMMON=()
BLOCKS="noise" PAPER_ONLY=""
source scripts/rows.sh
sweep noise loss=ce,diet loss.label_noise="${NOISE:-0,0.2,0.4,0.6,0.8,1}" "$@"
"$PY" -m idexp.report "$OUT" --table ce_fig6 --out "${REPORT:-docs/results/ce_fig6}"
