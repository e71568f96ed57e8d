"""Every reason a line is rejected and every repair made to a kept row, with what it means:
the codes are stable (reports, rejects files and cards use them), the texts explain them.
One registry, below every stage, so the report, the card and the CLI describe codes without
importing the stages."""

READ_REASONS = {
    "blank_line": "the line is empty or only white space",
    "invalid_utf8": "the line's bytes are not UTF-8",
    "invalid_json": "the line is not valid JSON",
    "truncated_line": "the file's last line ends without a newline and is not valid JSON",
    "json_too_deep": "the JSON nests too deeply to parse",
    "not_an_object": "the line is JSON but not an object",
    "bad_id": "`id` is a list, object or boolean",
    "data_not_list": "`data` is not a list",
    "turn_not_string": "a turn in `data` is not a string (null, a number, a list, ...)",
    "lone_surrogate": "a string holds a lone UTF-16 surrogate escape, which UTF-8 cannot encode",
}

READ_REPAIRS = {"id_number_to_string": "a numeric `id` was turned into its decimal string"}

VALIDATE_REASONS = {
    "missing_id": "`id` is absent, null or empty",
    "data_missing": "`data` is absent or null",
    "turn_not_string": READ_REASONS["turn_not_string"],
    "odd_turns": "`data` ends with a user turn that has no answer (odd_turns='reject')",
    "no_exchange": "fewer than one user + assistant exchange",
    "empty_turn": "a turn shows nothing: empty, white space or invisible characters only",
}

VALIDATE_REPAIRS = {
    "trimmed_dangling_turn": "a dangling last user turn was dropped (odd_turns='trim')",
}

CLEAN_REASONS = {
    "empty_after_cleaning": "a turn is empty once repaired and trimmed",
    "self_disclaimer": "an assistant turn disclaims being an AI with no emotions or opinions",
    "only_polite_closing": "nothing is left once the polite closing exchanges are trimmed",
    "too_few_exchanges": "fewer exchanges than --min-exchanges",
    "too_many_exchanges": "more exchanges than --max-exchanges",
    "too_short": "fewer characters than --min-chars",
    "too_long": "more characters than --max-chars",
}

CLEAN_REPAIRS = {
    "text_repaired": "ftfy changed at least one turn (mojibake, control characters, ...)",
    "trimmed_polite_closing": "closing 'Thank you' / 'You're welcome' exchanges were trimmed",
    "fixed_sentence_case": "a sentence start was capitalised",
}

DEDUP_REASONS = {
    "exact_duplicate": "equal to an earlier dialogue after normalisation (NFKC, case, punctuation)",
    "near_duplicate": "nearly equal to an earlier dialogue (MinHash LSH)",
    "duplicate_opener": "its first user turn equals an earlier dialogue's",
}

DECONTAMINATE_REASONS = {"benchmark_overlap": "a user turn contains a benchmark prompt"}

REASONS = {**READ_REASONS, **VALIDATE_REASONS, **CLEAN_REASONS, **DEDUP_REASONS,
           **DECONTAMINATE_REASONS}
REPAIR_KINDS = {**READ_REPAIRS, **VALIDATE_REPAIRS, **CLEAN_REPAIRS}


def describe_reason(code: str) -> str:
    if code.startswith("lang_"):
        return f"detected language {code[5:]!r}, not one of the languages kept"
    return REASONS.get(code, "")
