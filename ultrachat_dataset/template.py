"""Dialogues rendered with a tokenizer's chat template: text, token ids, and an assistant-only
loss mask; dialogues longer than `max_tokens` split at exchange boundaries.

The mask needs no `{% generation %}` markers in the template: the text that each assistant
message adds is found by rendering the dialogue's prefixes (the template must render a prefix of
a dialogue as a prefix of the whole, as chat templates do), and a token is the assistant's when
its character offset falls in such a span, end-of-turn tokens included. Needs a fast tokenizer
(`transformers`, the `chat` extra). Pieces of a split dialogue are named `<id>_<first turn>`,
as UltraChat's own `split_long.py` did; each piece repeats the system prompt, if any.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


@dataclass
class Rendered:
    id: str
    text: str
    input_ids: list[int]
    assistant_mask: list[int]
    truncated: bool = False


def render_dialogue(tokenizer, row_id: str, messages: list[dict],
                    max_tokens: int | None = None) -> list[Rendered]:
    """One dialogue as one or more rendered pieces of at most `max_tokens` tokens each."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("render_dialogue needs a fast tokenizer (character offsets): load it "
                          "with AutoTokenizer.from_pretrained(..., use_fast=True)")
    whole = _render(tokenizer, messages)
    if max_tokens is None or len(whole.input_ids) <= max_tokens:
        return [Rendered(row_id, whole.text, whole.input_ids, whole.assistant_mask)]
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]
    pieces, start = [], 0
    while start < len(turns):
        stop = start + 2
        while stop + 2 <= len(turns) and _length(tokenizer, system + turns[start:stop + 2]) <= max_tokens:
            stop += 2
        piece = _render(tokenizer, system + turns[start:stop])
        piece.id = f"{row_id}_{start}"
        if len(piece.input_ids) > max_tokens:  # one exchange alone is longer: cut it
            piece.input_ids, piece.assistant_mask = (piece.input_ids[:max_tokens],
                                                     piece.assistant_mask[:max_tokens])
            piece.truncated = True
        pieces.append(piece)
        start = stop
    return pieces


def _length(tokenizer, messages: list[dict]) -> int:
    return len(tokenizer(_text(tokenizer, messages), add_special_tokens=False)["input_ids"])


def _text(tokenizer, messages: list[dict], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation_prompt)


def _render(tokenizer, messages: list[dict]) -> Rendered:
    text = _text(tokenizer, messages)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_text(tokenizer, messages[:index], generation_prompt=True)) if index else 0
        end = len(_text(tokenizer, messages[:index + 1]))
        if not text.startswith(_text(tokenizer, messages[:index + 1])):
            raise ConfigError("this chat template does not render a dialogue's start as the "
                              "start of the whole dialogue, so assistant spans cannot be found")
        spans.append((start, end))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = np.array([offset[0] for offset in encoded["offset_mapping"]], dtype=np.int64)
    mask = np.zeros(len(starts), np.int8)
    for start, end in spans:
        mask[(starts >= start) & (starts < end)] = 1
    return Rendered("", text, list(encoded["input_ids"]), mask.tolist())


def render_batch(tokenizer, batch: dict, max_tokens: int | None = None) -> dict:
    """For `Dataset.map(batched=True, remove_columns=...)` over rows with `id` and `messages`:
    returns `id`, `text`, `input_ids`, `assistant_masks` (one row a piece)."""
    out = {"id": [], "text": [], "input_ids": [], "assistant_masks": []}
    for row_id, messages in zip(batch["id"], batch["messages"]):
        for piece in render_dialogue(tokenizer, row_id, messages, max_tokens):
            out["id"].append(piece.id)
            out["text"].append(piece.text)
            out["input_ids"].append(piece.input_ids)
            out["assistant_masks"].append(piece.assistant_mask)
    return out
