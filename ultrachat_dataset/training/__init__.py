"""What trainers read: chat templates with masks (`template`), converting files and folders
(`convert`), streaming to ranks and workers (`streaming`)."""

from ..layout import split_files
from .streaming import DistributedStream, StreamLoader, iterable_dataset

__all__ = ["DistributedStream", "StreamLoader", "iterable_dataset", "split_files"]
