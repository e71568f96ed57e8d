"""Reading speed: `ultrachat_dataset.read` against a plain `pyarrow.json.read_json` of the same files.

    uv run python benchmarks/bench_read.py --dialogues 200000 [--data DIR]

Synthesizes a corpus (or uses DIR), then runs each reader in a fresh subprocess, side by side,
and prints rows/s, MB/s, peak memory and the ratio to the plain read. Target: >= 0.7x, with peak
memory that does not grow with file size (compare --dialogues 100000 and 400000).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import corpus, in_child, peak_rss_mb, release_paths


def run_reader(method: str, directory: Path) -> dict:
    """Runs in the child process: read every file, return rows, seconds and peak RSS."""
    import pyarrow as pa
    import pyarrow.json as pajson

    from ultrachat_dataset.release.read import read_file

    pa.array([0])  # imports (pandas, via pyarrow) happen before the clock starts, for both
    rows = 0
    start = time.perf_counter()
    for path in release_paths(directory):
        if method == "plain_pyarrow":
            schema = pa.schema([("id", pa.string()), ("data", pa.list_(pa.string()))])
            table = pajson.read_json(path, parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"))
            rows += table.num_rows
            del table
        else:
            rows += sum(batch.rows.num_rows for batch in read_file(path))
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="an existing corpus (default: synthesize one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_reader(args.child, args.data)))
        return
    directory = corpus(args.data, args.dialogues, args.seed, {}, "read")
    megabytes = sum(p.stat().st_size for p in release_paths(directory)) / 1e6
    results = {method: in_child(__file__, method, "--data", str(directory))
               for method in ("plain_pyarrow", "ultrachat")}
    base = results["plain_pyarrow"]
    print(f"corpus: {directory} ({megabytes:.0f} MB)")
    print(f"{'reader':<14}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'MB/s':>9}{'peak MB':>10}"
          f"{'speed vs plain':>16}")
    for method, result in results.items():
        speed = base["seconds"] / result["seconds"]
        print(f"{method:<14}{result['rows']:>10}{result['seconds']:>10.2f}"
              f"{result['rows'] / result['seconds']:>12.0f}{megabytes / result['seconds']:>9.0f}"
              f"{result['peak_mb']:>10.0f}{speed:>15.2f}x")


if __name__ == "__main__":
    main()
