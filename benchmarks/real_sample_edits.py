"""Every change `prepare` makes to real UltraChat text: each edit, reject and flag, to judge by eye.

    uv run python benchmarks/real_sample_edits.py [--sample FILE]

Runs `prepare world` with the default options on the shared sample of real dialogues
(`../shared/real-sample/ultrachat_release_230407.json` beside the checkout: never copied in) and
prints, for each kept dialogue whose text changed, every edited span with its context before and
after, then every reject with its reason and detail, and every flag with the turn that earned it.
Ends with the counts by kind.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

DEFAULT_SAMPLE = (Path(__file__).resolve().parents[2] / "shared" / "real-sample"
                  / "ultrachat_release_230407.json")
CONTEXT = 30


def edits(before: str, after: str) -> list[tuple[str, str]]:
    """(old span, new span) with context, for each place the two texts differ."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [(before[max(0, a1 - CONTEXT):a2 + CONTEXT], after[max(0, b1 - CONTEXT):b2 + CONTEXT])
            for op, a1, a2, b1, b2 in matcher.get_opcodes() if op != "equal"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE)
    args = parser.parse_args()
    if not args.sample.is_file():
        print(f"no real sample at {args.sample}: this script needs ../shared/real-sample/", file=sys.stderr)
        return 2
    import pyarrow.parquet as pq

    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs

    released = {number: json.loads(line) for number, line in
                enumerate(args.sample.read_text(encoding="utf-8").splitlines(), start=1)}
    counts: Counter = Counter()
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "release"
        data.mkdir()
        (data / "ultrachat_release_230407.json").symlink_to(args.sample.resolve())
        out = Path(scratch) / "out"
        report = prepare(local_inputs("world", data), out, "world", progress=False)
        for path in sorted(out.glob("data/*/*.parquet")):
            for row in pq.read_table(path).to_pylist():
                original = released[row["line"]]["data"]
                for turn, (before, message) in enumerate(zip(original, row["messages"])):
                    for old, new in edits(before.strip(), message["content"]):
                        counts["edits"] += 1
                        print(f"EDIT line {row['line']} turn {turn}: {old!r}\n{'':>10}-> {new!r}")
                for flag in row["flags"]:
                    counts[f"flag {flag}"] += 1
                    print(f"FLAG line {row['line']}: {flag}")
        for row in pq.read_table(out / "rejects" / "world.parquet").to_pylist():
            counts[f"reject {row['reason']}"] += 1
            print(f"REJECT line {row['line']}: {row['reason']}: {row['detail']}")
    print(f"\n{report.totals().lines} dialogues read, {report.totals().kept} kept; repairs: "
          f"{dict(report.totals().repaired)}")
    for kind, count in sorted(counts.items()):
        print(f"  {kind}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
