"""Text repair equals ftfy exactly; filters touch what they should and nothing else."""

import ftfy
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ultrachat_dataset.release.read import ROW_SCHEMA
from ultrachat_dataset.stages.clean import (
    FTFY_CONFIG,
    Clean,
    CleanOptions,
    fix_sentence_case,
    fix_turn_text,
    may_need_repair,
    repair_texts,
)
from ultrachat_dataset.turns import TurnEdits, is_blank, needs_trim, rows_where


def clean(rows, options):
    return Clean(options).apply(rows)

TRICKY = ["\r\n", "\r", "&amp;", "&lt;b&gt;", "\x1b[31m", "\x1b[0m", "\x00", "\x07", "\x7f",
          "\x85", "\u2028", "\ufeff", "\ud7ff", "ﬁ", "Ａ", "’", "â€™", "Ã©", "Â ", "\u00a0", "é",
          "e\u0301", "\t", "\n", "\x0c", "\x0b", "🙂", "ð\x9f\x99\x82", "\ufffd", "?"]
texts = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=8),
                           st.text(alphabet=st.characters(max_codepoint=127), max_size=12)),
                 max_size=12).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8))
def test_fast_path_repair_equals_ftfy_on_arbitrary_text(samples):
    samples = [s.encode("utf-8", "replace").decode("utf-8") for s in samples]  # Arrow holds UTF-8
    edits = TurnEdits(pa.array(samples, pa.string()))
    changed = repair_texts(edits)
    expected = [ftfy.fix_text(s, FTFY_CONFIG) for s in samples]
    assert edits.result().to_pylist() == expected
    assert changed.tolist() == [a != b for a, b in zip(samples, expected)]


def test_the_chosen_ftfy_configuration():
    assert fix_turn_text("It\u00e2\u20ac\u2122s caf\u00c3\u00a9") == "It\u2019s café"  # mojibake
    assert fix_turn_text("a &amp; b") == "a &amp; b"  # entities kept: code quotes them
    assert fix_turn_text("“quoted”") == "“quoted”"  # curly quotes kept
    assert fix_turn_text("全角，标点") == "全角，标点"  # full-width CJK punctuation kept
    assert fix_turn_text("red\x1b[31m text\x07") == "red text"


def rows(*dialogues):
    return pa.Table.from_pylist(
        [{"id": str(i), "data": d, "sector": "world", "source": "f.json", "line": i + 1}
         for i, d in enumerate(dialogues)], schema=ROW_SCHEMA)


def test_turn_ends_are_trimmed_and_a_turn_empty_after_repair_is_rejected():
    result = clean(rows(["  q  ", "\ta\n"], ["q", "\x1b[0m\x07"]), CleanOptions())
    assert result.rows.column("data").to_pylist() == [["q", "a"]]
    assert result.rejects.column("reason").to_pylist() == ["empty_after_cleaning"]


@pytest.mark.parametrize("assistant", [
    "I do not have personal opinions, but here are facts.",
    "Well, I don't have emotions like humans do.",
    "I do not have a subjective experience of taste, but cooks say it is sweet.",
    "I don't have childhood memories, yet many people describe the smell of rain.",
    "I cannot feel emotions the way a person does.",
])
def test_an_assistant_saying_it_has_no_emotions_or_opinions_drops_the_dialogue_by_default(assistant):
    result = clean(rows(["q", assistant], ["q", "A plain answer about AI language models."]),
                   CleanOptions())
    assert result.rejects.column("reason").to_pylist() == ["self_disclaimer"]
    assert result.rows.column("id").to_pylist() == ["1"]


DISCLAIMING = [["Which tea is best?", "As an AI language model, I cannot taste tea. Green tea is popular."],
               ["Where can I buy it now?", "I do not have access to real-time stock data. Try a local shop."],
               ["Do you like it?", "I don't have opinions, but many people enjoy it."]]


def test_disclaimers_by_default_the_ones_ultrachat_200k_dropped_are_dropped_the_others_flagged():
    result = clean(rows(*DISCLAIMING), CleanOptions())
    assert result.rejects.column("reason").to_pylist() == ["self_disclaimer"]
    assert result.rows.column("flags").to_pylist() == [["ai_identity"], ["capability_disclaimer"]]
    assert result.flagged == {"ai_identity": 1, "capability_disclaimer": 1}


HELLO = ["Hello?", "Hi there."]
MIXED = DISCLAIMING[0] + DISCLAIMING[2] + HELLO  # an identity, a no-opinions and a plain exchange
ONLY_DISCLAIMING = DISCLAIMING[0] + DISCLAIMING[2]


def policies(policy):
    return clean(rows(MIXED, ONLY_DISCLAIMING), CleanOptions(disclaimers=policy, ai_identity=policy))


def test_disclaimers_drop_dialogue():
    result = policies("drop_dialogue")
    assert result.rows.num_rows == 0
    assert result.rejects.column("reason").to_pylist() == ["self_disclaimer", "self_disclaimer"]
    assert result.rejects.column("detail").to_pylist() == ["turn 3 disclaims", "turn 3 disclaims"]


def test_disclaimers_drop_exchange():
    result = policies("drop_exchange")
    assert result.rows.column("data").to_pylist() == [HELLO]
    assert result.repairs["dropped_disclaimer_exchange"] == 1
    assert result.rejects.column("reason").to_pylist() == ["self_disclaimer"]  # nothing left
    assert result.rejects.column("detail").to_pylist() == ["2 exchanges disclaim (limit every one)"]


@pytest.mark.parametrize("policy, flags", [("flag", ["self_disclaimer", "ai_identity"]), ("keep", [])])
def test_disclaimers_flag_or_keep(policy, flags):
    result = policies(policy)
    assert result.rejects.num_rows == 0
    assert result.rows.column("data").to_pylist() == [MIXED, ONLY_DISCLAIMING]
    assert result.rows.column("flags").to_pylist() == [flags, flags] if flags else \
        "flags" not in result.rows.column_names


def test_a_user_disclaimer_is_not_the_assistant_disclaiming():
    result = clean(rows(["As an AI language model, what do you think?", "Here is what I think."]),
                   CleanOptions())
    assert result.rows.num_rows == 1


def test_polite_closings_are_trimmed_but_not_a_thanks_with_a_new_request():
    result = clean(rows(
        ["q", "a", "Thank you so much!", "You're welcome! Anything else?"],
        ["q", "a", "Thanks! Can you also explain how tides work in more detail, with examples "
                   "from the Atlantic coast and the Mediterranean, and why they differ so much?",
         "You're welcome. Tides..."],
        ["Thanks!", "You're welcome!"]), CleanOptions())
    assert result.rows.column("data").to_pylist() == [
        ["q", "a"],
        ["q", "a", "Thanks! Can you also explain how tides work in more detail, with examples "
                   "from the Atlantic coast and the Mediterranean, and why they differ so much?",
         "You're welcome. Tides..."]]
    assert result.repairs["trimmed_polite_closing"] == 1
    assert result.rejects.column("reason").to_pylist() == ["only_polite_closing"]


@pytest.mark.parametrize("text, expected", [
    ("Hello. how are you?", "Hello. How are you?"),
    ("Great! thanks. bye.", "Great! Thanks. Bye."),
    ("Use e.g. this one.", "Use e.g. this one."),
    ("Call `os.path. join` here. then", "Call `os.path. join` here. Then"),
    ("```\nx = 1. y\n```\nok. next", "```\nx = 1. y\n```\nok. Next"),
    ("See https://example.com/a. then go", "See https://example.com/a. then go"),
    ("Import it. numpy.array works", "Import it. numpy.array works"),
    ("Version 2. then", "Version 2. then"),
    ("The file config.py. run it", "The file config.py. run it"),
    ("Name it my_var. foo_bar is taken", "Name it my_var. foo_bar is taken"),
])
def test_sentence_case_fix_never_touches_code_urls_or_identifiers(text, expected):
    assert fix_sentence_case(text) == expected


@pytest.mark.parametrize("text, expected", [
    # Sentence starts that are certain: fixed.
    ("That was fun! can we go again?", "That was fun! Can we go again?"),
    ("Did it work? it did.", "Did it work? It did."),
    ("Great! thanks. bye.", "Great! Thanks. Bye."),
    # A name or title ending in ! or ?: never.
    ("I collect the Funko Zap! figures from that line.", None),
    ("Visit the ZOOM! website today.", None),
    ("She won on Quizzo! last year.", None),
    # Abbreviations: units, months, streets, titles, states, departments.
    ("Add 2 tbsp. sugar and 1 tsp. salt.", None),
    ("Mix in 3 oz. of cheese.", None),
    ("It runs from Sept. through Nov. each year.", None),
    ("Turn left at 9th Ave. and walk on.", None),
    ("Ask the Dept. of Parks.", None),
    ("The new Mass. law applies.", None),
    ("Talk to Prof. reyes first.", None),
    # Quotations, verse and lists, pasted material: quoted as written.
    ('He wrote "stop! the road is closed" on the sign. it stayed.',
     'He wrote "stop! the road is closed" on the sign. It stayed.'),
    ("The note said “hurry. the bus leaves” and we ran.", None),
    ("Rain on the hill. the wind\nwalks on. the grass bends\nand sleeps.", None),
    ("Given the text: he left early. the door was open.\nWhat happened?", None),
    ("Here is a piece of text: sales rose. the board met.\n\nSummarize it.", None),
])
def test_sentence_case_fixes_only_sentence_starts_it_is_sure_of(text, expected):
    assert fix_sentence_case(text) == (text if expected is None else expected)


def test_a_name_with_a_bang_anywhere_in_the_dialogue_is_a_name_everywhere():
    from ultrachat_dataset.stages.casing import bang_names
    dialogue = ["Tell me about the series Whirl! from that band.", "Whirl! is a set of songs.",
                "where can I get whirl! tickets? thanks"]
    names = bang_names(dialogue)
    assert names == {"whirl"}
    assert fix_sentence_case(dialogue[1], names) == dialogue[1]
    assert fix_sentence_case(dialogue[2], names) == "where can I get whirl! tickets? Thanks"
    result = clean(rows(dialogue + ["You can buy them online."]), CleanOptions())
    assert result.rows.column("data").to_pylist()[0][2] == "where can I get whirl! tickets? Thanks"


# Sentence-like text at its hardest for the compiled pre-test: abbreviations in any case, names
# with a bang, marks after one letter or after a dot, spaces of several kinds, code and quotes.
CASING_PIECES = ["tsp.", "Tsp.", "TSP.", "e.g.", "etc.", "approx.", "Dr.", "Yahoo!", "BRAVO!", "Pop!",
                 "wow!", "why?", "ok.", "a.", "x1.", "café.", "naïve.", "the", "next", "Then", " ", "  ",
                 "\u00a0", "\n", "\n\n", "`x.", "` ", '"', "“", "”", "```", "http://a.b/c.", "done.",
                 "fine?", "i.e.", "no.", "No.", "mass.", "Mass.", "…", "x", "ab"]
CASING_TEXT = st.lists(st.sampled_from(CASING_PIECES), max_size=25).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(CASING_TEXT, st.lists(st.sampled_from(CASING_PIECES), max_size=25).map(" ".join)),
                min_size=1, max_size=4),
       st.frozensets(st.sampled_from(["yahoo", "pop", "wow", "why", "bravo", "fine", "next"])))
def test_a_turn_the_compiled_pretest_passes_over_is_one_sentence_case_leaves_alone(texts, names):
    """`sentence_starts` picks the turns `fix_sentence_case` reads: one it passes over comes
    back unchanged, and one without NEEDS_NAMES comes back the same whatever the names."""
    from ultrachat_dataset.stages.casing import MAY_FIX, NEEDS_NAMES, sentence_starts
    found = sentence_starts(pa.array(texts, pa.string()))
    for text, kind in zip(texts, found.tolist()):
        fixed = fix_sentence_case(text, names)
        if not kind & MAY_FIX:
            assert fixed == text, text
        if not kind & NEEDS_NAMES:
            assert fixed == fix_sentence_case(text), text
    # and it passes over the usual: abbreviations, initials, words after a dot
    assert sentence_starts(pa.array(["Add 1 Tsp. salt, 2 oz. butter.", "Use e.g. this.", "Run node.js. then",
                                     "Visit ZOOM! now", "Hi. there", "Wow! nice", "Hi.  there",
                                     "Hi. zebras"])).tolist() == [
        0, 0, 0, 0, MAY_FIX, MAY_FIX | NEEDS_NAMES, MAY_FIX, MAY_FIX]


# Where code, URLs, quotations and pasted material begin and end: their literals in any case,
# the characters Unicode's case folding takes to ASCII letters (Kelvin sign, long s, dotted I).
PROTECTED_PIECES = ["```", "`", "://", "http", "www.", "www", '"', "“", "”", "x", "a b", " ", "\n",
                    "\n\n", ":", ".", "Given the text", "GIVEN THE", "here is a piece of text",
                    "Answer according to", "read the passage below", "based on the passage above",
                    "Poem:", "poem:\n", "text:\n", "article:", "materia\u017f:\n", "\u212aey",
                    "g\u0130ven the text", "é"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PROTECTED_PIECES), max_size=20).map("".join))
@example("A Poem:\nroses are red").via("each word of the pre-test")
@example("Read the materia\u017f:\nit").via("case folding beyond ASCII")
@example("G\u0130VEN THE TEXT below").via("case folding beyond ASCII")
@example("see www.example.org or x://y.").via("each URL literal")
def test_the_cheap_tests_before_the_protection_regexes_change_no_answer(text):
    """A text is searched only with the parts of the protection pattern whose literals it holds,
    and tested for pasted material only if it holds one of the words: the answers are those of
    the whole patterns."""
    import re

    from ultrachat_dataset.stages.casing import (
        _PASTED_MATERIAL,
        _PROTECTED_PARTS,
        pastes_material,
        protected_spans,
    )
    whole = re.compile("|".join(pattern for _, pattern in _PROTECTED_PARTS), re.S)
    assert protected_spans(text) == [match.span() for match in whole.finditer(text)]
    assert pastes_material(text) == (_PASTED_MATERIAL.search(text) is not None)


def test_filters_off_leave_text_alone():
    dialogue = ["Hello. how are you?", "As an AI language model, fine.", "Thanks!", "You're welcome!"]
    result = clean(rows(dialogue), CleanOptions(filters=()))
    assert result.rows.column("data").to_pylist() == [dialogue]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1f\x00\x85\xa0\u2028\u3000é~")),
                        max_size=6), max_size=10))
def test_the_turns_found_to_need_trimming_are_those_trimming_changes(samples):
    turns = pa.array(samples, pa.string())
    trimmed = pc.utf8_trim_whitespace(turns).to_pylist()
    assert needs_trim(turns).tolist() == [a != b for a, b in zip(samples, trimmed)]
    assert is_blank(turns).tolist() == [not s.strip() for s in samples]


@settings(max_examples=300, deadline=None)  # the first call compiles the kernel
@given(st.lists(st.one_of(st.none(), st.text(max_size=12),
                          st.text(alphabet=st.characters(max_codepoint=130), max_size=12)), max_size=10))
def test_the_compiled_repair_candidate_scan_equals_its_rule(samples):
    turns = pa.array(samples, pa.string())
    # Repair candidates: anything but printable ASCII, tab and newline.
    assert may_need_repair(turns).tolist() == [
        s is not None and any(not (32 <= ord(c) < 127 or c in "\t\n") for c in s) for s in samples]


FIXES = {"append": lambda text: text + "!", "upper": str.upper, "none": lambda text: text}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=30), st.data())
def test_turn_edits_read_and_give_what_applying_each_step_to_a_list_gives(turns, data):
    """Steps that change some turns, read back at every step, and the result kept in one copy,
    against the plain model: a list of texts changed in place."""
    edits, model = TurnEdits(pa.array(turns, pa.string())), list(turns)
    mask = st.lists(st.booleans(), min_size=len(turns), max_size=len(turns)).map(np.array)
    for name in data.draw(st.lists(st.sampled_from(sorted(FIXES)), max_size=4)):
        candidates = data.draw(mask)
        fix = FIXES[name]
        changed = edits.apply(candidates, lambda texts, fix=fix: [fix(text) for text in texts.to_pylist()])
        expected = [candidates[i] and fix(model[i]) != model[i] for i in range(len(model))]
        model = [fix(text) if pick else text for text, pick in zip(model, candidates)]
        assert changed.tolist() == expected
        picked = np.flatnonzero(data.draw(mask))
        assert edits.texts(picked).to_pylist() == [model[i] for i in picked]
        assert edits.measure(lambda texts: np.array([len(t) for t in texts.to_pylist()])).tolist() == [
            len(text) for text in model]
    keep = data.draw(mask)
    assert edits.result(keep).to_pylist() == [text for text, kept in zip(model, keep) if kept]
    assert edits.result().to_pylist() == model


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=400), st.integers(1, 4))
def test_rows_where_gives_the_rows_a_filter_gives_sharing_text_only_when_most_stay(keep, chunks):
    """The rows a filter keeps, in order. Slices of the table (its text not copied) only when
    most rows stay; a small pick is a copy, which does not hold the table's text alive."""
    size = len(keep)
    cuts = sorted({0, size, *(size * k // chunks for k in range(chunks))})
    table = pa.concat_tables([pa.table({"n": list(range(a, b)), "text": [f"row {i}" for i in range(a, b)]})
                              for a, b in zip(cuts, cuts[1:])]) if size else pa.table({"n": [], "text": []})
    mask = np.array(keep, bool)
    picked = rows_where(table, mask)
    assert picked.to_pylist() == table.filter(pa.array(mask, pa.bool_())).to_pylist()
    source = {chunk.buffers()[2].address for chunk in table.column("text").chunks if len(chunk)}
    shared = {chunk.buffers()[2].address for chunk in picked.column("text").chunks if len(chunk)} & source
    if 2 * mask.sum() < size:
        assert not shared
    if size > 1 and mask.sum() == size - 1:  # one row dropped: the rest are slices, no copy
        assert shared


@pytest.mark.parametrize("text, expected", [
    ("The Vortex\u0622\u00ae keyboard", "The Vortex\u00ae keyboard"),  # C2 AE read as cp1256
    ("a caf\u0623\u00a9 near the park", "a caf\u00e9 near the park"),  # C3 A9
    ("heat to 180\u0622\u00b0C", "heat to 180\u00b0C"),
    ("\u0622\u00a9 2020 the authors", "\u00a9 2020 the authors"),
    ("\u0627\u0644\u0633\u0644\u0627\u0645 \u0622\u00ae", None),  # Arabic in the turn: left alone
    ("\u0622\u067e", None),  # an Arabic word, not a misread pair
    ("plain text", None),
])
def test_cp1256_mojibake_is_read_back_only_where_it_cannot_be_arabic(text, expected):
    from ultrachat_dataset.stages.mojibake import fix_cp1256
    assert fix_cp1256(text) == (text if expected is None else expected)


def test_the_clean_stage_repairs_cp1256_and_counts_it():
    result = clean(rows(["Is the Vortex\u0622\u00ae good?", "Yes."], ["q", "a"]), CleanOptions())
    assert result.rows.column("data").to_pylist()[0][0] == "Is the Vortex\u00ae good?"
    assert result.repairs["fixed_cp1256_mojibake"] == 1


def test_a_lost_character_is_flagged_or_rejected_never_guessed():
    dialogue = ["My mum\ufffds recipe?", "Bake it at 200\ufffdC."]
    flagged = clean(rows(dialogue, ["q", "a"]), CleanOptions())
    assert flagged.rows.column("data").to_pylist()[0] == dialogue  # no guess at what was lost
    assert flagged.rows.column("flags").to_pylist() == [["replacement_character"], []]
    assert flagged.flagged == {"replacement_character": 1}
    rejected = clean(rows(dialogue, ["q", "a"]), CleanOptions(replacement_character="reject"))
    assert rejected.rejects.column("reason").to_pylist() == ["replacement_character"]
    assert rejected.rejects.column("detail").to_pylist() == ["turn 0 holds U+FFFD"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(CASING_TEXT, st.text(max_size=12)), max_size=4), max_size=5))
def test_the_names_of_every_dialogue_at_once_are_each_dialogues_names(dialogues):
    from ultrachat_dataset.stages.casing import bang_names, bang_names_by_dialogue
    texts = [text for dialogue in dialogues for text in dialogue]
    owners = np.repeat(np.arange(len(dialogues)), [len(dialogue) for dialogue in dialogues])
    found = bang_names_by_dialogue(pa.array(texts, pa.string()), owners)
    assert found == {index: bang_names(dialogue) for index, dialogue in enumerate(dialogues) if dialogue}
