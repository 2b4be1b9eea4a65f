"""Counter-based random numbers: every draw is a pure function of ``(key, counter, stream)``.

Why not one ``numpy.random.Generator`` per environment? A vector env of N episodes must produce
exactly what N single envs seeded alike produce, and it must do so without a Python loop over
the N generators on every reset. With counter-based draws each environment owns a 64-bit *key*
(derived once from its seeded ``np_random``) and an episode counter; the canvas of episode ``e``
is a pure function of ``(key, e)``, computed for all N environments in one vectorised call.

The mixing function is SplitMix64's finaliser (Steele, Lea & Flood 2014), a bijection on 64-bit
integers with full avalanche. All arithmetic is on ``uint64`` numpy arrays and wraps modulo 2^64.
"""

from __future__ import annotations

import enum

import numpy as np


class Stream(enum.IntEnum):
    """Every stream id of the counter-based draws, in one table.

    Two draws for one canvas or path use distinct ids, so they never share random words; any
    distinct integers do. Changing a value changes every canvas or path drawn from it, so the
    values are fixed: the evaluation canvases of every zoo card depend on them.
    """

    #: The digit's top-left corner on the canvas (:mod:`glimpse_env.data.canvas`).
    DIGIT_POSITION = 1
    #: Which digit each clutter patch is cut from.
    DISTRACTOR_SOURCE = 2
    #: Where in that digit the patch is cut.
    DISTRACTOR_CROP = 3
    #: Where the patch is pasted.
    DISTRACTOR_POSITION = 4
    #: The first glimpse's location with ``initial_location="random"``
    #: (:mod:`glimpse_env.envs.core`).
    INITIAL_LOCATION = 5
    #: The clutter count, when it is a range.
    DISTRACTOR_COUNT = 6
    #: The positions of the second and later digits of multi-digit canvases.
    EXTRA_DIGIT_POSITION = 7
    #: The round keys of :func:`permutation_index` (which example an episode draws).
    PERMUTATION_ROUNDS = 0x5E17
    #: Monte-Carlo location noise (:class:`agents.evaluation.CanvasNoise`): choice ``c`` of a
    #: path uses ``LOCATION_NOISE + c``, so the ids above it are taken.
    LOCATION_NOISE = 0x4E015E


#: Mixed into the evaluation canvases' stream key to key the Monte-Carlo location noise: a key
#: of its own, so the noise never reuses the canvases' random words.
MC_NOISE_KEY_SALT = 0x9C_0FFE_E5EE_D5

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of a ``uint64`` array (elementwise, wraps modulo 2^64)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping is the point
        x = (x ^ (x >> np.uint64(30))) * _MUL1
        x = (x ^ (x >> np.uint64(27))) * _MUL2
    return x ^ (x >> np.uint64(31))


def key_from_generator(rng: np.random.Generator) -> int:
    """Draw a 64-bit key from a numpy Generator (used once per seeding)."""
    return int(rng.integers(0, 2**64, dtype=np.uint64))


def random_bits(keys: np.ndarray, counters: np.ndarray, stream: int, count: int) -> np.ndarray:
    """``(N, count)`` uint64 random words for N ``(key, counter)`` pairs on one named stream.

    Args:
        keys: ``(N,)`` uint64, one per environment.
        counters: ``(N,)`` integers, e.g. the episode index of each environment.
        stream: small integer naming what the words are for (digit position, distractors, ...),
            so that different uses never share words.
        count: words per environment.
    """
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 1)
    counters = np.asarray(counters, dtype=np.uint64).reshape(-1, 1)
    with np.errstate(over="ignore"):  # wrapping is the point
        salt = mix64(np.array([stream], dtype=np.uint64) * _GOLDEN + np.uint64(1))
        base = mix64(mix64(keys ^ salt) ^ mix64(counters + _GOLDEN))
        slots = np.arange(1, count + 1, dtype=np.uint64).reshape(1, -1) * _GOLDEN
        return mix64(base + slots)


def random_integers(
    keys: np.ndarray, counters: np.ndarray, stream: int, count: int, high: int
) -> np.ndarray:
    """``(N, count)`` int64 uniform on ``[0, high)`` (bias below 2^-40 for ``high < 2^24``)."""
    if high <= 0:
        raise ValueError(f"high must be positive, got {high}")
    return (random_bits(keys, counters, stream, count) % np.uint64(high)).astype(np.int64)


def random_uniform(keys: np.ndarray, counters: np.ndarray, stream: int, count: int) -> np.ndarray:
    """``(N, count)`` float64 uniform on ``[0, 1)`` with 53 random bits each."""
    words = random_bits(keys, counters, stream, count) >> np.uint64(11)
    return words.astype(np.float64) * (1.0 / 2**53)


def random_normal(keys: np.ndarray, counters: np.ndarray, stream: int, count: int) -> np.ndarray:
    """``(N, count)`` float64 standard normal (Box-Muller on :func:`random_uniform` pairs)."""
    pairs = (count + 1) // 2
    uniform = random_uniform(keys, counters, stream, 2 * pairs)
    radius = np.sqrt(-2.0 * np.log1p(-uniform[:, 0::2]))  # 1 - u is in (0, 1]: no log(0)
    angle = 2.0 * np.pi * uniform[:, 1::2]
    normal = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=2)
    return normal.reshape(len(uniform), 2 * pairs)[:, :count]


def permutation_index(
    keys: np.ndarray, passes: np.ndarray, positions: np.ndarray, n: int, rounds: int = 6
) -> np.ndarray:
    """Element at ``positions`` of a keyed pseudo-random permutation of ``range(n)``.

    Every ``(key, pass)`` pair defines its own permutation, so iterating ``positions`` over
    ``0..n-1`` within one pass visits each index exactly once, and the next pass uses a fresh
    order. Built as a balanced Feistel network on the smallest even-bit domain ``>= n`` with
    cycle walking (values that land outside ``range(n)`` are encrypted again), which keeps it a
    bijection on ``range(n)`` without storing a permutation per environment.

    Args:
        keys, passes, positions: ``(N,)`` arrays; ``0 <= positions < n``.
        n: size of the permuted range.

    Returns:
        ``(N,)`` int64 in ``[0, n)``.
    """
    positions = np.asarray(positions, dtype=np.uint64).reshape(-1)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if positions.size and int(positions.max()) >= n:
        raise ValueError(f"positions must be below n={n}")
    if n == 1:
        return np.zeros(positions.shape, dtype=np.int64)
    half_bits = max(1, ((n - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half_bits) - 1)
    shift = np.uint64(half_bits)
    round_keys = random_bits(
        keys, passes, stream=Stream.PERMUTATION_ROUNDS, count=rounds
    )  # (N, rounds)

    def encrypt(values: np.ndarray, rk: np.ndarray) -> np.ndarray:
        left, right = values >> shift, values & mask
        for r in range(rounds):
            left, right = right, left ^ (mix64(right ^ rk[:, r]) & mask)
        return (left << shift) | right

    out = encrypt(positions, round_keys)
    outside = out >= np.uint64(n)
    while outside.any():
        out[outside] = encrypt(out[outside], round_keys[outside])
        outside = out >= np.uint64(n)
    return out.astype(np.int64)


def seeded_keys(seed: int, count: int) -> np.ndarray:
    """``(count,)`` uint64 stream keys that ``reset(seed=seed)`` gives the environments of a
    ``count``-environment vector env (environment ``i`` is keyed by ``seed + i``)."""
    return np.array(
        [key_from_generator(np.random.default_rng(seed + i)) for i in range(count)],
        dtype=np.uint64,
    )
