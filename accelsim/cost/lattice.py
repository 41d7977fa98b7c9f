"""Integer lattice arithmetic the counters share (the fixed-shape ``cost.counts`` and the general
``cost.actions``): valid digit tuples under ceil tiling, and the values ``{c1*p + c2*r}`` an
(output x filter) tile touches counted inside a window or overlapped with a shifted tile. Pure
functions of integers, cached; exact. The lattice itself is ``accelsim.tiles`` (spec layer).
"""

from __future__ import annotations

from functools import lru_cache

from accelsim.tiles import dense as _dense
from accelsim.tiles import lattice as _lattice
from accelsim.tiles import touched


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def count_tuples(D: int, loops: list[tuple[int, int, bool]]) -> int:
    """Distinct digit tuples of the kept loops of one dimension whose base index is < D.

    ``loops`` are (factor, span, kept) outer -> inner; dropped loops sit at digit 0.
    """
    full = [1] * (len(loops) + 1)
    for i in range(len(loops) - 1, -1, -1):
        f, _s, kept = loops[i]
        full[i] = full[i + 1] * (f if kept else 1)
    # Walk down the branch of the last valid chunk: every digit below the last one at a kept loop
    # leaves a whole inner span valid (full[i + 1] tuples); the last digit continues with the rest.
    total = 1
    budget = D
    for i, (f, s, kept) in enumerate(loops):
        if not kept:
            budget = min(budget, s)
            continue
        n = min(f, ceil_div(budget, s))
        total += (n - 1) * full[i + 1]
        budget -= (n - 1) * s
    return total


@lru_cache(maxsize=65536)
def _count_in(a: int, b: int, stride: int, dil: int, lo: int, hi: int) -> int:
    """|{v in lattice(a, b): lo <= v < hi}|."""
    span = (a - 1) * stride + (b - 1) * dil + 1
    if lo <= 0 and hi >= span:
        return touched(a, b, stride, dil)
    if _dense(a, b, stride, dil):
        return max(0, min(hi, span) - max(lo, 0))
    return sum(1 for v in _lattice(a, b, stride, dil) if lo <= v < hi)


@lru_cache(maxsize=65536)
def _overlap_in(a: int, b: int, a2: int, b2: int, delta: int, stride: int, dil: int, lo: int, hi: int) -> int:
    """|{v in lattice(a, b): lo <= v < hi and v + delta in lattice(a2, b2)}| (old tile starts delta earlier)."""
    if _dense(a, b, stride, dil) and _dense(a2, b2, stride, dil):
        span2 = (a2 - 1) * stride + (b2 - 1) * dil + 1
        span = (a - 1) * stride + (b - 1) * dil + 1
        # v in [0, span), v + delta in [0, span2)  ->  v in [-delta, span2 - delta)
        return max(0, min(hi, span, span2 - delta) - max(lo, 0, -delta))
    old = _lattice(a2, b2, stride, dil)
    return sum(1 for v in _lattice(a, b, stride, dil) if lo <= v < hi and v + delta in old)
