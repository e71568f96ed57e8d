"""The README's table of stages and reason codes, and its list of repairs, are what the stages
declare (`stages.registry`): a code added, renamed or dropped in one and not the other fails here."""

import re
from pathlib import Path

from ultrachat_dataset.stages import registry

README = Path(__file__).resolve().parent.parent / "README.md"
REGISTRY = {stage.name: stage.reasons for stage in registry.DECLARED}


def readme_table() -> dict[str, set[str]]:
    """stage -> the codes its rows of the README's reason table name."""
    text = README.read_text()
    table = text[text.index("### The stages and their reason codes"):]
    table = table[:table.index("\n\n", table.index("| stage |"))]
    codes: dict[str, set[str]] = {}
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) == 3 and cells[0] in REGISTRY:
            codes.setdefault(cells[0], set()).update(re.findall(r"`([^`]+)`", cells[1]))
    return codes


def test_the_readme_reason_table_is_the_registry():
    declared = {stage: set(codes) for stage, codes in REGISTRY.items()}
    listed = readme_table()
    missing = {stage: codes - listed.get(stage, set()) for stage, codes in declared.items()}
    extra = {stage: codes - declared.get(stage, set()) for stage, codes in listed.items()}
    assert listed == declared, (f"README.md's reason table: add {_nonempty(missing)}, drop "
                                f"{_nonempty(extra)} (a row `| stage | `code` | meaning |`)")


def _nonempty(by_stage: dict) -> dict:
    return {stage: sorted(codes) for stage, codes in by_stage.items() if codes}


def test_the_readme_repairs_are_the_registry():
    text = README.read_text()
    listed = text[text.index("Repairs (the row is kept"):]
    listed = listed[:listed.index("\n\n")]
    assert set(re.findall(r"`([a-z]+_[a-z0-9_]+)`", listed)) == set(registry.REPAIR_KINDS)


def test_the_readme_flags_are_the_registry():
    text = README.read_text()
    listed = text[text.index("Flags (the row is kept"):]
    listed = listed[:listed.index("\n\n")]
    named = set(re.findall(r"`([a-z]+_[a-z0-9_]+)`", listed)) - {"flags", "flagged"}
    assert named == set(registry.FLAGS)
