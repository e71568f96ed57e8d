"""Dialogues rendered with a tokenizer's chat template: text, token ids and an assistant-only loss
mask, in batches; dialogues longer than `max_tokens` split at exchange boundaries.

The mask is transformers' own wherever it can be:
- A template with `{% generation %}` markers: the mask is the one
  `apply_chat_template(..., return_assistant_tokens_mask=True)` returns (called on the batch).
- A template without them: each assistant span runs from where the generation prompt ends
  (`add_generation_prompt=True` on the messages before it) to the end of the text the assistant
  message adds, trailing white space left out; then the tokens are picked as transformers picks
  them for a marked span (from the token holding the span's first character through the token
  holding its last). That is the mask of the same template marked the usual way,
  `{% generation %}{{ content }}<end of turn>{% endgeneration %}` (ChatML, Llama-3): tested token
  by token. A template marked elsewhere (a Qwen2.5 training template puts the marker before the
  newline of the assistant header) is used with its markers.

Pieces: a dialogue longer than `max_tokens` is cut at exchange boundaries into pieces of as many
whole exchanges as fit, each repeating the system prompt. A single exchange longer than
`max_tokens` is cut at `max_tokens` tokens (`truncated`); a piece's `text` is always exactly the
text its `input_ids` cover. Needs a fast tokenizer (character offsets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import ConfigError

_GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
TEMPLATE_SCHEMA = pa.schema([
    ("key", pa.string()),  # the dialogue's unique key (its `id` where rows have no key)
    ("id", pa.string()),  # the release id
    ("piece", pa.int32()),  # 0, 1, ... within the dialogue
    ("first_turn", pa.int32()),  # the piece holds messages[first_turn:first_turn + num_turns]
    ("num_turns", pa.int32()),  # (counted after the system prompt)
    ("text", pa.string()),  # exactly the text `input_ids` cover
    ("input_ids", pa.list_(pa.int32())),
    ("assistant_masks", pa.list_(pa.int8())),
    ("truncated", pa.bool_()),  # one exchange longer than max_tokens, cut
])
TEMPLATE_COLUMNS = tuple(TEMPLATE_SCHEMA.names)


@dataclass
class Rendered:
    """One piece of a rendered dialogue. `first_turn`/`num_turns` count messages after the
    system prompt: the piece holds `messages[first_turn:first_turn + num_turns]` of them."""

    text: str
    input_ids: list[int]
    assistant_mask: list[int]
    first_turn: int = 0
    num_turns: int = 0
    truncated: bool = False


def render_dialogues(tokenizer, dialogues: list[list[dict]],
                     max_tokens: int | None = None) -> list[list[Rendered]]:
    """Each dialogue as its pieces (one piece unless it is longer than `max_tokens`)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("chat-template rendering needs a fast tokenizer (character offsets): load "
                          "it with AutoTokenizer.from_pretrained(..., use_fast=True)")
    rendered = []
    for messages, whole in zip(dialogues, _encode(tokenizer, dialogues)):
        if max_tokens is None or len(whole.input_ids) <= max_tokens:
            whole.num_turns = len(_turns(messages)[1])
            rendered.append([whole])
        else:
            rendered.append(_pieces(tokenizer, messages, max_tokens))
    return rendered


def render_batch(tokenizer, batch: dict, max_tokens: int | None = None) -> dict:
    """For `Dataset.map(batched=True, remove_columns=...)` over rows with `messages` and `id`
    (and `key`, the prepared rows' unique key): one output row a piece, `TEMPLATE_COLUMNS`."""
    keys = batch.get("key") or batch["id"]
    out = {name: [] for name in TEMPLATE_COLUMNS}
    for key, row_id, pieces in zip(keys, batch["id"],
                                   render_dialogues(tokenizer, batch["messages"], max_tokens)):
        for number, piece in enumerate(pieces):
            for name, value in (("key", key), ("id", row_id), ("piece", number),
                                ("first_turn", piece.first_turn), ("num_turns", piece.num_turns),
                                ("text", piece.text), ("input_ids", piece.input_ids),
                                ("assistant_masks", piece.assistant_mask),
                                ("truncated", piece.truncated)):
                out[name].append(value)
    return out


def is_marked(tokenizer) -> bool:
    """Whether the tokenizer's chat template marks assistant text with `{% generation %}`."""
    return bool(_GENERATION_MARKER.search(tokenizer.get_chat_template()))


def _encode(tokenizer, dialogues: list[list[dict]]) -> list[Rendered]:
    """Text, ids and mask of each whole dialogue, tokenized as one batch."""
    if not dialogues:
        return []
    texts = tokenizer.apply_chat_template(dialogues, tokenize=False)
    if is_marked(tokenizer):
        encoded = tokenizer.apply_chat_template(dialogues, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        masks = encoded["assistant_masks"]
    else:
        encoded = tokenizer(texts, add_special_tokens=False)
        masks = [_mask_of_spans(encoded, index, spans)
                 for index, spans in enumerate(_assistant_spans(tokenizer, dialogues, texts))]
    return [Rendered(text, list(ids), list(mask))
            for text, ids, mask in zip(texts, encoded["input_ids"], masks)]


def _assistant_spans(tokenizer, dialogues: list[list[dict]], texts: list[str]) -> list[list[tuple]]:
    """(start, end) characters of each assistant message's span, by rendering the prefixes."""
    heads, tails, owners = [], [], []
    for number, messages in enumerate(dialogues):
        for index, message in enumerate(messages):
            if message["role"] == "assistant" and index:
                heads.append(messages[:index])
                tails.append(messages[:index + 1])
                owners.append(number)
    starts = tokenizer.apply_chat_template(heads, tokenize=False, add_generation_prompt=True) if heads else []
    ends = tokenizer.apply_chat_template(tails, tokenize=False) if tails else []
    spans = [[] for _ in dialogues]
    for owner, head, tail in zip(owners, starts, ends):
        text = texts[owner]
        if not (text.startswith(tail) and tail.startswith(head)):
            raise ConfigError("this chat template does not render a dialogue's start as the start of "
                              "the whole dialogue, so assistant spans cannot be found: add "
                              "{% generation %} markers to it")
        start, end = len(head), len(tail.rstrip())
        if end > start:
            spans[owner].append((start, end))
    return spans


def _mask_of_spans(encoded, index: int, spans: list[tuple[int, int]]) -> list[int]:
    """The tokens of the character spans, chosen as transformers chooses them for
    `return_assistant_tokens_mask` (the same rule, so the same mask on a marked template)."""
    length = len(encoded["input_ids"][index])
    mask = np.zeros(length, np.int8)
    for start, end in spans:
        first = encoded.char_to_token(index, start)
        last = encoded.char_to_token(index, end - 1)
        if first is None:
            break
        mask[first:last + 1 if last else length] = 1
    return mask.tolist()


def _turns(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    system = [m for m in messages[:1] if m["role"] == "system"]
    return system, messages[len(system):]


def _pieces(tokenizer, messages: list[dict], max_tokens: int) -> list[Rendered]:
    """As many whole exchanges a piece as fit; a lone exchange that does not fit is cut."""
    system, turns = _turns(messages)
    pieces, start = [], 0
    while start < len(turns):
        stop = min(start + 2, len(turns))
        while (stop + 2 <= len(turns)
               and _token_count(tokenizer, system + turns[start:stop + 2]) <= max_tokens):
            stop += 2
        [piece] = _encode(tokenizer, [system + turns[start:stop]])
        piece.first_turn, piece.num_turns = start, stop - start
        if len(piece.input_ids) > max_tokens:
            _cut(tokenizer, piece, max_tokens)
        pieces.append(piece)
        start = stop
    return pieces


def _token_count(tokenizer, messages: list[dict]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _cut(tokenizer, piece: Rendered, max_tokens: int) -> None:
    """The first `max_tokens` tokens, and the text they cover."""
    offsets = tokenizer(piece.text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    piece.text = piece.text[:offsets[max_tokens - 1][1]]
    piece.input_ids, piece.assistant_mask = piece.input_ids[:max_tokens], piece.assistant_mask[:max_tokens]
    piece.truncated = True


class AssistantLabelsCollator:
    """For transformers' `Trainer` over the template output (`input_ids`, `assistant_masks`):
    pads a batch the tokenizer's way (its pad token and side) and sets `labels` to the ids where
    `assistant_masks` is 1 and -100 elsewhere and on padding, so the loss covers the assistant's
    tokens only. `return_tensors`: "pt" (torch) or "np"."""

    def __init__(self, tokenizer, return_tensors: str = "pt", pad_to_multiple_of: int | None = None):
        if tokenizer.pad_token_id is None:
            raise ConfigError("the tokenizer has no pad token: set tokenizer.pad_token (e.g. to its "
                              "eos_token) before collating")
        self.pad_id, self.left = tokenizer.pad_token_id, tokenizer.padding_side == "left"
        self.return_tensors, self.multiple = return_tensors, pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict:
        if features and "assistant_masks" not in features[0]:
            raise ConfigError("the batch has no `assistant_masks`: transformers' Trainer drops the "
                              "columns its model does not take; give it "
                              "TrainingArguments(remove_unused_columns=False)")
        lengths = [len(feature["input_ids"]) for feature in features]
        width = max(lengths)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        input_ids = np.full((len(features), width), self.pad_id, np.int64)
        labels = np.full((len(features), width), -100, np.int64)
        attention = np.zeros((len(features), width), np.int64)
        for row, (feature, length) in enumerate(zip(features, lengths)):
            place = slice(width - length, width) if self.left else slice(0, length)
            ids = np.asarray(feature["input_ids"], np.int64)
            input_ids[row, place] = ids
            labels[row, place] = np.where(np.asarray(feature["assistant_masks"], bool), ids, -100)
            attention[row, place] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
        if self.return_tensors == "pt":
            import torch  # the trainer's own dependency
            return {name: torch.from_numpy(values) for name, values in batch.items()}
        return batch
