"""Hypothesis strategies for the general core: small problems (conv, depthwise, gemm, bmm, a
strided 1-D einsum), random hierarchies (1-4 storage levels between DRAM and compute, 0-2 fanouts,
random keeps) and legal loop nests over them."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from accelsim.hierarchy import Fanout, Hierarchy, Storage
from accelsim.loopnest import LevelMap, LoopNest, problems_of
from accelsim.names import AXES, ROLES
from accelsim.problem import Coord, Problem, Tensor, bmm, from_layer, gemm
from tests.strategies import small_layers


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@st.composite
def strided_1d(draw) -> Problem:
    """out[m, k] += x[m, s*p + d*r - pad][...]: a 1-D conv with random stride/dilation/pad, written
    as an einsum (dims M, P, R, K), plus a single-dim coordinate with a coefficient (x's 2nd axis)."""
    m, p, r, k = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    pad = draw(st.integers(0, min(1, d * (r - 1))))
    size = max(1, s * (p - 1) + d * (r - 1) + 1 - pad - draw(st.integers(0, 1)))
    x = Tensor("x", ROLES[0], (Coord((("M", 1),), 0, m), Coord((("P", s), ("R", d)), -pad, size)))
    w = Tensor("w", ROLES[1], (Coord((("R", 1),), 0, r), Coord((("K", 2),), 0, 2 * k - 1)))
    z = Tensor("z", ROLES[2], (Coord((("M", 1),), 0, m), Coord((("P", 1),), 0, p), Coord((("K", 1),), 0, k)))
    return Problem("strided", (("M", m), ("P", p), ("R", r), ("K", k)), (x, w, z))


@st.composite
def problems(draw) -> Problem:
    kind = draw(st.sampled_from(["conv", "conv", "gemm", "bmm", "bmm", "strided"]))
    if kind == "conv":
        return from_layer(draw(small_layers(max_hw=6)))
    if kind == "gemm":
        return gemm("g", draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    if kind == "bmm":
        return bmm("b", draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                   draw(st.integers(1, 4)), ("query", "key", "score"))
    return draw(strided_1d())


@st.composite
def hierarchies(draw, shapes: tuple[tuple[int, frozenset[int]], ...] = ()) -> Hierarchy:
    """Random keeps and fanout sizes; the shape (levels, the levels with a fanout) random too, or one
    of ``shapes`` when given (e.g. to bound how many shape-specialised kernels a test compiles)."""
    if shapes:
        n, fan_at = draw(st.sampled_from(shapes))
    else:
        n = draw(st.integers(1, 4)) + 1
        fan_at = draw(st.sets(st.integers(0, n - 1), max_size=2))
    levels = []
    for i in range(n):
        keeps = ROLES if i == 0 else tuple(r for r in ROLES if draw(st.booleans()))
        fan = Fanout(draw(st.integers(1, 3)), draw(st.integers(1, 3)), "bus") if i in fan_at else None
        levels.append(Storage(f"L{i}", keeps, fanout=fan))
    return Hierarchy("random", tuple(levels))


@st.composite
def nests(draw, problem: Problem, hierarchy: Hierarchy) -> LoopNest:
    n = len(hierarchy.levels)
    temporal = [dict() for _ in range(n)]
    spatial = [{a: {} for a in AXES} for _ in range(n)]
    room = {(i, a): getattr(lv.fanout, a) for i, lv in enumerate(hierarchy.levels) if lv.fanout for a in AXES}
    for d in problem.dim_names:
        D = problem.size(d)
        span = 1
        # slots inner -> outer: per level from the innermost: its fanout (y then x), then its temporal loop
        for i in range(n - 1, -1, -1):
            for a in reversed(AXES):
                if (i, a) in room:
                    f = draw(st.integers(1, max(1, min(ceil_div(D, span), room[(i, a)]))))
                    room[(i, a)] //= f
                    spatial[i][a][d] = f
                    span *= f
            if i == 0:
                temporal[0][d] = ceil_div(D, span)
            else:
                f = draw(st.integers(1, ceil_div(D, span)))
                temporal[i][d] = f
                span *= f
    dims = list(problem.dim_names)
    levels = []
    for i, lv in enumerate(hierarchy.levels):
        order = tuple(draw(st.permutations(dims)))
        keeps = ROLES if i == 0 else tuple(r for r in lv.keeps if draw(st.booleans()))
        levels.append(LevelMap(lv.name, tuple(temporal[i].items()), order, keeps,
                               tuple(spatial[i]["x"].items()), tuple(spatial[i]["y"].items())))
    nest = LoopNest(tuple(levels))
    assume(not problems_of(problem, hierarchy, nest))
    return nest
