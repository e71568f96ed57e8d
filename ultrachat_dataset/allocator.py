"""The C allocator's arenas, limited for the long multi-threaded runs (`prepare`).

glibc gives each thread that finds the allocator busy an arena of its own, up to 8 a core, and
memory freed in one arena serves no other. With numpy's and Python's allocations spread over the
pipeline's threads (workers, shard writers, polars' and Arrow's pools) the process's peak memory
varied from run to run: 1.3 to 2.2 GB on the same 400k dialogues. Two arenas kept it at ~1.3 GB,
and the run ~5% faster (`benchmarks/bench_pipeline.py --memory 400000`, with and without
MALLOC_ARENA_MAX=2). Arenas made before the limit stay; threads started after it share.
"""

from __future__ import annotations

import ctypes
import os

_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """At most `count` malloc arenas from now on, unless MALLOC_ARENA_MAX is set (the user's
    choice). True if glibc took the limit; elsewhere (musl, macOS, Windows) nothing is done."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, count))
