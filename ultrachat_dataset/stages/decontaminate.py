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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from ..turns import TurnLayout
from .dedup import word_shingles
from .stage import Stage, StageResult, option

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


@dataclass
class DecontaminateOptions:
    decontaminate: str | None = option(None, "benchmark prompts (text or JSON Lines): drop "
                                       "dialogues that contain one", metavar="FILE")
    ngram_words: int = option(8, "words in a row a user turn must share with a benchmark prompt")

    def __post_init__(self):
        if self.decontaminate is not None:
            self.decontaminate = str(self.decontaminate)
        if self.ngram_words < 1:
            raise ConfigError(f"--ngram-words {self.ngram_words}: give 1 or more")


class Decontaminate(Stage):
    """Drops dialogues whose user turns hold a benchmark prompt's words in a row."""

    name = "decontaminate"
    summary = "drops dialogues whose user turns hold a benchmark prompt"
    reasons = {"benchmark_overlap": "a user turn contains a benchmark prompt"}
    Options = DecontaminateOptions

    @property
    def enabled(self) -> bool:
        return self.options.decontaminate is not None

    def __init__(self, options=None):
        super().__init__(options)
        # Read at once: a bad prompt file fails the run before any work.
        self.ngrams = self._prompt_ngrams() if self.enabled else {}

    def _prompt_ngrams(self) -> dict[int, np.ndarray]:
        """n -> the sorted word n-gram hashes of the prompts (a prompt shorter than n words
        contributes itself whole)."""
        prompts = load_prompts(self.options.decontaminate)
        size_cap = self.options.ngram_words
        lengths = np.minimum([len(prompt.split()) for prompt in prompts], size_cap)
        array = pa.array(prompts, pa.string())
        found = {}
        for size in sorted(set(lengths.tolist()) - {0}):
            shingles = word_shingles(array.filter(pa.array(lengths == size)), size)
            found[size] = np.unique(shingles["shingle"].to_numpy())
        return found

    def apply(self, rows: pa.Table) -> StageResult:
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
        kept = ~contaminated
        return StageResult(rows.filter(pa.array(kept)), kept,
                           self.rejected(rows, kept, "benchmark_overlap", details))
