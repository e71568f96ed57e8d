"""Append-only JSON Lines that survive a kill: every record is one line written by one `write`
call on a file opened for appending, so a kill leaves whole lines and at most one cut last line,
which reopening removes. A rerun reads what is there and skips it: nothing is asked twice and
nothing is written twice."""

from __future__ import annotations

import json
import os
from pathlib import Path


class JsonlStore:
    def __init__(self, path: str | Path, key: str = "key"):
        self.path, self.key = Path(path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0  # bytes up to the end of the last whole, parsable line
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # cut by a kill mid-write
            try:
                record = json.loads(line)
            except ValueError:
                break
            self.records[record[self.key]] = record
            good += len(line)
        if good < len(data):
            os.truncate(self.path, good)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def add(self, record: dict) -> None:
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())
        self.records[record[self.key]] = record

    def close(self) -> None:
        os.close(self._fd)
