"""The stages composed over a release, with the accounting: `pipeline.prepare`."""

from ..release.sources import local_inputs
from .pipeline import PrepareOptions, prepare

__all__ = ["PrepareOptions", "local_inputs", "prepare"]
