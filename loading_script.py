"""Hugging Face loading script for UltraChat, for `datasets` 3.x (4.0 removed loading scripts).

    datasets.load_dataset("loading_script.py", "writing", trust_remote_code=True,
                          source="local", data_dir="release/")

A thin shim: all the work is in `ultrachat_dataset.builder` (pip install ultrachat-dataset).
On `datasets` >= 4 use the published parquet folder, or `ultrachat_dataset.load_dataset`.
Publishing this script on the Hub means naming it after the repo; `datasets` >= 4 then refuses
the whole repo, which is why the published folder carries no script.
"""

from ultrachat_dataset.builder import UltraChat, UltraChatConfig

__all__ = ["UltraChatConfig", "UltraChatScript"]


class UltraChatScript(UltraChat):
    """The builder `datasets` finds in this module."""
