"""Streaming throughput from a prepared folder against a plain pyarrow.parquet read.

    uv run python benchmarks/bench_streaming.py --dialogues 50000 [--folder PREPARED]

Prepares a synthesized corpus once (kept under bench-data/), then, each in a fresh process,
iterates every training example of config `all` as Python dicts:
  plain:        pyarrow.parquet.ParquetFile(...).iter_batches() -> to_pylist(), file by file
  distributed:  DistributedStream (rank 0 of 1, shuffled: eight lanes of row groups interleaved)
  datasets:     iterable_dataset(...) (a datasets.IterableDataset over >= 64 shards)
and prints examples/s and the ratio to plain (target >= 0.8).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import corpus, in_child, print_side_by_side, timed


def run(method: str, folder: Path) -> int:
    import pyarrow.parquet as pq

    from ultrachat_dataset.layout import split_files
    from ultrachat_dataset.training.streaming import DistributedStream, iterable_dataset
    files = split_files(folder, "all", "train")
    if method == "plain":
        return sum(len(batch.to_pylist()) for path in files
                   for batch in pq.ParquetFile(path).iter_batches())
    if method == "distributed":
        return sum(1 for _ in DistributedStream(files, seed=0))
    return sum(1 for _ in iterable_dataset(folder, "all", "train"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=50_000)
    parser.add_argument("--folder", type=Path, help="a prepared folder (default: prepare one)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import pyarrow as pa
        pa.array([0])
        method, folder = args.child
        print(json.dumps(timed(lambda: run(method, Path(folder)))))
        return
    folder = args.folder
    if folder is None:
        source = corpus(None, args.dialogues, 0, {}, "stream")
        folder = source.parent / f"{source.name}-prepared"
        if not (folder / "README.md").exists():
            from ultrachat_dataset.prepare.pipeline import prepare
            from ultrachat_dataset.release.sources import local_inputs
            print(f"preparing {source} into {folder} ...", flush=True)
            prepare(local_inputs("all", source), folder, "all")
    results = {m: in_child(__file__, m, str(folder)) for m in ("plain", "distributed", "datasets")}
    print(f"folder: {folder}")
    print_side_by_side(results, "plain", "examples")


if __name__ == "__main__":
    main()
