#!/usr/bin/env bash
# CE paper, Table 2 (DIET): normalised (loss.normalize_rows=true) and unnormalised W, baseline and
# ablations over N, d, |C|, κ and the conditional.
#   bash scripts/reproduce_ce_table2.sh [SEEDS=0,1,2] [ROWS=baseline,dim] [OUT=...] [REPORT=...] [Hydra override ...]
# Settings (scripts/common.sh): SEEDS (0,1,2), OUT (logs/sweeps/ce_table2), REPORT ($OUT/report), ROWS (as in
# reproduce_ce_table3.sh).
NAME=ce_table2 DEFAULT_SEEDS=0,1,2 SETTINGS="ROWS"
source "$(dirname "$0")/common.sh"
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
report --table ce_table2
