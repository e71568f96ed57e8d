"""The gate before ftfy: every turn it passes over, ftfy would have returned unchanged; and each
of its clauses is needed (a turn only that clause catches is one ftfy changes)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrachat_dataset.release import _synth_text
from ultrachat_dataset.release.synth import _sloppy_cp1252
from ultrachat_dataset.stages.clean import may_need_repair
from ultrachat_dataset.stages.ftfy_gate import CLAUSES, TRIGGERS, ftfy_can_change
from ultrachat_dataset.stages.textlibs import fix_turn_text


def gate(texts, clauses=None):
    turns = pa.array(texts, pa.string())
    return ftfy_can_change(turns, may_need_repair(turns), clauses)


# Our own phrases, in the forms real text and real defects take.
TYPOGRAPHY = [_synth_text.TYPOGRAPHY_SENTENCES[i].format(noun="lamp", noun2="desk", adj="bright",
                                                          verb="lights", verb_base="light", adv="often")
              for i in range(len(_synth_text.TYPOGRAPHY_SENTENCES))]
MOJIBAKE = [_sloppy_cp1252(text.encode("utf-8")) for text in TYPOGRAPHY]  # as synth makes it
CP1256 = [text.encode("utf-8").decode("cp1256", "replace") for text in _synth_text.LATIN1_SENTENCES]
ONLY_ONE_CLAUSE = {  # a turn only this clause catches, and ftfy changes
    "acted-on character": ["line one\r\nline two", "a \u2028 b", "the \ufb03ce", "x\x0by", "zero\u206awidth"],
    "mojibake pattern": ["caf\u00c3\u00a9 au lait", "it\u00e2\u20ac\u2122s here"],
    "not NFC": ["cafe\u0301 au lait", "A\u030a ring"],
}
HARD = [*TYPOGRAPHY, *MOJIBAKE, *CP1256, *(t for texts in ONLY_ONE_CLAUSE.values() for t in texts),
        "plain ASCII text", "\ufffd lost", "\u00a0nbsp", "\u00c2\u00a0", "\x1b[31mred\x1b[0m", "\u0085",
        "日本語のテキスト", "Привет", "\u00e9\u0301", "\ufeffbom", "tab\there", "form\x0cfeed"]


def test_every_turn_the_gate_passes_over_ftfy_leaves_as_it_is():
    passed = [text for text, changeable in zip(HARD, gate(HARD)) if not changeable]
    assert passed and all(fix_turn_text(text) == text for text in passed)
    fixed = [fix_turn_text(text) != text for text in MOJIBAKE]
    assert sum(fixed) >= len(MOJIBAKE) - 1 and all(gate(MOJIBAKE)[fixed])  # mojibake goes to ftfy


@pytest.mark.parametrize("clause", list(CLAUSES))
def test_each_clause_is_needed(clause):
    catches = ONLY_ONE_CLAUSE[clause]
    others = {name: expression for name, expression in CLAUSES.items() if name != clause}
    assert gate(catches).all() and not gate(catches, others).any()
    assert all(fix_turn_text(text) != text for text in catches)  # so without it, ftfy is skipped wrongly


TRICKY = ["\r", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1b[1m", "\x00", "\x7f", "\x9d",
          "\ufeff", "\u206b", "\ufff9", "\ufb01", "\u0133", "\u01c6", "\u0301", "\u030a", "\u00c3",
          "\u00a9", "\u00e2\u20ac", "\u2122", "\u00c2", "\u00a0", "\u00e9", "\u2019", "\u201c",
          "\u2013", "\u00b0", "\u00a3", "\u0622", "\ufffd", "\u00ef\u00bb\u00bf", " ", "a", "\n",
          "e\u0301", "A\u030a", "n\u0303", "\u212b"]  # the last four are not NFC
hard_text = st.lists(st.one_of(st.sampled_from(TRICKY + MOJIBAKE + CP1256), st.text(max_size=4),
                               st.characters(min_codepoint=0x80, max_codepoint=0x2FFF)),
                     min_size=1, max_size=12).map("".join)


@settings(max_examples=800, deadline=None)
@given(st.lists(hard_text, min_size=1, max_size=6))
def test_the_gate_never_skips_a_turn_ftfy_would_change(texts):
    texts = [text.encode("utf-8", "replace").decode("utf-8") for text in texts]  # Arrow holds UTF-8
    for text, changeable in zip(texts, gate(texts)):
        if not changeable:
            assert fix_turn_text(text) == text


def test_on_the_real_like_corpus_few_turns_reach_ftfy_and_the_repair_is_the_same(tmp_path):
    from ultrachat_dataset.rejects import Report
    from ultrachat_dataset.release.sources import local_inputs
    from ultrachat_dataset.release.synth import synthesize
    from ultrachat_dataset.stages.reading import read_validated
    synthesize(tmp_path, dialogues=300, seed=3, length_scale=0.4)
    blocks = read_validated(local_inputs("all", tmp_path), Report(), progress=False)
    turns = pa.concat_arrays([rows.column("data").combine_chunks().flatten() for rows in blocks])
    texts = turns.to_pylist()
    among = may_need_repair(turns)
    changeable = ftfy_can_change(turns, among)
    assert among.sum() > 10 * max(changeable.sum(), 1)  # typography is no reason to call ftfy
    gated = [fix_turn_text(text) if sent else text for text, sent in zip(texts, changeable)]
    assert gated == [fix_turn_text(text) for text in texts]
    assert np.array_equal(changeable, changeable & among)


REAL_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "real-sample" / "ultrachat_release_230407.json"


@pytest.mark.parametrize("corpus", ["synthetic", "real sample"])
def test_the_gates_change_no_byte_of_the_output_and_spare_almost_every_call(corpus, tmp_path, monkeypatch):
    """ftfy only where it can change a turn, langdetect only where the vector signals are in
    doubt: the same bytes as calling both wherever the plain ASCII test would."""
    import json

    from conftest import file_digests
    from ultrachat_dataset.prepare.pipeline import prepare
    from ultrachat_dataset.release.sources import local_inputs
    from ultrachat_dataset.release.synth import synthesize
    from ultrachat_dataset.stages import clean, langid
    data = tmp_path / "release"
    if corpus == "real sample":
        if not REAL_SAMPLE.is_file():
            pytest.skip(f"no real sample at {REAL_SAMPLE} (../shared/real-sample beside the checkout)")
        data.mkdir()
        (data / "ultrachat_release_230407.json").symlink_to(REAL_SAMPLE)
    else:
        synthesize(data, dialogues=400, seed=5, length_scale=0.5, defect_rates={"mojibake": 0.03})
    config = "world" if corpus == "real sample" else "all"
    prepare(local_inputs(config, data), tmp_path / "gated", config, progress=False)
    monkeypatch.setattr(clean, "ftfy_can_change", lambda turns, among, clauses=None, held=None: among)
    monkeypatch.setattr(clean._SCREEN, "held",  # and the character screen says every turn may hold all
                        lambda turns, among: {name: among for name in clean._SCREEN.bits})
    monkeypatch.setattr(langid, "MIN_LIST_ENGLISH_SHARE", 2.0)  # the list rule off
    monkeypatch.setattr(langid, "_by_script_or_words", lambda turns, chosen: [""] * int(chosen.sum()))
    prepare(local_inputs(config, data), tmp_path / "ungated", config, progress=False)
    digests = [file_digests(tmp_path / name) for name in ("gated", "ungated")]
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("gated", "ungated")]
    assert [d.pop("report.json") and d for d in digests][0] == digests[1]  # data, rejects, card, ...
    gated, ungated = (report.pop("stages") for report in reports)
    assert reports[0] == reports[1]  # every count but the calls (and seconds) of each stage
    for name in gated:
        assert {**gated[name], "calls": {}, "seconds": 0} == {**ungated[name], "calls": {}, "seconds": 0}
    assert gated["clean"]["calls"].get("ftfy", 0) < ungated["clean"]["calls"]["ftfy"]
    assert gated["langid"]["calls"].get("langdetect", 0) <= ungated["langid"]["calls"].get("langdetect", 0)
    if corpus == "real sample":  # fewer than 1% of turns to ftfy, of dialogues to langdetect
        turns = sum(len(json.loads(line)["data"]) for line in REAL_SAMPLE.read_text().splitlines())
        assert gated["clean"]["calls"].get("ftfy", 0) < 0.01 * turns
        assert gated["langid"]["calls"].get("langdetect", 0) < 0.01 * gated["langid"]["in"]
        assert gated["langid"]["calls"]["langdetect"] < ungated["langid"]["calls"]["langdetect"]


@settings(max_examples=800, deadline=None)
@given(st.lists(hard_text, min_size=1, max_size=6))
def test_the_character_screen_passes_over_no_turn_a_clause_holds_for(texts):
    """Each clause is tried only on the turns the one pass over the characters says hold one of
    its triggers: a turn any clause (or a cp1256 candidate) holds for is always among them, and
    the pass finds what a plain reading of the characters finds."""
    from ultrachat_dataset.stages import clean, mojibake
    from ultrachat_dataset.stages.ftfy_gate import TRIGGERS
    from ultrachat_dataset.turns import matches
    texts = [text.encode("utf-8", "replace").decode("utf-8") for text in texts]  # Arrow holds UTF-8
    turns = pa.array(texts, pa.string())
    among = may_need_repair(turns)
    held = clean._SCREEN.held(turns, among)
    sets = {**TRIGGERS, "cp1256 lead": mojibake.LEAD_POINTS}
    for name, points in sets.items():
        assert held[name].tolist() == [bool(chosen) and any(ord(c) in points or ord(c) > 0xFFFF for c in text)
                                       for text, chosen in zip(texts, among)], name
    import polars as pl
    for name, holds in CLAUSES.items():
        assert not (holds(pl.Series(texts, dtype=pl.String)) & among & ~held[name]).any(), name
    assert not (matches(turns, mojibake.CANDIDATE) & ~held["cp1256 lead"]).any()


TRIGGERS_NFC = TRIGGERS["not NFC"]
NFC_SAFE = [chr(point) for point in range(0x20, 0x3000) if point not in TRIGGERS_NFC]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(NFC_SAFE + list("eaAoOnuU \u00e9\u00c5\u00f1")), max_size=40).map("".join))
def test_a_text_without_a_character_that_can_break_nfc_is_nfc(text):
    import unicodedata
    assert unicodedata.is_normalized("NFC", text)


def test_every_pair_of_characters_nfc_composes_holds_one_the_screen_looks_for():
    import unicodedata
    for point in range(0x10000):  # each composite's pairs: its first two, and all but its last with it
        decomposed = unicodedata.normalize("NFD", chr(point))  # (Hangul syllables: L V, LV T)
        if len(decomposed) < 2:
            continue
        for pair in {decomposed[:2], unicodedata.normalize("NFC", decomposed[:-1]) + decomposed[-1]}:
            if not unicodedata.is_normalized("NFC", pair):
                assert {ord(char) for char in pair} & TRIGGERS_NFC, (hex(point), pair)


def test_the_nfc_screen_needs_no_table_beyond_the_first_plane():
    """A character beyond U+FFFF counts as in every set; so no character of the first plane may
    compose with one before it only by a composition found beyond it."""
    import unicodedata
    for point in range(0x10000, 0x110000):
        mapping = unicodedata.decomposition(chr(point)).split()
        if len(mapping) == 2 and not mapping[0].startswith("<"):
            assert int(mapping[1], 16) > 0xFFFF or int(mapping[1], 16) in TRIGGERS_NFC, hex(point)


def test_a_pattern_whose_alternative_names_no_character_has_no_screen():
    import re

    from ultrachat_dataset.stages.required_chars import required_characters
    assert required_characters("é[ab]|[xy]+z") == {ord("é")} | {ord("z")}
    with pytest.raises(ValueError, match="requires no named character"):
        required_characters(r"é|\w+")
    with pytest.raises(ValueError, match="case-insensitive"):
        required_characters("é", re.IGNORECASE)


def test_ftfy_runs_with_its_screened_passes():
    import ftfy

    from ultrachat_dataset.stages.textlibs import SCREENED_FTFY, SCREENS_INSTALLED
    assert SCREENS_INSTALLED, "this ftfy calls its passes from elsewhere: see textlibs._install_screens"
    assert ftfy.is_bad is SCREENED_FTFY["is_bad"][1]
    fixers = {name: pair for name, pair in SCREENED_FTFY.items() if name != "is_bad"}
    assert all(ftfy.FIXERS[name] is screened for name, (_, screened) in fixers.items())


@pytest.mark.parametrize("name", ["fix_latin_ligatures", "remove_control_chars"])
def test_a_screened_fixer_answers_as_ftfys_own_on_every_character(name):
    import sys

    from ultrachat_dataset.stages.textlibs import SCREENED_FTFY
    own, screened = SCREENED_FTFY[name]
    differ = [point for point in range(sys.maxunicode + 1) if own(chr(point)) != screened(chr(point))]
    assert differ == []


@settings(max_examples=800, deadline=None)
@given(st.lists(hard_text, min_size=1, max_size=4).map("\n".join))
def test_ftfy_with_screened_passes_answers_as_ftfy_without_them(text):
    from unittest import mock

    import ftfy

    from ultrachat_dataset.stages.textlibs import SCREENED_FTFY
    own, screened = SCREENED_FTFY["is_bad"]
    assert screened(text) == own(text)
    fixed = fix_turn_text(text)
    with mock.patch.object(ftfy, "is_bad", own), mock.patch.dict(
            ftfy.FIXERS, {name: pair[0] for name, pair in SCREENED_FTFY.items() if name != "is_bad"}):
        assert fix_turn_text(text) == fixed


def test_a_pattern_width_is_read_off_the_pattern():
    from ultrachat_dataset.stages.required_chars import widest_match
    assert widest_match("ab[cd]e?") == 4 and widest_match("a|bcd") == 3 and widest_match("ab+") is None
