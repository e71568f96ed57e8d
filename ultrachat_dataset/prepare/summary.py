"""What a run did, for a person: the report as a table of files and reasons, and one dialogue."""

from __future__ import annotations

import textwrap

from ..rejects import Report, by_count
from ..stages.registry import FLAGS, REPAIR_KINDS, describe_reason


def print_report(report: Report, title: str) -> None:
    """What a run read, kept, rejected and repaired, per file and by reason."""
    totals = report.totals()
    print(f"\nRead {title}: {totals.lines} lines -> {totals.kept} dialogues kept, "
          f"{sum(totals.rejected.values())} lines rejected\n")
    width = max(len(name) for name in report.files) if report.files else 10
    print(f"  {'file':<{width}}  {'lines':>8}  {'kept':>8}  {'rejected':>8}")
    for name, counts in sorted(report.files.items()):
        print(f"  {name:<{width}}  {counts.lines:>8}  {counts.kept:>8}  "
              f"{sum(counts.rejected.values()):>8}")
    for heading, counter, describe in (("rejected, by reason", totals.rejected, describe_reason),
                                       ("repaired and kept", totals.repaired, REPAIR_KINDS.get),
                                       ("kept and flagged (the rows' `flags`)", totals.flagged, FLAGS.get)):
        if counter:
            print(f"\n{heading}:")
            for reason, count in by_count(counter):
                print(f"  {reason:<22} {count:>7}  {describe(reason) or ''}")


def print_dialogue(row: dict, width: int = 100, shown_turns: int = 4) -> None:
    """One prepared row, its first turns wrapped."""
    messages = row["messages"]
    print(f"\nOne dialogue: id {row['id']}, sector {row['sector']}, {row['source']} line "
          f"{row['line']}, {row['num_exchanges']} exchanges, language {row['language']}")
    for message in messages[:shown_turns]:
        content = message["content"]
        short = content if len(content) <= 400 else content[:400] + " [...]"
        body = textwrap.fill(short, width, initial_indent=f"  {message['role']:>9}: ",
                             subsequent_indent=" " * 13)
        print(body)
    if len(messages) > shown_turns:
        print(f"  ... {len(messages) - shown_turns} more turns")
