"""The tile positions of a level's cut, and their classes of per-axis extents (edges and padding).

A level's tile of a tensor, at per-dim extents ``ext`` (``sparse.model.dim_extents`` at the level's cut:
the product of the loops below the cut, clipped), covers per dim a contiguous run of ``ext[d]`` indices
starting at a multiple of ``ext[d]``: its **positions** are the runs ``[t e, min(t e + e, size))`` for
``t = 0 .. ceil(size / e) - 1`` (the loops above the cut cover the dim; a ceil edge leaves the last run
short). On an axis of the tensor (a ``problem.Coord``: one dim, or two for a window) a combination of its
dims' positions gives the set of in-range coordinates ``sum k d + offset`` in ``[0, size)``: padding is
no element, so a window's tile is clipped at the borders. A tile position is one combination per axis;
its extent per axis is the size of that set.

:func:`tile_classes` groups the tile positions by their per-axis extents: ``((extents per axis, count),
...)``, an axis's positions independent of another's (a dim indexes a tensor at most once, which
``accelsim.problem`` checks, so the axes use disjoint dims): the product of the axes' histograms. The
count over all classes is the number of tile positions (those with an empty axis included, with extent
0). Pure Python, memoised.

Invariants: the classes' counts multiply out to the product over the tensor's relevant dims of
``ceil(size / ext)``; with every dim whole (the backing store) there is one class, the tensor's shape
(each axis's in-range coordinates); with no ceil edge and no padding there is one class.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from itertools import product

from accelsim.problem import Coord, Problem


def dim_runs_at(size: int, ext: int) -> tuple[range, ...]:
    """The runs of indices a tile of ``ext`` (clipped to the dim) takes along a dim of ``size``."""
    e = max(1, min(ext, size))
    return tuple(range(t, min(t + e, size)) for t in range(0, size, e))


def axis_values(coord: Coord, runs: tuple[range, ...]) -> tuple[int, ...]:
    """The in-range coordinates of one axis over one run per dim of its terms (in term order), sorted."""
    if len(coord.terms) == 1:
        (_, k), = coord.terms
        vals = {k * i + coord.offset for i in runs[0]}
    else:
        (_, k1), (_, k2) = coord.terms
        vals = {k1 * a + k2 * b + coord.offset for a in runs[0] for b in runs[1]}
    return tuple(sorted(v for v in vals if 0 <= v < coord.size))


@lru_cache(maxsize=1 << 14)
def _axis_histogram(coord: Coord, shape: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """(extent, positions) of one axis whose dims have (size, extent) ``shape`` (term order)."""
    hist: Counter = Counter()
    for runs in product(*[dim_runs_at(s, e) for s, e in shape]):
        hist[len(axis_values(coord, runs))] += 1
    return tuple(sorted(hist.items()))


@lru_cache(maxsize=1 << 14)
def _tile_classes(coords: tuple[Coord, ...], shape: tuple[tuple[str, int, int], ...]
                  ) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The product of the axes' histograms (each dim indexes a tensor at most once: ``problem``'s check)."""
    size = {d: n for d, n, _ in shape}
    e = {d: x for d, _, x in shape}
    combos: list[tuple[tuple[int, ...], int]] = [((), 1)]
    for c in coords:
        hist = _axis_histogram(c, tuple((size[d], e[d]) for d, _ in c.terms))
        combos = [(ext_ + (x,), m * n) for ext_, m in combos for x, n in hist]
    merged: Counter = Counter()
    for ext_, n in combos:
        merged[ext_] += n
    return tuple(sorted(merged.items()))


def tile_classes(problem: Problem, ext: dict[str, int], role: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The classes of the role's tile positions at per-dim extents ``ext``: (extent per axis, count),
    sorted (module docstring)."""
    coords, dims = _layout(problem, role)
    return _tile_classes(coords, tuple((d, n, ext[d]) for d, n in dims))


_LAYOUTS: dict[tuple[int, str], tuple[Problem, tuple[Coord, ...], tuple[tuple[str, int], ...]]] = {}


def _layout(problem: Problem, role: str) -> tuple[tuple[Coord, ...], tuple[tuple[str, int], ...]]:
    """The role's axes and its dims with their sizes, remembered per problem object (the identity is
    checked: an id is reused only after its object is gone)."""
    hit = _LAYOUTS.get((id(problem), role))
    if hit is None or hit[0] is not problem:
        if len(_LAYOUTS) > 4096:
            _LAYOUTS.clear()
        rel = problem.relevant(role)
        hit = _LAYOUTS[(id(problem), role)] = (problem, tuple(problem.tensor(role).coords),
                                               tuple((d, problem.size(d)) for d in problem.dim_names if d in rel))
    return hit[1], hit[2]


__all__ = ["axis_values", "dim_runs_at", "tile_classes"]
