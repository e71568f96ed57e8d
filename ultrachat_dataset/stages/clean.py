"""Text repair and content filters, in vectors; Python per turn only where ftfy or a rule needs it.

Repair: `ftfy.fix_text` with `FTFY_CONFIG`, applied only to turns that can need it. A turn that is
ASCII with no control character other than tab and newline is returned unchanged by ftfy under
this config (no mojibake, entity, ligature, line break or control character can be in it), so it
skips the call; a property test holds the fast path equal to `ftfy.fix_text` on arbitrary text.
Then white space is trimmed at both ends of every turn.

Filters, each on or off by name (`FILTERS`): rejects with a reason, or repairs that are counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..offload import map_texts
from ..rejects import rejects_from_rows
from ..turns import TurnLayout, flags, is_blank, matches, rows_where, set_data, string_buffers, trim_turns
from .textlibs import FTFY_CONFIG, fix_turn_text  # noqa: F401  (FTFY_CONFIG: the repair's settings)

FILTERS = {
    "self_disclaimer": "reject dialogues whose assistant says 'As an AI language model' or "
                       "'I do not have emotions / personal experiences / opinions' (as ultrachat_200k)",
    "polite_closing": "trim closing 'Thank you' / 'You're welcome' exchanges from the end",
    "casing": "capitalise sentence starts after . ! ? ('Hello. how are you?'), never in code or URLs",
}
DEFAULT_FILTERS = tuple(FILTERS)

_B = r"(?-u:\b)"  # an ASCII word boundary
_DISCLAIMER = (rf"(?i){_B}as an ai{_B}|{_B}as an? (?:ai )?language model{_B}|{_B}i (?:do not|don't|"
               r"cannot|can't) (?:have|experience|possess) (?:any )?(?:personal )?(?:emotions|"
               rf"feelings|opinions|experiences|preferences|beliefs){_B}")
_THANKS = r"(?i)^\W*(?:great|ok(?:ay)?|perfect|awesome|cool)?\W*(?:thanks?|thank you)\b"
_WELCOME = r"(?i)^\W*(?:you'?re (?:very )?welcome|you are (?:very )?welcome|my pleasure|glad (?:i|to))"
# ftfy's cost on text it repairs (measured on mojibake turns: ~0.46 us a character).
_FTFY_SECONDS_PER_CHAR = 5e-7
_POLITE_MAX_CHARS = 120  # a thanks longer than this carries a new request: keep it
# A lowercase word after end punctuation that follows a letter: the place a sentence case fix goes.
_CASE_CANDIDATE = r"[A-Za-z][.!?] +[a-z]"
# The ending word (2+ letters, not after a letter or dot: not "e.g." or "config.py."), the spaces,
# and, looked ahead so that it can end a sentence itself, a plain lowercase word.
_CASE_FIX = re.compile(r"(?<![A-Za-z.])([A-Za-z]{2,}[.!?]) +(?=[a-z]+(?:[ ,;:!?]|\.(?:\s|$)|$))")
_ABBREVIATIONS = {"e.g.", "i.e.", "etc.", "vs.", "approx.", "mr.", "mrs.", "ms.", "dr.", "st.",
                  "no.", "fig.", "eq.", "cf.", "al.", "jr.", "sr.", "inc.", "ltd.", "co."}
_PROTECTED_SPAN = re.compile(r"```.*?(?:```|$)|`[^`\n]*`|\S*(?:://|www\.)\S*", re.S)


@dataclass
class CleanOptions:
    fix_text: bool = True
    filters: tuple[str, ...] = DEFAULT_FILTERS
    min_exchanges: int | None = None
    max_exchanges: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None

    def __post_init__(self):
        unknown = [name for name in self.filters if name not in FILTERS]
        if unknown:
            raise ConfigError(f"unknown filter {', '.join(unknown)}: choose from {', '.join(FILTERS)}")


@dataclass
class Cleaned:
    rows: pa.Table
    rejects: pa.Table
    repairs: Counter


def repair_texts(turns: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """ftfy on the turns that can need it (on helper processes when there are many: `offload`);
    returns the turns and which of them changed."""
    return _apply_where(turns, may_need_repair(turns), fix_turn_text, _FTFY_SECONDS_PER_CHAR)


def may_need_repair(turns: pa.Array) -> np.ndarray:
    """Turns with anything but printable ASCII, tab and newline: the only ones ftfy can change."""
    offsets, data = string_buffers(turns)
    return _unprintable(data, offsets)


@numba.njit(nogil=True, cache=True)
def _unprintable(data, offsets):  # pragma: no cover (compiled; tested through may_need_repair)
    """Which texts hold a control byte but tab and newline, DEL, or a non-ASCII byte. Arithmetic,
    not a table or an early exit, so that the compiler makes it a vector loop (~10x faster)."""
    found = np.zeros(len(offsets) - 1, np.bool_)
    for text in range(len(offsets) - 1):
        seen = 0
        for position in range(offsets[text], offsets[text + 1]):
            byte = data[position]
            seen |= (byte >= 127) | ((byte < 32) & (byte != 9) & (byte != 10))
        found[text] = seen
    return found


def _apply_where(turns: pa.Array, candidates: np.ndarray, fix,
                 seconds_per_char: float = 0.0) -> tuple[pa.Array, np.ndarray]:
    """`fix` applied to the candidate turns; the rest untouched. Which turns changed, too.
    `seconds_per_char`: what `fix` costs, for `map_texts` to judge a batch; 0: always on this
    thread (`fix` is cheap, or its module too heavy for a helper to import)."""
    changed = np.zeros(len(turns), bool)
    if not candidates.any():
        return turns, changed
    originals = turns.filter(pa.array(candidates)).to_pylist()
    fixed = (map_texts(fix, originals, seconds_per_char) if seconds_per_char
             else [fix(text) for text in originals])
    changed[np.flatnonzero(candidates)] = [a != b for a, b in zip(originals, fixed)]
    return pc.replace_with_mask(turns, pa.array(candidates), pa.array(fixed, turns.type)), changed


def fix_sentence_case(text: str) -> str:
    """Capitalise lowercase words that start a sentence, outside code spans and URLs."""
    pieces, last = [], 0
    for span in _PROTECTED_SPAN.finditer(text):
        pieces.append(_fix_case_outside_code(text[last:span.start()]))
        pieces.append(span.group())
        last = span.end()
    pieces.append(_fix_case_outside_code(text[last:]))
    return "".join(pieces)


def _fix_case_outside_code(text: str) -> str:
    starts = [match.end() for match in _CASE_FIX.finditer(text)
              if match.group(1).lower() not in _ABBREVIATIONS]
    if not starts:
        return text
    chars = list(text)
    for start in starts:
        chars[start] = chars[start].upper()
    return "".join(chars)


def clean(rows: pa.Table, options: CleanOptions) -> Cleaned:
    """Repair and filter; repairs are counted for the rows this stage keeps. Rejects carry the
    rows as they came (before repair), so a rejected dialogue can be recovered as it was."""
    repaired: dict[str, np.ndarray] = {}  # repair kind -> rows it changed
    original = rows
    layout = TurnLayout.of(rows.column("data"))
    turns = layout.turns
    if options.fix_text:
        turns, changed = repair_texts(turns)
        repaired["text_repaired"] = layout.any_per_row(changed)
    turns = trim_turns(turns)
    if "casing" in options.filters:
        candidates = matches(turns, _CASE_CANDIDATE)
        turns, changed = _apply_where(turns, candidates, fix_sentence_case)
        repaired["fixed_sentence_case"] = layout.any_per_row(changed)
    rows = set_data(rows, layout.rebuild(turns))
    reasons = np.full(rows.num_rows, "", dtype=object)
    details = np.full(rows.num_rows, None, dtype=object)
    empty = is_blank(turns)
    _mark(reasons, layout.any_per_row(empty), "empty_after_cleaning", details,
          _turn_details(layout, empty, "is empty once repaired and trimmed"))
    if "self_disclaimer" in options.filters:
        # Assistant turns only; searching them in place beats copying them out (user turns are short).
        disclaims = matches(turns, _DISCLAIMER) & ~layout.is_user
        _mark(reasons, layout.any_per_row(disclaims), "self_disclaimer", details,
              _turn_details(layout, disclaims, "disclaims"))
    if "polite_closing" in options.filters:
        rows, trimmed = _trim_polite_closings(rows)
        repaired["trimmed_polite_closing"] = trimmed > 0
        exchanges = pc.list_value_length(rows.column("data")).to_numpy(zero_copy_only=False) // 2
        _mark(reasons, exchanges == 0, "only_polite_closing", details,
              _counted(trimmed, "closing exchanges trimmed", 0))
    _mark_length_limits(reasons, details, rows, options)
    rejected = reasons != ""
    rejects = rejects_from_rows(original.filter(pa.array(rejected)), "clean",
                                pa.array(reasons[rejected].tolist(), pa.string()),
                                details[rejected].tolist())
    repairs = Counter({kind: int((changed & ~rejected).sum()) for kind, changed in repaired.items()})
    return Cleaned(rows_where(rows, ~rejected), rejects, +repairs)


def _mark(reasons: np.ndarray, failed: np.ndarray, code: str, details: np.ndarray,
          describe: Callable[[np.ndarray], list[str]]) -> None:
    """Give `code` (and its detail) to failed rows that have no earlier reason: the first rule
    failed wins."""
    chosen = np.flatnonzero(failed & (reasons == ""))
    reasons[chosen] = code
    details[chosen] = describe(chosen)


def _turn_details(layout: TurnLayout, turn_flags: np.ndarray, what: str):
    """For rows picked later: "turn K <what>" of their first flagged turn (counted from 0)."""
    return lambda chosen: [f"turn {position} {what}"
                           for position in layout.first_flagged(turn_flags)[chosen]]


def _counted(values: np.ndarray, unit: str, limit: int):
    return lambda chosen: [f"{value} {unit} (limit {limit})" for value in values[chosen]]


def _trim_polite_closings(rows: pa.Table, rounds: int = 2) -> tuple[pa.Table, np.ndarray]:
    """Drop closing thanks/welcome exchanges from the end (up to `rounds` of them)."""
    trimmed = np.zeros(rows.num_rows, np.int64)
    for _ in range(rounds):
        layout = TurnLayout.of(rows.column("data"))
        # Only the last exchange of each dialogue is looked at.
        paired = np.flatnonzero(layout.lengths >= 2)
        last_assistant = np.cumsum(layout.lengths)[paired] - 1
        user, assistant = (layout.turns.take(pa.array(last_assistant - 1)),
                           layout.turns.take(pa.array(last_assistant)))
        polite = np.zeros(rows.num_rows, bool)
        polite[paired] = (flags(pc.less_equal(pc.utf8_length(user), _POLITE_MAX_CHARS))
                          & flags(pc.match_substring_regex(user, _THANKS))
                          & flags(pc.match_substring_regex(assistant, _WELCOME)))
        if not polite.any():
            break
        trimmed += polite
        drop = np.zeros(len(layout.turns), bool)
        ends = last_assistant[polite[paired]]
        drop[ends] = drop[ends - 1] = True
        rows = set_data(rows, layout.rebuild(keep=~drop))
    return rows, trimmed


def _mark_length_limits(reasons: np.ndarray, details: np.ndarray, rows: pa.Table,
                        options: CleanOptions) -> None:
    data = rows.column("data")
    exchanges = pc.list_value_length(data).to_numpy(zero_copy_only=False) // 2
    limits = [("too_few_exchanges", options.min_exchanges, exchanges, np.less, "exchanges"),
              ("too_many_exchanges", options.max_exchanges, exchanges, np.greater, "exchanges")]
    if options.min_chars is not None or options.max_chars is not None:
        layout = TurnLayout.of(data)
        chars = np.bincount(layout.owner, pc.utf8_length(layout.turns).to_numpy(zero_copy_only=False),
                            minlength=rows.num_rows)
        limits += [("too_short", options.min_chars, chars, np.less, "characters"),
                   ("too_long", options.max_chars, chars, np.greater, "characters")]
    for code, limit, values, beyond, unit in limits:
        if limit is not None:
            _mark(reasons, beyond(values, limit), code, details, _counted(values, unit, limit))
