"""UltraChat as clean, verified, deduplicated training data.

    from ultrachat_dataset import load_dataset
    ds = load_dataset("writing", source="local", data_dir="release/")
"""

__version__ = "0.1.0"


def load_dataset(*args, **kwargs):
    """See `ultrachat_dataset.builder.load_dataset` (imported on first use: `datasets` is heavy)."""
    from .builder import load_dataset as builder_load_dataset

    return builder_load_dataset(*args, **kwargs)
