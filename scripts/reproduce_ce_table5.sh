#!/usr/bin/env bash
# CE paper, Table 5 (DIET, normalised and unnormalised W): cluster vectors from a uniform, projected Laplace or projected
# normal distribution; usage, SEEDS and OUT as in reproduce_ce_table3.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SEEDS=${SEEDS:-0,1,2}
OUT=${OUT:-logs/sweeps/ce_table5}
"$PY" train.py -m experiment=ce_table5 seed="$SEEDS" loss.normalize_rows=true,false \
  dgp/marginal@dgp.cluster_marginal=uniform,laplace,normal hydra.sweep.dir="$OUT/marginals" "$@"
"$PY" -m idexp.report "$OUT" --table ce_table5 --out "docs/results/ce_table5"
