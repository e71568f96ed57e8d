"""The stages composed over a release, with the accounting: `pipeline.prepare` (and the worker
processes of `parallel`)."""

from ..release.sources import local_inputs
from .pipeline import PrepareOptions, prepare

__all__ = ["PrepareOptions", "local_inputs", "prepare"]
