"""Progress bars (tqdm, as `datasets` and `huggingface_hub` draw them): shown on a terminal,
never in a log that is not one (tqdm's own test of the stream), and never with `--quiet`."""

from __future__ import annotations

from tqdm.auto import tqdm


def progress_bar(shown: bool, **options) -> tqdm:
    """A tqdm bar; `shown=False` (`--quiet`, `progress=False`) turns it off."""
    return tqdm(disable=None if shown else True, **options)
