"""Read back what an offline W&B run recorded, straight from its `run-<id>.wandb` transaction log.

The file is a LevelDB-style log: a 7-byte header, then 32 KiB blocks of records, each with a
7-byte header (crc32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last); each
assembled payload is a `wandb_internal_pb2.Record`. Recent wandb releases no longer ship a Python
reader, and syncing needs a server, so the tests read the log themselves.
"""
from __future__ import annotations

import json
import struct
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
        payload = data[position + HEADER:position + HEADER + length]
        position += HEADER + length
        if kind == 0:
            break
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def summary(run_dir: Path) -> dict:
    """The run's summary as set with `run.summary.update` (later updates win)."""
    values: dict = {}
    for record in records(next(Path(run_dir).glob("run-*.wandb"))):
        if record.WhichOneof("record_type") != "summary":
            continue
        for item in record.summary.update:
            values[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return values
