"""Paper-shaped tables from run folders: collect runs, group them by what was varied, compare to the papers."""
from idexp.report.collect import Runs, collect_runs
from idexp.report.tables import ablation_table

__all__ = ["Runs", "ablation_table", "collect_runs"]
