"""Put a report's runs back into a sweep folder: `python -m idexp.report.restore RUNS_JSONL SWEEP_DIR`.

A report's runs.jsonl keeps its completed runs' records (committed with the table, the sweep folders are
not). Written back as `SWEEP_DIR/<folder>/results.json`, they make the same sweep, re-launched into
SWEEP_DIR, skip those runs and run only the rest: a sweep resumes on a machine that lost its folders
(a new session, a wiped scratch disk). A folder that already holds a results.json is left as it is.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath

from idexp.report.collect import RECORDS_FILE, read_records
from idexp.run.record import RESULTS_FILE


def restore(records_file: Path, sweep_dir: Path) -> tuple[int, int]:
    """Write each record of `records_file` into its folder under `sweep_dir`: (written, left as they were)."""
    written = kept = 0
    for number, record in enumerate(read_records(records_file), 1):
        folder = PurePosixPath(record.pop("folder", ""))
        if not folder.parts or folder.is_absolute() or ".." in folder.parts:
            raise ValueError(f"{records_file}:{number}: folder {str(folder)!r} is not a folder inside the sweep. "
                             f"Fix: pass a {RECORDS_FILE} written by `python -m idexp.report`")
        path = sweep_dir / folder / RESULTS_FILE
        if path.exists():  # never overwrite a run: the re-launch checks that it is the same one
            kept += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
        written += 1
    return written, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idexp.report.restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, help=f"a report's {RECORDS_FILE}")
    parser.add_argument("sweep_dir", type=Path, help="the folder the records' folders are relative to: the "
                        "hydra.sweep.dir (or a script's OUT) the report was built from")
    args = parser.parse_args(argv)
    if not args.records.is_file():
        print(f"error: {args.records} is not a file. Fix: pass a report's {RECORDS_FILE}, "
              f"e.g. docs/results/ce_fig5/{RECORDS_FILE}", file=sys.stderr)
        return 2
    try:
        written, kept = restore(args.records, args.sweep_dir)
    except ValueError as error:  # a folder outside the sweep, or a line that is not JSON
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{written} runs restored into {args.sweep_dir}; {kept} folders already held a run and were left as they were. "
          "Re-launch the same sweep into it to run the rest.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
