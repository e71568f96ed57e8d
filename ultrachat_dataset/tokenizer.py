"""A tokenizer by folder or Hub name, or one clear error: never minutes of retries and a
traceback. Needs `transformers` (the `chat` extra)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

HUB_CHECK_SECONDS = 10


def load_tokenizer(name: str):
    """`AutoTokenizer.from_pretrained(name)`: a local folder as it is; a Hub name from the local
    cache if it is there, else from the Hub once one request shows the Hub answers (its own
    loader retries an unreachable Hub for about a minute)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise ConfigError("a tokenizer needs transformers: install the `chat` extra "
                          "(uv run --extra chat ultrachat ...)") from None
    where = "folder" if Path(name).exists() else "Hub name"
    try:
        if where == "folder":
            return AutoTokenizer.from_pretrained(name)
        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True)
        except OSError:
            pass  # not in the cache
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "false", "no", ""):
            raise ConfigError(f"tokenizer {name!r} is not in the Hugging Face cache and HF_HUB_OFFLINE "
                              "is set: give a local folder (tokenizer.save_pretrained(DIR)) or go online")
        _check_hub(name)
        return AutoTokenizer.from_pretrained(name)
    except ConfigError:
        raise
    except Exception as error:  # transformers raises OSError, ValueError, KeyError, ... by case
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot load the tokenizer {name!r} ({where}): {first_line}") from None


def _check_hub(name: str) -> None:
    from huggingface_hub import constants, get_session
    url = f"{constants.ENDPOINT}/api/models/{name}"
    try:
        get_session().head(url, timeout=HUB_CHECK_SECONDS)
    except Exception as error:
        raise ConfigError(f"tokenizer {name!r}: no local folder of that name, and the Hub "
                          f"({constants.ENDPOINT}) did not answer ({type(error).__name__}): give a "
                          "local folder (tokenizer.save_pretrained(DIR)), or fetch it once online") from None
