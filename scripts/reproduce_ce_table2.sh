#!/usr/bin/env bash
# CE paper, Table 2 (DIET): normalised (loss.normalize_rows=true) and unnormalised W, baseline and
# ablations over N, d, |C|, κ and the conditional; usage, SEEDS, OUT and ROWS as in reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0,1,2}
OUT=${OUT:-logs/sweeps/ce_table2}
EXPERIMENT=ce_table2 COMMON=(loss.normalize_rows=true,false)
BLOCKS="baseline instances dim clusters kappa conditional"
PAPER_ONLY="instances"  # N=10^5: a 10^5-way head, seconds per step on a CPU
source scripts/rows.sh
sweep baseline "$@"
sweep instances dgp.n_instances=100000 "$@"
sweep dim dgp.dim=10,20 "$@"
sweep clusters dgp.n_clusters=10,1000 "$@"
sweep kappa dgp.conditional.kappa=5,50 "$@"
sweep conditional dgp/conditional=laplace,normal "$@"
"$PY" -m idexp.report "$OUT" --table ce_table2 --out "docs/results/ce_table2"
