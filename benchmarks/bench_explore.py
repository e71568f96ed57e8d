"""The explorer's response times on a prepared folder of 200k dialogues (target: under 1 s each).

    uv run python benchmarks/bench_explore.py [--dialogues 200000] [--out PREPARED]
    uv run --with duckdb python benchmarks/bench_explore.py --duckdb   # the same questions in DuckDB

Prepares the benchmark's defect corpus once (bench-data/pipeline-<N>-0-v<V>-prepared), serves it on
127.0.0.1 and asks each question over HTTP as the page does, three times: prints the first and
the best time. `--duckdb` also asks the costly questions of DuckDB over the same parquet files,
side by side, the measurement behind choosing polars.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from pathlib import Path

from bench_pipeline import CONTENT_DEFECTS
from common import corpus, print_table

QUESTIONS = [
    ("overview", "/api/overview"),
    ("first page, kept and rejected", "/api/rows"),
    ("filtered page (writing, >= 3 exchanges, page 20)",
     "/api/rows?status=kept&sector=writing&min_exchanges=3&page=20"),
    ("rejects of one reason", "/api/rows?status=rejected&reason=near_duplicate"),
    ("text search, a rare word (reads every turn)", "/api/rows?q=zanzibar"),
    ("text search, a common word", "/api/rows?q=festival"),
    ("length filter (reads every turn)", "/api/rows?min_chars=20000"),
    ("a dialogue", "/api/dialogue?source=ultrachat_release_230407.json&line=1"),
    ("a duplicate and its original", "/api/dialogue?source=ultrachat_release_230407.json&line=18"),
]


def prepared(dialogues: int, out: Path | None) -> Path:
    if out is not None:
        return out
    data = corpus(None, dialogues, 0, CONTENT_DEFECTS, "pipeline")
    out = data.parent / f"{data.name}-prepared"
    if not (out / "report.json").exists():
        from ultrachat_dataset.prepare import local_inputs, prepare
        print(f"preparing {data} into {out} ...", flush=True)
        prepare(local_inputs("all", data), out, progress=False)
    return out


def ask(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        json.loads(response.read())
    return time.perf_counter() - start


def duckdb_times(folder: Path) -> dict[str, float]:
    import duckdb

    files = [str(path) for path in sorted((folder / "data").glob("*/*.parquet"))]
    connection = duckdb.connect()
    connection.execute(f"create view kept as select * from read_parquet({files!r})")
    queries = {
        "filtered page (writing, >= 3 exchanges, page 20)":
            "select key, prompt from kept where sector = 'writing' and num_exchanges >= 3 "
            "limit 50 offset 1000",
        "text search, a rare word (reads every turn)":
            "select count(*) from kept where list_bool_or(list_transform(messages, "
            "lambda m: contains(lower(m.content), 'zanzibar')))",
    }
    times = {}
    for label, sql in queries.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            connection.execute(sql).fetchall()
            best = min(best, time.perf_counter() - start)
        times[label] = best
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=200_000)
    parser.add_argument("--out", type=Path, help="a prepared folder (default: prepare one)")
    parser.add_argument("--duckdb", action="store_true", help="also time DuckDB (needs duckdb)")
    args = parser.parse_args()
    folder = prepared(args.dialogues, args.out)

    from ultrachat_dataset.explore import Explorer, ExplorerServer
    start = time.perf_counter()
    server = ExplorerServer(Explorer(folder), port=0)
    opened = time.perf_counter() - start
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    try:
        for label, path in QUESTIONS:
            times = [ask(server.url.rstrip("/") + path) for _ in range(3)]
            rows.append({"question": label, "first": times[0] * 1000, "best": min(times) * 1000})
    finally:
        server.shutdown()
    columns = [("question", "question", "s"), ("first", "first ms", ".0f"), ("best", "best ms", ".0f")]
    if args.duckdb:
        duck = duckdb_times(folder)
        for row in rows:
            row["duckdb"] = duck[row["question"]] * 1000 if row["question"] in duck else float("nan")
        columns.append(("duckdb", "DuckDB best ms", ".0f"))
    print(f"{folder}: opened in {opened:.2f} s")
    print_table(rows, columns)
    slowest = max(row["first"] for row in rows)
    print(f"slowest answer: {slowest:.0f} ms (target < 1000 ms)")


if __name__ == "__main__":
    main()
