"""The `ultrachat` command. A user error is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
import textwrap
from importlib import resources
from pathlib import Path

from .errors import UltraChatError
from .pipeline import REASONS, REPAIR_KINDS, local_inputs, read_validated
from .rejects import Report
from .synth import DEFECTS, FILE_DEFECTS, SynthOptions, parse_defect_rates, synthesize


def sample_dir() -> Path:
    """The bundled sample: a few hundred dialogues per sector, gzipped, with some defects."""
    return Path(str(resources.files("ultrachat_dataset") / "sample"))


def cmd_synth(args: argparse.Namespace) -> None:
    options = SynthOptions(dialogues=args.dialogues, seed=args.seed,
                           defect_rates=parse_defect_rates(args.defects),
                           file_defects=tuple(filter(None, args.file_defects.split(","))),
                           layout=args.layout, gzip=args.gzip, length_scale=args.length_scale)
    manifest = synthesize(args.out, options)
    lines = sum(entry["lines"] for entry in manifest["files"].values())
    print(f"wrote {args.dialogues} dialogues ({lines} lines) in {len(manifest['files'])} files "
          f"to {args.out}; defects per file in {Path(args.out) / 'manifest.json'}")


def cmd_demo(args: argparse.Namespace) -> None:
    data_dir = args.data_dir or sample_dir()
    inputs = local_inputs(args.config, data_dir)
    report = Report()
    shown = None
    for rows, _ in read_validated(inputs, report, progress=not args.quiet):
        report.add_kept(rows)
        if shown is None and rows.num_rows:
            shown = rows.slice(0, 1).to_pylist()[0]
    report.check()
    print_report(report, f"{data_dir} (config {args.config!r})")
    if shown:
        print_dialogue(shown)


def print_report(report: Report, title: str) -> None:
    totals = report.totals()
    print(f"\nRead {title}: {totals.lines} lines -> {totals.kept} dialogues kept, "
          f"{sum(totals.rejected.values())} lines rejected\n")
    width = max(len(name) for name in report.files) if report.files else 10
    print(f"  {'file':<{width}}  {'lines':>8}  {'kept':>8}  {'rejected':>8}")
    for name, counts in sorted(report.files.items()):
        print(f"  {name:<{width}}  {counts.lines:>8}  {counts.kept:>8}  "
              f"{sum(counts.rejected.values()):>8}")
    for heading, counter, meanings in (("rejected, by reason", totals.rejected, REASONS),
                                       ("repaired and kept", totals.repaired, REPAIR_KINDS)):
        if counter:
            print(f"\n{heading}:")
            for reason, count in counter.most_common():
                print(f"  {reason:<22} {count:>7}  {meanings.get(reason, '')}")


def print_dialogue(row: dict, width: int = 100) -> None:
    print(f"\nOne dialogue: id {row['id']}, sector {row['sector']}, {row['source']} line "
          f"{row['line']}, {len(row['data']) // 2} exchanges")
    for index, turn in enumerate(row["data"]):
        role = "user" if index % 2 == 0 else "assistant"
        short = turn if len(turn) <= 400 else turn[:400] + " [...]"
        print(textwrap.indent(textwrap.fill(short, width - 4), "    ").replace("    ", f"  {role:>9}: ", 1)
              if index < 4 else f"  ... {len(row['data']) - 4} more turns")
        if index >= 4:
            break


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ultrachat", description="UltraChat as clean, verified "
                                     "training data: synthesize, read, validate and inspect.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser("synth", help="write a synthetic corpus in the release format",
                                description="Write a corpus in the exact release format under "
                                "the release file names, deterministic per seed.")
    synth.add_argument("--out", required=True, type=Path, help="directory to write")
    synth.add_argument("--dialogues", type=int, default=1000, help="how many (default 1000)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--defects", default="", metavar="KIND=RATE,...",
                       help=f"defect rates, or all=RATE shared by every kind; kinds: "
                            f"{', '.join(DEFECTS)}")
    synth.add_argument("--file-defects", default="", metavar="KIND,...",
                       help=f"whole-file defects: {', '.join(FILE_DEFECTS)}")
    synth.add_argument("--layout", choices=("tsinghua", "hub"), default="tsinghua",
                       help="four sector files (tsinghua) or ten unlabelled shards (hub)")
    synth.add_argument("--gzip", action="store_true", help="gzip the files (names end in .gz)")
    synth.add_argument("--length-scale", type=float, default=1.0,
                       help="scale utterance lengths (1.0: about 300 tokens an utterance)")
    synth.set_defaults(run=cmd_synth)

    demo = commands.add_parser("demo", help="read the bundled sample and show what was kept",
                               description="Read and validate the bundled sample (or --data-dir) "
                               "with no network; print what was kept and rejected, and why.")
    demo.add_argument("config", nargs="?", default="all",
                      help="all (default), world, writing or assistance")
    demo.add_argument("--data-dir", type=Path, help="release files to read instead of the sample")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except UltraChatError as error:
        print(f"ultrachat {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ultrachat: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
