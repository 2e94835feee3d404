# Sourced by every scripts/reproduce_*.sh, so that all of them are called the same way:
#   bash scripts/reproduce_<name>.sh [SETTING=value ...] [Hydra override ...]
# A SETTING (upper case, one of the script's SETTINGS) may also come from the environment; an argument wins.
# Every other argument is a Hydra override passed to each run (e.g. launcher=joblib, scale=paper, trainer=gpu).
# Common settings: SEEDS (the seeds, comma-separated), OUT (the sweep folders; a re-launch with the same OUT
# skips completed runs and resumes unfinished ones) and REPORT (where the table and figure go; default
# $OUT/report). The committed results in docs/results/ are rewritten only when asked: REPORT=docs/results/<name>.
# Before sourcing, a script sets NAME (its docs/results/ folder), SETTINGS (the settings it reads besides
# SEEDS, OUT, REPORT) and DEFAULT_SEEDS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}  # the make-installed venv if there is one
SETTINGS="SEEDS OUT REPORT ${SETTINGS:-}"
overrides=()
for arg in "$@"; do
  if [[ $arg =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]]; then
    [[ " $SETTINGS " == *" ${BASH_REMATCH[1]} "* ]] || {
      echo "${BASH_REMATCH[1]}=${BASH_REMATCH[2]} is not a setting of $(basename "$0"). Fix: one of $SETTINGS," \
        "or a Hydra override in lower case (e.g. seed=0)." >&2; exit 2; }
    export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
  else
    overrides+=("$arg")
  fi
done
set -- ${overrides[@]+"${overrides[@]}"}
SEEDS=${SEEDS:-$DEFAULT_SEEDS}
OUT=${OUT:-logs/sweeps/$NAME}
REPORT=${REPORT:-$OUT/report}

report() {  # report [idexp.report options]: the table (and figure) of every sweep under OUT, into REPORT
  "$PY" -m idexp.report "$OUT" --out "$REPORT" "$@"
  [[ $REPORT != docs/results/* ]] || "$PY" -m idexp.report.compare docs/results  # the README's ours-vs-paper list
  echo "Report: $REPORT (the committed one is docs/results/$NAME: pass REPORT=docs/results/$NAME to rewrite it)"
}
