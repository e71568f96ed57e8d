"""Drop dialogues whose user turns contain a benchmark prompt (word n-gram overlap).

UltraChat's opening questions include some Vicuna-bench / MT-Bench / AlpacaEval prompts (UltraChat
issue #18). Given a file of prompts, a dialogue is rejected as `benchmark_overlap` when any user
turn shares a word n-gram (default 8 words, after normalisation) with a prompt; a prompt shorter
than n words must appear whole.

Prompt files: plain text (one prompt a line), or JSON Lines / JSON with a `prompt`,
`instruction`, `question` or `turns` field (MT-Bench's `question.jsonl`, AlpacaEval's JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..rejects import rejects_from_rows
from ..turns import TurnLayout
from .dedup import word_shingles

PROMPT_FIELDS = ("prompt", "instruction", "question", "turns")


def load_prompts(path: str | Path) -> list[str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the benchmark prompt file {path}: {error.strerror}") from error
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return [line.strip() for line in text.splitlines() if line.strip()]
    if stripped.startswith("["):
        records = _parse_json(path, text, 0)
    else:
        records = [_parse_json(path, line, number) for number, line in
                   enumerate(text.splitlines()) if line.strip()]
    prompts = []
    for record in records:
        value = next((record[f] for f in PROMPT_FIELDS if isinstance(record, dict) and f in record),
                     record if isinstance(record, str) else None)
        prompts += value if isinstance(value, list) else [value] if value else []
    if not prompts:
        raise ConfigError(f"{path}: no prompt found (fields tried: {', '.join(PROMPT_FIELDS)})")
    return [str(p) for p in prompts]


def _parse_json(path: Path, text: str, first_line: int):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} line {first_line + error.lineno}: not valid JSON ({error.msg}); "
                          "give one prompt a line, or JSON with a 'prompt' or 'turns' field") from error


class BenchmarkFilter:
    def __init__(self, prompts: list[str], ngram_words: int = 8):
        self.prompt_count = len(prompts)
        self.ngram_words = ngram_words
        lengths = np.array([len(p.split()) for p in prompts])
        array = pa.array(prompts, pa.string())
        # Each prompt contributes its n-grams, or itself whole when it is shorter than n words.
        self.ngrams: dict[int, np.ndarray] = {}
        for size in sorted(set(np.minimum(lengths, ngram_words).tolist()) - {0}):
            chosen = array.filter(pa.array(np.minimum(lengths, ngram_words) == size))
            self.ngrams[size] = np.unique(word_shingles(chosen, size)["shingle"].to_numpy())

    def apply(self, rows: pa.Table) -> tuple[pa.Table, pa.Table]:
        layout = TurnLayout.of(rows.column("data"))
        user = pa.array(layout.is_user)
        user_turns, owners = layout.turns.filter(user), layout.owner[layout.is_user]
        hit_turns = np.zeros(len(user_turns), bool)
        for size, known in self.ngrams.items():
            shingles = word_shingles(user_turns, size)
            matched = shingles["doc"].to_numpy()[np.isin(shingles["shingle"].to_numpy(), known)]
            hit_turns[matched] = True
        contaminated = np.bincount(owners[hit_turns], minlength=rows.num_rows) > 0
        hit = np.zeros(len(layout.turns), bool)
        hit[np.flatnonzero(layout.is_user)[hit_turns]] = True
        details = [f"turn {position} holds a benchmark prompt's words in a row"
                   for position in layout.first_flagged(hit)[contaminated]]
        rejects = rejects_from_rows(rows.filter(pa.array(contaminated)), "decontaminate",
                                    "benchmark_overlap", details)
        return rows.filter(pc.invert(pa.array(contaminated))), rejects
