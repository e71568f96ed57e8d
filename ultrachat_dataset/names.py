"""The names the command line offers (configs, formats, sources, defects), kept apart from the
code that acts on them so that `ultrachat --help` imports nothing heavy. The modules that own
each name re-export it from here. (The `prepare` options are the stages' own, declared in each
stage module: `prepare --help` imports the stages.)"""

SECTORS = ("world", "writing", "assistance")
CONFIGS = ("all", *SECTORS)
FORMATS = ("messages", "sharegpt", "raw")
SOURCES = ("auto", "tsinghua", "hub", "local")
TEST_FRACTION = 0.01  # share of prompts in the test split

# Defects a synthetic line can carry. Reader and validation defects first, then content defects
# that the cleaning stages catch. `extra_field` and `numeric_id` are harmless: the row must be kept;
# `replacement_character` is flagged; `lowercase_paragraph` is real and left as written (no rule
# can tell it from a list, a name or code for sure).
DEFECTS = (
    "invalid_json", "blank_line", "invalid_utf8", "lone_surrogate", "json_too_deep",
    "not_an_object", "data_not_list", "turn_not_string", "numeric_id", "extra_field",
    "missing_id", "odd_turns", "empty_turn", "no_exchange",
    "duplicate", "near_duplicate", "mojibake", "non_english", "casing", "self_disclaimer",
    "polite_closing", "benchmark_prompt", "cp1256_mojibake", "replacement_character",
    "lowercase_paragraph",
)
FILE_DEFECTS = ("bom", "crlf", "truncated_last_line")
