"""The pipeline's stages, in order, and what they declare: every reason a line is rejected and
every repair made to a kept row, with what it means. The report, the card, the CLI summary and
the README's tables describe codes from here, so none of them can drift from the stages."""

from __future__ import annotations

from .clean import Clean
from .decontaminate import Decontaminate
from .dedup import Dedup
from .langid import LanguageFilter
from .reading import Read
from .validate import Validate

# Language first, so that text repair, the slowest step per turn, never runs on dialogues that
# are dropped for their language anyway; dedup last, on the rows as they will be written.
STAGES = (Validate, LanguageFilter, Clean, Decontaminate, Dedup)
DECLARED = (Read, *STAGES)  # the reader heads the pipeline: it takes bytes, not rows

REASONS = {code: meaning for stage in DECLARED for code, meaning in stage.reasons.items()}
REPAIR_KINDS = {kind: meaning for stage in DECLARED for kind, meaning in stage.repairs.items()}
FLAGS = {flag: meaning for stage in DECLARED for flag, meaning in getattr(stage, "flags", {}).items()}


def describe_reason(code: str) -> str:
    if code.startswith("lang_"):
        return f"detected language {code[5:]!r}, not one of the languages kept"
    return REASONS.get(code, "")
