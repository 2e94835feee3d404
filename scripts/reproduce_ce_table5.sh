#!/usr/bin/env bash
# CE paper, Table 5 (DIET, normalised and unnormalised W): cluster vectors from a uniform, projected Laplace or
# projected normal distribution.
#   bash scripts/reproduce_ce_table5.sh [SEEDS=0,1,2] [OUT=...] [REPORT=...] [Hydra override ...]
# Settings and their defaults: see scripts/common.sh (SEEDS 0,1,2; OUT logs/sweeps/ce_table5; REPORT $OUT/report).
NAME=ce_table5 DEFAULT_SEEDS=0,1,2 SETTINGS=""
source "$(dirname "$0")/common.sh"
"$PY" train.py -m experiment=ce_table5 seed="$SEEDS" loss.normalize_rows=true,false \
  dgp/marginal@dgp.cluster_marginal=uniform,laplace,normal hydra.sweep.dir="$OUT/marginals" "$@"
report --table ce_table5
