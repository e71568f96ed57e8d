"""Chat formats. The prepared row holds OpenAI-style `messages`; others derive from it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .turns import TurnLayout

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)


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
    roles = pc.struct_field(layout.turns, "role")
    keep = pc.not_equal(roles, "system").to_numpy(zero_copy_only=False)
    return layout.rebuild(contents, keep=keep)
