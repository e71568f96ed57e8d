"""Chat formats, converted in Arrow vectors: OpenAI/TRL `messages`, ShareGPT `conversations`,
raw UltraChat `data`, and a tokenizer's chat template (with an assistant-only loss mask).

- messages: [{"role": "system"|"user"|"assistant", "content"}], what TRL's SFTTrainer reads.
- sharegpt: [{"from": "human"|"gpt", "value"}], human at odd positions (1-based), and an optional
  top-level `system`: what LLaMA-Factory and axolotl read (`from`/`value`, `human`/`gpt`).
- raw: {"id", "data"}: the release's own format, for the original training code.

`convert(table, to, system=None)` works on a pyarrow Table of any of the three (or a prepared
table); `for_map(to, system)` gives a function for `Dataset.map(batched=True)` that accepts
either the Arrow batches of `.with_format("arrow")` or plain dict batches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .names import FORMATS  # noqa: F401  (re-exported)
from .turns import TurnLayout

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)
SHAREGPT_TYPE = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
_SHAREGPT_ROLES = {"user": "human", "assistant": "gpt", "system": "system"}


def data_to_messages(data: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """[user, assistant, ...] lists to [{"role", "content"}, ...] lists, in vectors."""
    layout = TurnLayout.of(data)
    roles = pc.if_else(pa.array(layout.is_user), "user", "assistant")
    messages = pa.StructArray.from_arrays([roles, layout.turns], fields=list(MESSAGE_TYPE))
    return layout.rebuild(messages)


def messages_to_data(messages: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """The raw UltraChat `data` lists back from `messages` (system messages dropped)."""
    layout = TurnLayout.of(messages)
    contents = pc.struct_field(layout.turns, "content")
    keep = pc.not_equal(pc.struct_field(layout.turns, "role"), "system").to_numpy(zero_copy_only=False)
    return layout.rebuild(contents, keep=keep)


def set_system(messages: pa.Array | pa.ChunkedArray, prompts: pa.Array) -> pa.ListArray:
    """Each row's system message replaced by `prompts[row]` (none where it is null), first."""
    layout = TurnLayout.of(messages)
    rows = len(layout.lengths)
    keep = pc.not_equal(pc.struct_field(layout.turns, "role"), "system").to_numpy(zero_copy_only=False)
    has_prompt = pc.is_valid(prompts).to_numpy(zero_copy_only=False)
    lengths = np.bincount(layout.owner[keep], minlength=rows) + has_prompt
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    # Output slot -> source: the row's prompt (index < rows) or its next kept turn (rows + j).
    source = np.empty(offsets[-1], np.int64)
    prompt_slots = offsets[:-1][has_prompt]
    source[prompt_slots] = np.flatnonzero(has_prompt)
    turn_slots = np.ones(offsets[-1], bool)
    turn_slots[prompt_slots] = False
    source[turn_slots] = rows + np.arange(int(keep.sum()))
    system_turns = pa.StructArray.from_arrays(
        [pa.array(["system"] * rows, pa.string()), prompts.cast(pa.string())], fields=list(MESSAGE_TYPE))
    values = pa.concat_arrays([system_turns, layout.turns.filter(pa.array(keep))]).take(pa.array(source))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def messages_to_sharegpt(messages: pa.Array | pa.ChunkedArray) -> tuple[pa.ListArray, pa.Array]:
    """(conversations without system turns, the system prompt of each row or null)."""
    layout = TurnLayout.of(messages)
    roles = pc.struct_field(layout.turns, "role")
    is_system = pc.equal(roles, "system").to_numpy(zero_copy_only=False)
    system = [None] * len(layout.lengths)
    for row, text in zip(layout.owner[is_system].tolist(),
                         pc.struct_field(layout.turns, "content").filter(pa.array(is_system)).to_pylist()):
        system[row] = text
    names = pc.if_else(pc.equal(roles, "user"), "human", "gpt")
    turns = pa.StructArray.from_arrays([names, pc.struct_field(layout.turns, "content")],
                                       fields=list(SHAREGPT_TYPE.value_type))
    return layout.rebuild(turns, keep=~is_system), pa.array(system, pa.string())


def sharegpt_to_messages(conversations: pa.Array | pa.ChunkedArray,
                         system: pa.Array | None = None) -> pa.ListArray:
    layout = TurnLayout.of(conversations)
    names = pc.struct_field(layout.turns, "from")
    unknown = pc.invert(pc.is_in(names, pa.array(list(_SHAREGPT_ROLES.values()))))
    if pc.any(unknown).as_py():
        bad = pc.filter(names, unknown)[0].as_py()
        raise ConfigError(f"ShareGPT turn with 'from': {bad!r}: expected human, gpt or system")
    roles = pc.if_else(pc.equal(names, "human"), "user",
                       pc.if_else(pc.equal(names, "gpt"), "assistant", "system"))
    turns = pa.StructArray.from_arrays([roles, pc.struct_field(layout.turns, "value")],
                                       fields=list(MESSAGE_TYPE))
    messages = layout.rebuild(turns)
    if system is None or pc.all(pc.is_null(system)).as_py():
        return messages
    return set_system(messages, system)


def _messages_of(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    if "messages" in table.column_names:
        return table.column("messages")
    if "conversations" in table.column_names:
        system = table.column("system") if "system" in table.column_names else None
        system = pa.concat_arrays(system.chunks) if isinstance(system, pa.ChunkedArray) else system
        return sharegpt_to_messages(table.column("conversations"), system)
    if "data" in table.column_names:
        return data_to_messages(table.column("data"))
    raise ConfigError(f"cannot tell the format of columns {table.column_names}: expected "
                      "messages, conversations (ShareGPT) or data (raw UltraChat)")


def convert(table: pa.Table, to: str, system: str | None = None) -> pa.Table:
    """`table` (messages, ShareGPT or raw) in format `to`; other columns are kept."""
    if to not in FORMATS:
        raise ConfigError(f"unknown format {to!r}: choose from {', '.join(FORMATS)}")
    messages = _messages_of(table)
    if system is not None:
        messages = set_system(messages, pa.array([system] * table.num_rows, pa.string()))
    rest = table.drop_columns([c for c in ("messages", "conversations", "system", "data")
                               if c in table.column_names])
    if to == "messages":
        return rest.append_column("messages", pa.chunked_array([messages]))
    if to == "sharegpt":
        conversations, prompts = messages_to_sharegpt(messages)
        rest = rest.append_column("conversations", pa.chunked_array([conversations]))
        if system is not None or pc.any(pc.is_valid(prompts)).as_py():
            rest = rest.append_column("system", pa.chunked_array([prompts]))
        return rest
    keep = [c for c in rest.column_names if c in ("key", "id")]
    return rest.select(keep).append_column("data", pa.chunked_array([messages_to_data(messages)]))


def for_map(to: str, system: str | None = None) -> Callable:
    """A function for `Dataset.map(fn, batched=True)`: Arrow batches in and out with
    `.with_format("arrow")`, dict batches otherwise."""
    def convert_batch(batch):
        if isinstance(batch, pa.Table):
            return convert(batch, to, system)
        return convert(pa.Table.from_pydict(batch), to, system).to_pydict()
    return convert_batch
