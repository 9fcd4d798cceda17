"""``mge run`` freezes its start-up heap and collects the young generation less often (bot/runtime/heap.py)."""

from __future__ import annotations

import gc

from bot.runtime.heap import YOUNG_THRESHOLD, freeze_startup_heap


def test_start_up_objects_are_frozen_and_young_collections_are_rarer():
    before = gc.get_threshold()
    kept = [object() for _ in range(3)], {"a": [1]}  # alive at start-up: frozen with the rest
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000  # every imported module's objects, at least
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
        assert not any(kept[1] is o for o in gc.get_objects())  # frozen objects are no longer scanned
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
