"""The whole pipeline against the way users clean UltraChat today, and against the copy limit.

    uv run python benchmarks/bench_pipeline.py --dialogues 200000 [--data DIR] [--skip-naive]
    uv run python benchmarks/bench_pipeline.py --memory 100000,400000
    uv run python benchmarks/bench_pipeline.py --stages --dialogues 100000
    uv run python benchmarks/bench_pipeline.py --libraries-absent

On two synthesized corpora, one with content defects (not line defects, so the naive loader does
not crash) and one with no defect at all, runs side by side, each in a fresh process:
  (a) ultrachat: `prepare` with the default options (repair, filters, English, exact + near dedup)
  (b) naive: `datasets.load_dataset("json")`, `.map` ftfy on every turn, `.filter` langdetect on
      every dialogue, exact dedup with a Python set
  (c) copy limit: the same files read with pyarrow and written to parquet (zstd, page index,
      content-defined chunking: our output's settings), no cleaning
and prints wall and CPU seconds (worker processes included), dialogues/s, peak memory of the
process tree and the ratios (b)/(a) (target >= 30, defect corpus) and (a)/(c) (targets: <= 2 on
the clean corpus, <= 3 on the defects). (a) and (c) run `--rounds` times (3), alternating: the
table shows each one's median run, the ratio is the median of the rounds' ratios, and every
round is printed. `--memory` runs (a) alone on corpora of the given sizes
to show peak memory flat. `--stages` runs (a) on one worker thread and prints each stage's seconds,
rows and calls to ftfy and langdetect from its report.json. `--libraries-absent` runs, on the defect
corpus, (a), (a) with every answer of ftfy and langdetect replayed from a recorded run (the same
work and output without the two libraries' cost: a KeyError if any answer is missing) and (c),
alternating.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import REAL_SAMPLE, corpus, in_child, print_table, release_paths, repeated_sample, timed

CONTENT_DEFECTS = {"duplicate": 0.02, "near_duplicate": 0.02, "mojibake": 0.01,
                   "non_english": 0.01, "casing": 0.02, "self_disclaimer": 0.01,
                   "polite_closing": 0.02}


def run_ultrachat(directory: Path) -> int:
    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs
    with tempfile.TemporaryDirectory() as out:
        return prepare(local_inputs("all", directory), out, progress=False).totals().kept


def run_naive(directory: Path) -> int:
    import datasets
    import ftfy
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    datasets.disable_progress_bars()

    def english(example) -> bool:
        try:
            return detect("\n".join(example["data"])) == "en"
        except LangDetectException:
            return False

    with tempfile.TemporaryDirectory() as cache:
        files = [str(p) for p in release_paths(directory)]
        table = datasets.load_dataset("json", data_files=files, split="train", cache_dir=cache)
        table = table.map(lambda ex: {"data": [ftfy.fix_text(turn) for turn in ex["data"]]})
        table = table.filter(english)
        seen: set[str] = set()

        def first_time(example) -> bool:
            key = " ".join("".join(ch for ch in turn.lower() if ch.isalnum()) for turn in example["data"])
            if key in seen:
                return False
            seen.add(key)
            return True

        table = table.filter(first_time)
        table.to_parquet(str(Path(cache) / "out.parquet"))
        return len(table)


def run_copy(directory: Path) -> int:
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    rows = 0
    with tempfile.TemporaryDirectory() as out:
        for index, path in enumerate(release_paths(directory)):
            table = pajson.read_json(path)
            pq.write_table(table, f"{out}/{index}.parquet", compression="zstd",
                           write_page_index=True, use_content_defined_chunking=True)
            rows += table.num_rows
    return rows


ANSWERS = "ULTRACHAT_BENCH_ANSWERS"  # where the recording run keeps the answers (a temp file)


def _answers_path() -> Path:
    return Path(os.environ[ANSWERS])


def run_recording(directory: Path) -> int:
    """(a), keeping every answer ftfy and langdetect gave, for `run_replaying`."""
    import pickle

    from ultrachat_dataset.stages import clean, langid
    answers = {}
    original_map, original_detect = clean.map_texts, langid.detect_language

    def recording(function, texts, seconds_per_char):
        results = original_map(function, texts, seconds_per_char)
        answers.update(zip(((function.__name__, text) for text in texts), results))
        return results

    def detect_recording(text):
        answers["detect_language", text] = original_detect(text)
        return answers["detect_language", text]
    clean.map_texts, langid.detect_language = recording, detect_recording
    kept = run_ultrachat(directory)
    _answers_path().write_bytes(pickle.dumps(answers))
    return kept


def run_replaying(directory: Path) -> int:
    """(a) with ftfy's and langdetect's answers looked up from a recorded run (a KeyError if
    any is missing): the same work and output, without the two libraries' cost."""
    import pickle

    from ultrachat_dataset.stages import clean, langid
    answers = pickle.loads(_answers_path().read_bytes())

    def replaying(function, texts, seconds_per_char):
        return [answers[function.__name__, text] for text in texts]
    clean.map_texts = replaying
    langid.detect_language = lambda text: answers["detect_language", text]
    return run_ultrachat(directory)


METHODS = {"ultrachat": run_ultrachat, "naive": run_naive, "copy": run_copy,
           "recording": run_recording, "replaying": run_replaying}


def time_stages(directory: Path) -> None:
    """`prepare` on one worker thread; each stage's seconds, rows and library calls as its
    report.json counts them (the pipeline times its stages: nothing here is patched)."""
    import json
    import time

    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        prepare(local_inputs("all", directory), out, progress=False, workers=1)
        total = time.perf_counter() - start
        stages = json.loads((Path(out) / "report.json").read_text())["stages"]
    print(f"{'stage':15s} {'seconds':>8s} {'share':>6s} {'rows in':>9s} {'kept':>9s}  library calls")
    for name, counts in stages.items():
        calls = ", ".join(f"{library} {count:,}" for library, count in counts["calls"].items())
        print(f"{name:15s} {counts['seconds']:8.1f} {counts['seconds'] / total:6.0%} {counts['in']:9,} "
              f"{counts['kept']:9,}  {calls}")
    rest = total - sum(counts["seconds"] for counts in stages.values())
    what = "prepared rows, split, parquet, card" if rest >= 0 else \
        "below 0: the main thread's part (dedup's decisions) runs while the worker does: both counted"
    print(f"{'the rest':15s} {rest:8.1f} {rest / total:6.0%}  ({what})")
    print(f"{'total':15s} {total:8.1f}")


def warm_up(seed: int) -> None:
    """One untimed `prepare` on a small defect corpus first: a fresh checkout has no numba cache
    (its kernels compile at first use, ~10 s) and no cache of langdetect's profiles, and neither
    is a cost of the runs measured after."""
    print("warming up (untimed): compiled kernels and caches ...", flush=True)
    in_child(__file__, "ultrachat", str(corpus(None, 2_000, seed, CONTENT_DEFECTS, "pipeline")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, help="an existing corpus (default: synthesize one)")
    parser.add_argument("--real-sample", type=Path, nargs="?", const=REAL_SAMPLE, metavar="FILE",
                        help="run on the real sample (default: ../shared/real-sample/...) repeated to "
                             "--dialogues, ids made unique, instead of the synthesized corpora")
    parser.add_argument("--skip-naive", action="store_true", help="(b) takes about an hour at 200k")
    parser.add_argument("--memory", help="comma-separated corpus sizes: peak memory of (a) only")
    parser.add_argument("--stages", action="store_true", help="time each stage on one core")
    parser.add_argument("--libraries-absent", action="store_true",
                        help="on the defect corpus, also (a) with ftfy's and langdetect's answers "
                             "replayed from a recorded run: their cost isolated")
    parser.add_argument("--rounds", type=int, default=3,
                        help="(a) and (c) run this many times, alternating; the median is shown")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import pyarrow as pa
        pa.array([0])  # imports before the clock starts, for every method alike
        method, directory = args.child
        result = timed(lambda: METHODS[method](Path(directory)))
        print(__import__("json").dumps(result))
        return
    warm_up(args.seed)
    if args.memory:
        rows = []
        for size in (int(n) for n in args.memory.split(",")):
            directory = corpus(None, size, args.seed, CONTENT_DEFECTS, "pipeline")
            result = in_child(__file__, "ultrachat", str(directory))
            rows.append({"dialogues": size, **result, "per_s": size / result["seconds"]})
        print_table(rows, [("dialogues", "dialogues", "d"), ("seconds", "seconds", ".1f"),
                           ("per_s", "dialogues/s", ".0f"), ("peak_mb", "peak MB", ".0f")])
        return
    if args.stages:
        time_stages(corpus(args.data, args.dialogues, args.seed, CONTENT_DEFECTS, "pipeline"))
        return
    if args.libraries_absent:
        directory = corpus(args.data, args.dialogues, args.seed, CONTENT_DEFECTS, "pipeline")
        compare_without_libraries(directory, args.rounds)
        return
    # The defect mix, and a corpus with no defect at all (ftfy and langdetect never called).
    # The real-like default corpus with the defect mix, and with no defect at all.
    corpora = ({"given": args.data} if args.data else
               {"defects": corpus(None, args.dialogues, args.seed, CONTENT_DEFECTS, "pipeline"),
                "clean": corpus(None, args.dialogues, args.seed, {}, "pipeline-clean")})
    if args.real_sample:
        real = repeated_sample(args.real_sample, args.dialogues)
        corpora = {"real sample, repeated": real} if real else {}
    for label, directory in corpora.items():
        megabytes = sum(p.stat().st_size for p in release_paths(directory)) / 1e6
        # A shared machine's speed drifts by 10-30% between runs: (a) and (c) alternate, and each
        # round's ratio is printed with the median's.
        rounds = [{m: in_child(__file__, m, str(directory)) for m in ("ultrachat", "copy")}
                  for _ in range(args.rounds)]
        results = {m: _median_run([r[m] for r in rounds]) for m in ("ultrachat", "copy")}
        if not (args.skip_naive or label == "clean"):
            results["naive"] = in_child(__file__, "naive", str(directory))
        print(f"\ncorpus {label}: {directory} ({args.dialogues} dialogues, {megabytes:.0f} MB)")
        rows = [{"method": m, **r, "per_s": args.dialogues / r["seconds"],
                 "mb_s": megabytes / r["seconds"]} for m, r in results.items()]
        print_table(rows, [("method", "method", "s"), ("result", "rows out", "d"),
                           ("seconds", "wall s", ".1f"), ("cpu_s", "CPU s", ".1f"),
                           ("per_s", "dialogues/s", ".0f"), ("mb_s", "MB/s", ".1f"),
                           ("peak_mb", "peak MB", ".0f")])
        ratios = sorted(r["ultrachat"]["seconds"] / r["copy"]["seconds"] for r in rounds)
        cpu_ratios = sorted(r["ultrachat"]["cpu_s"] / r["copy"]["cpu_s"] for r in rounds)
        print(f"(a)/(c) ultrachat vs copy limit, median of {len(rounds)} rounds: "
              f"{ratios[len(ratios) // 2]:.2f}x wall, {cpu_ratios[len(ratios) // 2]:.2f}x CPU "
              f"(target <= {3 if label == 'defects' else 2} wall); rounds: "
              + ", ".join(f"{r['ultrachat']['seconds']:.1f} s / {r['copy']['seconds']:.1f} s"
                          for r in rounds))
        ours = results["ultrachat"]
        if "naive" in results:
            print(f"(b)/(a) naive vs ultrachat: {results['naive']['seconds'] / ours['seconds']:.1f}x "
                  "faster (target >= 30)")

def compare_without_libraries(directory: Path, rounds: int) -> None:
    """(a), (a) with the two pure-Python libraries' answers replayed (their cost absent) and (c),
    alternating; the ratios of both to (c) per round and their medians."""
    methods = ("ultrachat", "replaying", "copy")
    with tempfile.TemporaryDirectory() as scratch:  # not in the corpus folder: it may be a user's
        os.environ[ANSWERS] = str(Path(scratch) / "answers.pickle")  # the children inherit it
        recorded = in_child(__file__, "recording", str(directory))
        runs = [{m: in_child(__file__, m, str(directory)) for m in methods} for _ in range(rounds)]
    print(f"\ncorpus {directory}: {recorded['result']} rows kept by the recording run")
    print_table([{"method": m, **_median_run([r[m] for r in runs])} for m in methods],
                [("method", "method", "s"), ("result", "rows out", "d"), ("seconds", "wall s", ".1f"),
                 ("cpu_s", "CPU s", ".1f"), ("peak_mb", "peak MB", ".0f")])
    for method, label in (("ultrachat", "(a) as it is"), ("replaying", "(a) libraries absent")):
        ratios = sorted(r[method]["seconds"] / r["copy"]["seconds"] for r in runs)
        cpu = sorted(r[method]["cpu_s"] - r["copy"]["cpu_s"] for r in runs)
        print(f"{label:22s} vs copy limit: median {ratios[len(ratios) // 2]:.2f}x wall "
              f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}), "
              f"{cpu[len(cpu) // 2]:.1f} CPU-s above the copy")


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time (of an even count, the slower middle one)."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


if __name__ == "__main__":
    main()
