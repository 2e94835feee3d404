"""`--table dislib`: DisLib's disentanglement metrics (DCI, MIG, SAP) of each combination of swept settings."""
from __future__ import annotations

from idexp.scorers.disentanglement import TABLE

TITLE = "DisLib disentanglement (DCI, MIG, SAP)"
# label -> recorded key, for `ablation_table`: the encoder's scores, then the raw inputs' where recorded
METRICS = {score.label: score.key for score in TABLE} | {f"{score.label} (x)": score.baseline_key for score in TABLE}
