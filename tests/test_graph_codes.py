"""Integer-code helpers the assembly sorts and groups with."""

from __future__ import annotations

import numpy as np

from core.graph.codes import pack, run_starts, stable_order


def test_pack_orders_like_tuples_and_survives_huge_codes():
    rng = np.random.default_rng(0)
    for high in (5, 2**40):  # 2**40 cubed overflows int64: the codes get compacted first
        a, b, c = (rng.integers(0, high, 500) for _ in range(3))
        key = pack(a, b, c)
        assert np.array_equal(np.argsort(key, kind="stable"), np.lexsort((c, b, a)))
        rows = list(zip(a.tolist(), b.tolist(), c.tolist()))
        for i, j in zip(range(0, 499), range(1, 500)):
            assert (key[i] == key[j]) == (rows[i] == rows[j])


def test_stable_order_is_a_stable_argsort():
    rng = np.random.default_rng(1)
    for key in (
        np.zeros(0, np.int64),
        rng.integers(0, 3, 1000),
        rng.integers(0, 2**40, 5000),
        rng.integers(0, 2**62, 100),
    ):
        assert np.array_equal(stable_order(key), np.argsort(key, kind="stable"))


def test_run_starts():
    assert run_starts(np.array([1, 1, 2, 5, 5, 5])).tolist() == [0, 2, 3]
    assert run_starts(np.array([], dtype=np.int64)).tolist() == []
