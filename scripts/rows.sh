# Sourced by reproduce_ce_table{2,3}.sh after BLOCKS (every ablation block of the table) and
# PAPER_ONLY (blocks too costly for a CPU) are set: ROWS picks the blocks to run, by default all of
# them with scale=paper and all but PAPER_ONLY otherwise; commas or spaces separate names.
if [[ -z "${ROWS:-}" ]]; then
  for block in $BLOCKS; do
    [[ " $* " != *" scale=paper "* && " $PAPER_ONLY " == *" $block "* ]] || ROWS+="$block "
  done
fi
ROWS=${ROWS//,/ }
for row in $ROWS; do
  [[ " $BLOCKS " == *" $row "* ]] || { echo "ROWS: unknown block '$row'. Fix: choose from: $BLOCKS" >&2; exit 2; }
done
sweep() {  # sweep BLOCK OVERRIDES...: one ablation block (EXPERIMENT over SEEDS and COMMON), if ROWS names it
  [[ " $ROWS " == *" $1 "* ]] || return 0
  "$PY" train.py -m experiment="$EXPERIMENT" seed="$SEEDS" "${COMMON[@]}" hydra.sweep.dir="$OUT/$1" "${@:2}"
}
