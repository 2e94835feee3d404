"""Run a command and print the peak PSS of its process tree (the command and all its descendants).

    python scripts/peak_pss.py [--interval 0.2] [--mapping SUBSTRING] [--json FILE] -- COMMAND ARGS...

PSS (proportional set size) counts each private page once and each shared page divided by the number of
processes mapping it, so the sum over a process tree is what the tree costs in RAM (DataLoader workers that
map the same cache pages are not counted twice, as a sum of RSS would). Every `--interval` seconds the tree is
re-listed and `Pss` is summed from `/proc/<pid>/smaps_rollup`; the peak of that sum is printed at the end
(with the peaks of its anonymous and file-backed parts, and the largest number of processes seen).
`--mapping` also sums the Pss of the mappings whose path contains SUBSTRING (read from `/proc/<pid>/smaps`,
slower), e.g. `--mapping .npy` for what a memory-mapped dataset cache costs. Linux only. The exit status is
the command's.

Example (the dSprites 2 % subset, one epoch on the CPU):

    python scripts/peak_pss.py -- python train.py dataset=dsprites dataset.subset=0.02 trainer=cpu \\
        trainer.max_epochs=1 logger=none hydra.run.dir=/tmp/pss_run
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def descendants(root: int) -> list[int]:
    """`root` and every live process below it, from the parent ids in /proc/<pid>/stat."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # the name may hold spaces and parentheses
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def rollup(pid: int) -> dict[str, int]:
    """Pss, Pss_Anon and Pss_File of one process in kB (zeros once it has exited)."""
    fields = {"Pss": 0, "Pss_Anon": 0, "Pss_File": 0}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in fields:
            fields[key] = int(rest.split()[0])
    return fields


def mapping_pss(pid: int, substring: str) -> int:
    """Pss in kB of the mappings of `pid` whose path contains `substring`."""
    total, inside = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                first = line.split(maxsplit=1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line: range perms offset dev inode path
                    parts = line.split(maxsplit=5)
                    inside = len(parts) == 6 and substring in parts[5]
                elif inside and first == "Pss:":
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples (0.2)")
    parser.add_argument("--mapping", help="also report the peak Pss of mappings whose path contains this")
    parser.add_argument("--json", type=Path, help="also write the peaks to this file")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")

    started = time.monotonic()
    process = subprocess.Popen(command)
    peak = {"pss_kb": 0, "pss_anon_kb": 0, "pss_file_kb": 0, "mapping_pss_kb": 0, "processes": 0, "at_s": 0.0}
    samples = 0
    while True:
        done = process.poll() is not None
        tree = descendants(process.pid) if not done else []
        parts = [rollup(pid) for pid in tree]
        total = sum(part["Pss"] for part in parts)
        samples += 1
        if total > peak["pss_kb"]:
            peak.update(pss_kb=total, at_s=round(time.monotonic() - started, 1))
        peak["pss_anon_kb"] = max(peak["pss_anon_kb"], sum(part["Pss_Anon"] for part in parts))
        peak["pss_file_kb"] = max(peak["pss_file_kb"], sum(part["Pss_File"] for part in parts))
        peak["processes"] = max(peak["processes"], len(tree))
        if args.mapping:
            peak["mapping_pss_kb"] = max(peak["mapping_pss_kb"], sum(mapping_pss(pid, args.mapping) for pid in tree))
        if done:
            break
        time.sleep(args.interval)
    peak.update(returncode=process.returncode, wall_s=round(time.monotonic() - started, 1), samples=samples,
                command=command)
    mib = {key: value / 1024 for key, value in peak.items() if key.endswith("_kb")}
    line = (f"peak PSS of the process tree: {mib['pss_kb']:.0f} MiB (at {peak['at_s']} s; peak anonymous "
            f"{mib['pss_anon_kb']:.0f} MiB, peak file-backed {mib['pss_file_kb']:.0f} MiB, up to {peak['processes']} "
            f"processes, {samples} samples over {peak['wall_s']} s)")
    if args.mapping:
        line += f"; peak Pss of mappings matching {args.mapping!r}: {mib['mapping_pss_kb']:.0f} MiB"
    print(line, file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(peak, indent=1) + "\n")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
