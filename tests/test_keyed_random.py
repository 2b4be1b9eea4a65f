"""Counter-based random streams: permutations are bijections, draws are pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from glimpse_env.keyed_random import permutation_index, random_integers, random_uniform


@pytest.mark.parametrize("n", [1, 2, 3, 10, 257, 1000, 60000])
def test_permutation_is_a_bijection_per_key_and_pass(n):
    positions = np.arange(n)
    for key, pass_ in [(0, 0), (12345, 0), (12345, 1)]:
        values = permutation_index(np.full(n, key, np.uint64), np.full(n, pass_), positions, n)
        assert sorted(values.tolist()) == list(range(n))


def test_each_pass_is_a_fresh_order():
    n = 1000
    first = permutation_index(np.full(n, 7, np.uint64), np.zeros(n, np.int64), np.arange(n), n)
    second = permutation_index(np.full(n, 7, np.uint64), np.ones(n, np.int64), np.arange(n), n)
    assert (first != second).mean() > 0.9
    assert abs(np.corrcoef(first, np.arange(n))[0, 1]) < 0.1  # not the identity-like order


def test_draws_are_pure_functions_of_key_and_counter():
    keys = np.array([1, 2, 3, 1], np.uint64)
    counters = np.array([0, 0, 0, 0])
    a = random_integers(keys, counters, stream=4, count=5, high=100)
    np.testing.assert_array_equal(a, random_integers(keys, counters, 4, 5, 100))
    np.testing.assert_array_equal(a[0], a[3])  # same (key, counter) -> same draw
    assert not np.array_equal(a[0], a[1])
    assert not np.array_equal(a, random_integers(keys, counters, stream=5, count=5, high=100))


def test_uniform_draws_look_uniform():
    u = random_uniform(np.arange(20000, dtype=np.uint64), np.zeros(20000), stream=1, count=2)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.01)
    hist = np.histogram(u[:, 0], bins=10, range=(0, 1))[0]
    assert hist.min() > 1800 and hist.max() < 2200
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03


def test_stream_ids_are_one_table_of_distinct_values():
    """Every draw names its stream from :class:`Stream`; a clash would make two draws of one
    canvas share random words. The noise streams ``LOCATION_NOISE + c`` lie above the rest."""
    from glimpse_env.keyed_random import Stream

    values = [stream.value for stream in Stream]
    assert len(set(values)) == len(values)
    others = [v for v in values if v != Stream.LOCATION_NOISE]
    assert max(others) < Stream.LOCATION_NOISE
