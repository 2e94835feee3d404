"""Read back what an offline W&B run recorded, straight from its `run-<id>.wandb` transaction log.

The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of records, each with a
7-byte header (crc32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last); each
assembled payload is a `wandb_internal_pb2.Record`. Recent wandb releases no longer ship a Python
reader, and syncing needs a server, so the tests read the log themselves.
"""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path):
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    position, pending = HEADER, b""
    while position + HEADER <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < HEADER:  # block trailer padding
            position += left_in_block
            continue
        length, kind = struct.unpack("<HB", data[position + 4:position + HEADER])
        if position + HEADER + length > len(data):  # a record still being written
            break
        payload = data[position + HEADER:position + HEADER + length]
        position += HEADER + length
        if kind == 0:
            break
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def finished_records(run_dir: Path, timeout: float = 60.0) -> list:
    """The records of a finished run. `wandb.finish()` can return before the service process has
    flushed the log's tail (seen on a loaded CI machine), so wait for the run's `exit` record."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(records(next(Path(run_dir).glob("run-*.wandb"))))
        if any(record.WhichOneof("record_type") == "exit" for record in found):
            return found
        assert time.monotonic() < deadline, f"{run_dir}: no exit record {timeout:.0f} s after wandb.finish()"
        time.sleep(0.5)


def summary(run_dir: Path) -> dict:
    """The run's summary as set with `run.summary.update` (later updates win)."""
    values: dict = {}
    for record in finished_records(run_dir):
        if record.WhichOneof("record_type") != "summary":
            continue
        for item in record.summary.update:
            values[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return values


def run_identity(run_dir: Path, finished: bool = True) -> dict:
    """What the W&B UI groups, names and filters the run by: its run record's group, display name and tags
    (finished=False: read a run that was killed, whose log has no exit record, as it is)."""
    logged = finished_records(run_dir) if finished else records(next(Path(run_dir).glob("run-*.wandb")))
    run = next(record.run for record in logged if record.WhichOneof("record_type") == "run")
    return {"group": run.run_group, "name": run.display_name, "tags": list(run.tags)}
