"""See a prepared folder: a local, read-only page over its parquet files (`ultrachat explore`)."""

from .query import Explorer, RowQuery
from .server import ExplorerServer, serve

__all__ = ["Explorer", "ExplorerServer", "RowQuery", "serve"]
