"""The process's heap after start-up, kept out of the garbage collector's way.

A full collection scans every object the collector tracks. Right after ``mge run`` has started, most
of them (discord.py, slack-bolt, SQLAlchemy, pydantic and the rest: about 135,000 objects) live as long
as the process and are never garbage, yet each full collection walked them all: 50–120 ms, during which
nothing else runs — a DM turn that happened to be waiting paid for it. Freezing them (``gc.freeze``)
moves them to a generation the collector never scans, so full collections only walk what was created
since: the work of the bot itself.

The youngest generation is collected after 10,000 net allocations instead of Python's 700. A burst of
reactions allocates fast (rows, events, futures); at 700, young collections ran every few hundred
microseconds and promoted objects that were still in use moments later, and the promotions triggered
full collections. Measured with 20,000 reactions at 1,000/s beside 60 interviews (benchmarks/run.py,
section mixed): a DM turn's own time p99 went from 77 to 33–44 ms on SQLite, from 115 to 35–48 ms
on PostgreSQL, with the freeze and this threshold together.
"""

from __future__ import annotations

import gc

#: Net allocations between collections of the youngest generation (Python's default: 700).
YOUNG_THRESHOLD = 10_000


def freeze_startup_heap() -> int:
    """Collect what start-up left behind, freeze everything alive, and collect the young generation less
    often (module docstring); how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()
