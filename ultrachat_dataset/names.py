"""The names the command line offers (configs, formats, sources, filters, dedup modes, defects),
kept apart from the code that acts on them so that `ultrachat --help` imports nothing heavy. The
modules that own each name re-export it from here."""

SECTORS = ("world", "writing", "assistance")
CONFIGS = ("all", *SECTORS)
FORMATS = ("messages", "sharegpt", "raw")
SOURCES = ("auto", "tsinghua", "hub", "local")
ODD_TURN_POLICIES = ("trim", "reject")

FILTERS = {
    "self_disclaimer": "reject dialogues whose assistant says 'As an AI language model' or "
                       "'I do not have emotions / personal experiences / opinions' (as ultrachat_200k)",
    "polite_closing": "trim closing 'Thank you' / 'You're welcome' exchanges from the end",
    "casing": "capitalise sentence starts after . ! ? ('Hello. how are you?'), never in code or URLs",
}
DEFAULT_FILTERS = tuple(FILTERS)

DEDUP_MODES = {
    "exact": "drop dialogues equal to an earlier one after normalisation (case, space, punctuation)",
    "near": "drop dialogues whose opening ~2000 characters nearly equal an earlier one (MinHash LSH)",
    "opener": "drop dialogues whose first user turn equals an earlier one's (normalised)",
}
DEFAULT_DEDUP = ("exact", "near")
NEAR_CHARS = 2000  # characters of each dialogue that near-dedup compares
TEST_FRACTION = 0.01  # share of prompts in the test split

# Defects a synthetic line can carry. Reader and validation defects first, then content defects
# that the cleaning stages catch. `extra_field` and `numeric_id` are harmless: the row must be kept.
DEFECTS = (
    "invalid_json", "blank_line", "invalid_utf8", "lone_surrogate", "json_too_deep",
    "not_an_object", "data_not_list", "turn_not_string", "numeric_id", "extra_field",
    "missing_id", "odd_turns", "empty_turn", "no_exchange",
    "duplicate", "near_duplicate", "mojibake", "non_english", "casing", "self_disclaimer",
    "polite_closing", "benchmark_prompt",
)
FILE_DEFECTS = ("bom", "crlf", "truncated_last_line")
