"""Text repair and content filters, in vectors; Python per turn only where ftfy or a rule needs it.

Repair: `ftfy.fix_text` with `FTFY_CONFIG`, applied only to turns it can change: a compiled pass
finds the turns with anything but printable ASCII, tab and newline, and of those `ftfy_gate` keeps
the ones with a character a fixer acts on, a mojibake pattern, or text that is not NFC (on real
text, ~1 in 500 of them). Property tests hold the gated repair equal to `ftfy.fix_text` on
arbitrary and on hard text.
Then white space is trimmed at both ends of every turn. Each step records only the turns it
changes (`TurnEdits`), and the block's turns are copied once, at the end, without the rows and
closing exchanges dropped.

Filters, each on or off by name (`FILTERS`): rejects with a reason, or repairs that are counted.
A rule that rejects marks the rows it fails with `_mark`: a row failing several rules gets the
reason of the first, in the order of `Clean.reasons`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..offload import map_texts
from ..turns import (
    TurnEdits,
    TurnLayout,
    add_flag,
    flags,
    is_blank,
    lists_of,
    matches,
    needs_trim,
    rows_where,
    string_buffers,
)
from . import casing, mojibake
from .casing import fix_sentence_case  # noqa: F401  (re-exported)
from .charsets import CharacterSets
from .ftfy_gate import TRIGGERS, ftfy_can_change
from .stage import Stage, StageResult, option
from .textlibs import FTFY_CONFIG, fix_turn_text  # noqa: F401  (FTFY_CONFIG: the repair's settings)

FILTERS = {
    "self_disclaimer": "find the assistant's disclaimers ('I do not have emotions or opinions', 'As an "
                       "AI language model', 'I do not have access to real-time data') and apply "
                       "--disclaimers and --ai-identity to them",
    "polite_closing": "trim closing 'Thank you' / 'You're welcome' exchanges from the end",
    "casing": "capitalise sentence starts after . ! ? ('Hello. how are you?'), never in code or URLs",
}
DEFAULT_FILTERS = tuple(FILTERS)

DISCLAIMER_POLICIES = ("drop_dialogue", "drop_exchange", "flag", "keep")
_B = r"(?-u:\b)"  # an ASCII word boundary
_NOT = r"i (?:do not|don't|do n't|cannot|can't|can not) "
# ultrachat_200k's filter, as its card tells it: the assistant says it has no emotions or opinions.
_SELF_DISCLAIMER = (rf"(?i){_B}{_NOT}(?:have|experience|possess|hold|form|feel) (?:any |a )?(?:personal |"
                    r"subjective |human |real |my own )?(?:emotions?|feelings?|opinions?|beliefs?|"
                    rf"subjective experiences?|consciousness|childhood memories|personal experiences?){_B}")
# What the assistant says it is: "As an AI language model, ...", "I am an AI, ...".
_AI_IDENTITY = (rf"(?i){_B}(?:as an? (?:ai|artificial intelligence|(?:ai |artificial intelligence )?language "
                r"model|virtual assistant|chatbot)|i(?: am|'m) (?:just |only |merely )?an? (?:ai|artificial "
                rf"intelligence|(?:ai )?language model|virtual assistant|computer program)){_B}")
# What it cannot reach (kept by ultrachat_200k: often followed by a useful answer): flagged only.
_CAPABILITY = (rf"(?i){_B}{_NOT}(?:have )?(?:access|browse|search|connect)[^.\n]{{0,40}}"
               rf"{_B}(?:real-time|internet|current|latest|up-to-date|the web|live){_B}")
_ANY_DISCLAIMER = rf"(?i){_B}(?:{_NOT}|as an? |i(?: am|'m) )"  # a cheap first look
# The characters without which ftfy's gate clauses and a cp1256 pair cannot be in a turn: one
# compiled pass finds the turns with each, and only those are searched.
_SCREEN = CharacterSets({**TRIGGERS, "cp1256 lead": mojibake.LEAD_POINTS})
_THANKS = r"(?i)^\W*(?:great|ok(?:ay)?|perfect|awesome|cool)?\W*(?:thanks?|thank you)\b"
_WELCOME = r"(?i)^\W*(?:you'?re (?:very )?welcome|you are (?:very )?welcome|my pleasure|glad (?:i|to))"
# ftfy's cost on text it repairs (measured on mojibake turns, its screened passes installed:
# ~0.13 us a character).
_FTFY_SECONDS_PER_CHAR = 1.3e-7
_POLITE_MAX_CHARS = 120  # a thanks longer than this carries a new request: keep it


@dataclass
class CleanOptions:
    fix_text: bool = option(True, "repair text with ftfy (mojibake, control characters, ...)")
    filters: tuple[str, ...] = option(DEFAULT_FILTERS, "content filters, or none; " + "; ".join(
        f"{name}: {meaning}" for name, meaning in FILTERS.items()), choices=tuple(FILTERS))
    min_exchanges: int | None = option(None, "reject dialogues with fewer exchanges than N")
    max_exchanges: int | None = option(None, "reject dialogues with more exchanges than N")
    min_chars: int | None = option(None, "reject dialogues with fewer characters than N")
    max_chars: int | None = option(None, "reject dialogues with more characters than N")
    disclaimers: str = option("drop_dialogue", "an assistant turn saying it has no emotions or opinions "
                              "(ultrachat_200k's filter): drop the dialogue, drop the exchange, flag it "
                              "(`self_disclaimer` in the row's flags), or keep it",
                              choices=DISCLAIMER_POLICIES)
    ai_identity: str = option("flag", "an assistant turn saying 'As an AI language model' (ultrachat_200k "
                              "kept them): drop the dialogue, drop the exchange, flag it (`ai_identity`), "
                              "or keep it", choices=DISCLAIMER_POLICIES)
    replacement_character: str = option("flag", "a turn holding U+FFFD (a character lost before the "
                                        "release, 'Dad\ufffds'): flag the dialogue (`replacement_character`) "
                                        "or reject it", choices=("flag", "reject"))

    def __post_init__(self):
        unknown = [name for name in self.filters if name not in FILTERS]
        if unknown:
            raise ConfigError(f"unknown filter {', '.join(unknown)}: choose from {', '.join(FILTERS)}")
        for name, allowed in (("disclaimers", DISCLAIMER_POLICIES), ("ai_identity", DISCLAIMER_POLICIES),
                              ("replacement_character", ("flag", "reject"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} {getattr(self, name)!r}: choose from {', '.join(allowed)}")


class Clean(Stage):
    """Repair and filter; repairs are counted for the rows this stage keeps. Rejects carry the
    rows as they came (before repair), so a rejected dialogue can be recovered as it was."""

    name = "clean"
    summary = "repairs text (ftfy, white space, sentence case) and applies the content filters"
    reasons = {
        "empty_after_cleaning": "a turn is empty once repaired and trimmed",
        "replacement_character": "a turn holds U+FFFD, a character lost before the release "
                                 "(--replacement-character reject)",
        "self_disclaimer": "an assistant turn says it has no emotions or opinions (--disclaimers "
                           "drop_dialogue; with drop_exchange: every exchange does)",
        "ai_identity": "an assistant turn says 'As an AI language model' (--ai-identity drop_dialogue; "
                       "with drop_exchange: every exchange does)",
        "only_polite_closing": "nothing is left once the polite closing exchanges are trimmed",
        "too_few_exchanges": "fewer exchanges than --min-exchanges",
        "too_many_exchanges": "more exchanges than --max-exchanges",
        "too_short": "fewer characters than --min-chars",
        "too_long": "more characters than --max-chars",
    }
    repairs = {
        "text_repaired": "ftfy changed at least one turn (mojibake, control characters, ...)",
        "trimmed_polite_closing": "closing 'Thank you' / 'You're welcome' exchanges were trimmed",
        "fixed_cp1256_mojibake": "UTF-8 read as Windows-1256 was read back ('HyperX\u0622\u00ae' -> "
                                 "'HyperX\u00ae'), which ftfy cannot do",
        "fixed_sentence_case": "a sentence start was capitalised",
        "dropped_disclaimer_exchange": "exchanges whose assistant turn disclaims were dropped "
                                       "(--disclaimers or --ai-identity drop_exchange)",
    }
    flags = {
        "replacement_character": "a turn holds U+FFFD, a character lost before the release",
        "self_disclaimer": "an assistant turn says it has no emotions or opinions (--disclaimers flag)",
        "ai_identity": "an assistant turn says 'As an AI language model' (--ai-identity flag)",
        "capability_disclaimer": "an assistant turn says it has no access to real-time or current "
                                 "data (ultrachat_200k kept these; often a useful answer follows)",
    }
    Options = CleanOptions

    def apply(self, rows: pa.Table) -> StageResult:
        options = self.options
        repaired: dict[str, np.ndarray] = {}  # repair kind -> rows it changed
        flagged: dict[str, np.ndarray] = {}  # flag -> rows given it
        calls = Counter()
        layout = TurnLayout.of(rows.column("data"))
        edits = TurnEdits(layout.turns)
        not_ascii = may_need_repair(edits.original)  # the only turns ftfy, cp1256 or U+FFFD concern
        if options.fix_text:
            held = _SCREEN.held(edits.original, not_ascii)
            changeable = ftfy_can_change(edits.original, not_ascii, held=held)
            changed = repair_texts(edits, changeable)
            calls["ftfy"], calls["ftfy_changed"] = int(changeable.sum()), int(changed.sum())
            repaired["text_repaired"] = layout.any_per_row(changed)
            # cp1256 pairs: in a turn that held a lead, or that ftfy changed (it may have made one)
            misread = _turns_matching(edits, not_ascii & (held["cp1256 lead"] | changed), mojibake.CANDIDATE)
            repaired["fixed_cp1256_mojibake"] = layout.any_per_row(
                edits.apply(misread, lambda texts: list(map(mojibake.fix_cp1256, texts.to_pylist()))))
        edits.apply(edits.measure(needs_trim), pc.utf8_trim_whitespace)
        if "casing" in options.filters:
            found = edits.measure(casing.sentence_starts)
            calls["sentence_case"] = int((found > 0).sum())
            repaired["fixed_sentence_case"] = layout.any_per_row(_fix_case(layout, edits, found))
        reasons = np.full(rows.num_rows, "", dtype=object)
        details = np.full(rows.num_rows, None, dtype=object)
        empty = edits.measure(is_blank)
        _mark(reasons, layout.any_per_row(empty), "empty_after_cleaning", details,
              _turn_details(layout, empty, "is empty once repaired and trimmed"))
        lost = _turns_matching(edits, not_ascii, "\ufffd")
        if options.replacement_character == "reject":
            _mark(reasons, layout.any_per_row(lost), "replacement_character", details,
                  _turn_details(layout, lost, "holds U+FFFD"))
        else:
            flagged["replacement_character"] = layout.any_per_row(lost)
        dropped, lengths = np.zeros(len(layout.turns), bool), layout.lengths
        if "polite_closing" in options.filters:
            dropped, trimmed = _polite_closings(layout, edits)
            lengths = layout.lengths - 2 * trimmed
            repaired["trimmed_polite_closing"] = trimmed > 0
            _mark(reasons, lengths // 2 == 0, "only_polite_closing", details,
                  _counted(trimmed, "closing exchanges trimmed", 0))
        if "self_disclaimer" in options.filters:
            dropped, lengths = self._disclaimers(layout, edits, dropped, lengths, reasons, details,
                                                 repaired, flagged)
        _mark_length_limits(reasons, details, layout, edits, dropped, lengths, options)
        kept = reasons == ""
        rejects = self.rejected(rows, kept, pa.array(reasons[~kept].tolist(), pa.string()),
                                details[~kept].tolist())
        repairs = Counter({kind: int((changed & kept).sum()) for kind, changed in repaired.items()})
        result = _kept_rows(rows, layout, edits, dropped, lengths, kept)
        for flag, rows_flagged in flagged.items():
            result = add_flag(result, rows_flagged[kept], flag)
        flags = Counter({flag: int((rows_flagged & kept).sum()) for flag, rows_flagged in flagged.items()})
        return StageResult(result, kept, rejects, +repairs, +calls, +flags)

    def _disclaimers(self, layout: TurnLayout, edits: TurnEdits, dropped: np.ndarray, lengths: np.ndarray,
                     reasons: np.ndarray, details: np.ndarray, repaired: dict, flagged: dict):
        """The assistant's disclaimers, each kind by its policy: the turns and lengths once the
        exchanges to drop are dropped."""
        assistant = ~layout.is_user & ~dropped
        looked_at = edits.measure(lambda texts: matches(texts, _ANY_DISCLAIMER)) & assistant
        said = _turns_matching(edits, looked_at)
        flagged["capability_disclaimer"] = layout.any_per_row(said(_CAPABILITY))
        dropping = np.zeros(len(layout.turns), bool)
        dropped_for = np.full(len(lengths), "", dtype=object)  # the first kind an exchange is dropped for
        for code, pattern, policy in (("self_disclaimer", _SELF_DISCLAIMER, self.options.disclaimers),
                                      ("ai_identity", _AI_IDENTITY, self.options.ai_identity)):
            turns = said(pattern)
            if policy == "drop_dialogue":
                _mark(reasons, layout.any_per_row(turns), code, details,
                      _turn_details(layout, turns, "disclaims"))
            elif policy == "flag":
                flagged[code] = layout.any_per_row(turns)
            elif policy == "drop_exchange":
                dropping |= turns
                dropped_for[layout.any_per_row(turns) & (dropped_for == "")] = code
        if not dropping.any():
            return dropped, lengths
        dropping[np.flatnonzero(dropping) - 1] = True  # the user turn each answers
        exchanges = np.bincount(layout.owner[dropping], minlength=len(lengths)) // 2
        for code in ("self_disclaimer", "ai_identity"):  # nothing left: rejected for what was said
            _mark(reasons, (exchanges == lengths // 2) & (dropped_for == code), code, details,
                  _counted(exchanges, "exchanges disclaim", "every one"))
        repaired["dropped_disclaimer_exchange"] = exchanges > 0
        return dropped | dropping, lengths - 2 * exchanges


def _turns_matching(edits: TurnEdits, among: np.ndarray, pattern: str | None = None):
    """Which turns of `among` match `pattern` (their text now; only they are read). Without a
    pattern: a function of a pattern, for several patterns over the same turns."""
    chosen = np.flatnonzero(among)
    texts = edits.texts(chosen) if len(chosen) else None

    def matching(pattern: str) -> np.ndarray:
        found = np.zeros(len(among), bool)
        if texts is not None:
            found[chosen] = matches(texts, pattern)
        return found
    return matching(pattern) if pattern is not None else matching


def repair_texts(edits: TurnEdits, candidates: np.ndarray | None = None) -> np.ndarray:
    """ftfy on the turns that can need it (`candidates`, else found here; on helper processes
    when there are many: `offload`); which turns it changed."""
    candidates = may_need_repair(edits.original) if candidates is None else candidates
    return edits.apply(candidates,
                       lambda texts: map_texts(fix_turn_text, texts.to_pylist(), _FTFY_SECONDS_PER_CHAR))


def may_need_repair(turns: pa.Array) -> np.ndarray:
    """Turns with anything but printable ASCII, tab and newline: the only ones ftfy can change
    (of which `ftfy_can_change` picks the ones it can), and the only ones cp1256 mojibake or
    U+FFFD can be in."""
    offsets, data = string_buffers(turns)
    return _unprintable(data, offsets)


@numba.njit(nogil=True, cache=True)
def _unprintable(data, offsets):  # pragma: no cover (compiled; tested through may_need_repair)
    """Which texts hold a control byte but tab and newline, DEL, or a non-ASCII byte. Arithmetic,
    not a table or an early exit, so that the compiler makes it a vector loop (~10x faster)."""
    found = np.zeros(len(offsets) - 1, np.bool_)
    for text in range(len(offsets) - 1):
        seen = 0
        turn = data[offsets[text]:offsets[text + 1]]  # indices from 0: no negative-index test
        for position in range(len(turn)):
            byte = turn[position]
            seen |= (byte >= 127) | ((byte < 32) & (byte != 9) & (byte != 10))
        found[text] = seen
    return found


def _fix_case(layout: TurnLayout, edits: TurnEdits, found: np.ndarray) -> np.ndarray:
    """Sentence case on the turns `casing.sentence_starts` found; a turn with a candidate after
    `!` or `?` knows its dialogue's names (`bang_names`), read only for those dialogues."""
    candidates = (found & casing.MAY_FIX) > 0
    owners = layout.owner[candidates]
    after_bang = (found & casing.NEEDS_NAMES) > 0
    names = {}
    if after_bang.any():
        in_named = np.isin(layout.owner, layout.owner[after_bang])  # every turn of those dialogues
        names = casing.bang_names_by_dialogue(edits.texts(np.flatnonzero(in_named)), layout.owner[in_named])
    return edits.apply(candidates, lambda texts: [
        casing.fix_sentence_case(text, names.get(owner, frozenset()))
        for text, owner in zip(texts.to_pylist(), owners.tolist())])


def _kept_rows(rows: pa.Table, layout: TurnLayout, edits: TurnEdits, dropped: np.ndarray,
               lengths: np.ndarray, kept: np.ndarray) -> pa.Table:
    """The kept rows with their turns as cleaned: the turns copied once, if any changed."""
    if not edits.text and not dropped.any():
        return rows_where(rows, kept)  # the text as it came: slices of the block, no copy
    data = lists_of(lengths[kept], edits.result(~dropped & kept[layout.owner]))
    index = rows.schema.get_field_index("data")
    others = rows.remove_column(index).filter(pa.array(kept))  # the small columns
    return others.add_column(index, rows.schema.field(index), data)


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


def _polite_closings(layout: TurnLayout, edits: TurnEdits, rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Closing thanks/welcome exchanges at the end of each dialogue (up to `rounds` of them):
    which turns they are, and how many exchanges each row ends with."""
    lengths = layout.lengths.copy()
    starts = np.cumsum(layout.lengths) - layout.lengths
    dropped = np.zeros(len(layout.turns), bool)
    trimmed = np.zeros(len(lengths), np.int64)
    for _ in range(rounds):
        # Only the last exchange of each dialogue (once the ones before are dropped) is looked at.
        paired = np.flatnonzero(lengths >= 2)
        last_assistant = starts[paired] + lengths[paired] - 1
        user = edits.texts(last_assistant - 1)
        thanked = np.flatnonzero(flags(pc.less_equal(pc.utf8_length(user), _POLITE_MAX_CHARS))
                                 & flags(pc.match_substring_regex(user, _THANKS)))
        # The answers (the long turns) are read only after a thanks.
        welcomed = flags(pc.match_substring_regex(edits.texts(last_assistant[thanked]), _WELCOME))
        polite = np.zeros(len(lengths), bool)
        polite[paired[thanked[welcomed]]] = True
        if not polite.any():
            break
        trimmed += polite
        ends = last_assistant[polite[paired]]
        dropped[ends] = dropped[ends - 1] = True
        lengths -= 2 * polite
    return dropped, trimmed


def _mark_length_limits(reasons: np.ndarray, details: np.ndarray, layout: TurnLayout,
                        edits: TurnEdits, dropped: np.ndarray, lengths: np.ndarray,
                        options: CleanOptions) -> None:
    """Limits on the dialogues as they will be kept: `lengths` turns, without the `dropped`."""
    exchanges = lengths // 2
    limits = [("too_few_exchanges", options.min_exchanges, exchanges, np.less, "exchanges"),
              ("too_many_exchanges", options.max_exchanges, exchanges, np.greater, "exchanges")]
    if options.min_chars is not None or options.max_chars is not None:
        characters = edits.measure(lambda texts: pc.utf8_length(texts).to_numpy(zero_copy_only=False))
        chars = np.bincount(layout.owner[~dropped], characters[~dropped], minlength=len(lengths))
        limits += [("too_short", options.min_chars, chars, np.less, "characters"),
                   ("too_long", options.max_chars, chars, np.greater, "characters")]
    for code, limit, values, beyond, unit in limits:
        if limit is not None:
            _mark(reasons, beyond(values, limit), code, details, _counted(values, unit, limit))
