"""A dataflow's named mapping on ANY hierarchy: a rule (data) and the one builder that applies it.

A :class:`NestRule` says, in the conv built-in's dim names (``accelsim.names.CONV_DIMS``):
- ``x`` / ``y``: the dims spread over every fanout's x and y axes, in order of preference (each
  takes what it can use of what the axis has left, outer fanouts first);
- ``stationary``: the tensor roles the innermost buffer keeps (the others bypass it);
- ``inner``: the dims looped whole inside the innermost buffer (its temporal loops, outer -> inner);
- ``outer_innermost``: the dims innermost in every other level's loop order.

A problem that is not a conv names its dims otherwise: a rule's dim is used by name when the problem
has a dim of that name indexing the same tensor roles, else replaced by the problem's dims indexing
the same roles as it does in a conv (``CONV_ROLES``; a gemm's M is an output pixel P, its K a
reduction C, its N an output channel K). :func:`build` then tiles greedily (module invariants):

- levels: the *innermost buffer* is the innermost of ``Hierarchy.buffers`` keeping something (not
  the backing store, not a last register level); the *home* is the innermost buffer above it
  (else the backing store). What the fanouts and the innermost buffer do not take starts at the home;
- factors are materialized inner -> outer per dim, each clipped to ``ceil(D / inner span)`` (so no
  loop over-tiles) and the backing store takes the rest (so every dim is covered);
- while a capacity group overflows, at the innermost such level a factor under it (its own temporal
  loop first, then deeper temporal loops, then the spatial loops below it; dims indexing the largest
  overflowing tile first) is halved and the rest moved to the nearest level above that may split it;
- hardware constraints (``unsplit``) are honoured; a nest that is still illegal is a ConfigError
  naming the dataflow, the problem and the hierarchy, never a silent fallback.
Pure and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LevelMap, LoopNest, flatten, problems_of, tile_words
from accelsim.names import AXES, IFMAP, PSUM, ROLES, WEIGHT, X, Y
from accelsim.problem import Problem

# the roles each conv dim indexes (workloads' conv problem, accelsim.problem.from_layer)
CONV_ROLES: dict[str, frozenset[str]] = {
    "N": frozenset((IFMAP, PSUM)), "G": frozenset(ROLES), "K": frozenset((WEIGHT, PSUM)),
    "C": frozenset((IFMAP, WEIGHT)), "P": frozenset((IFMAP, PSUM)), "Q": frozenset((IFMAP, PSUM)),
    "R": frozenset((IFMAP, WEIGHT)), "S": frozenset((IFMAP, WEIGHT)),
}
_GUARD = 4000


@dataclass(frozen=True)
class NestRule:
    x: tuple[str, ...]
    y: tuple[str, ...]
    stationary: tuple[str, ...]
    inner: tuple[str, ...]
    outer_innermost: tuple[str, ...] = ()


def roles_of(problem: Problem, dim: str) -> frozenset[str]:
    return frozenset(t.role for t in problem.tensors if dim in t.dims)


def resolve(names: tuple[str, ...], problem: Problem, taken: set[str] | None = None) -> tuple[str, ...]:
    """The problem's dims for a rule's conv dim names (by name when the roles match, else by roles),
    each once and not in ``taken``."""
    taken = set() if taken is None else set(taken)
    out: list[str] = []
    for n in names:
        want = CONV_ROLES[n]
        if n in problem.dim_names and roles_of(problem, n) == want:
            hits = [n]
        else:
            hits = [d for d in problem.dim_names if d not in CONV_ROLES or roles_of(problem, d) != CONV_ROLES[d]]
            hits = [d for d in hits if roles_of(problem, d) == want]
        for d in hits:
            if d not in taken and d not in out:
                out.append(d)
    return tuple(out)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def levels_of(hierarchy: Hierarchy) -> tuple[int, int]:
    """(innermost buffer, home) level indices (module docstring)."""
    buffers = [i for i in hierarchy.buffers if hierarchy.levels[i].keeps]
    if not buffers:
        return 0, 0
    return buffers[-1], (buffers[-2] if len(buffers) > 1 else 0)


def spatial_split(rule: NestRule, problem: Problem, hierarchy: Hierarchy) -> dict[tuple[int, str], dict[str, int]]:
    """The rule's spatial factors per (fanout level, axis) before any capacity fix."""
    rem = dict(problem.dims)
    xs = resolve(rule.x, problem)
    ys = resolve(rule.y, problem)
    out: dict[tuple[int, str], dict[str, int]] = {}
    for i, f in hierarchy.fanouts:
        for axis, names, size, banned in ((X, xs, f.x, f.unsplit_x), (Y, ys, f.y, f.unsplit_y)):
            got: dict[str, int] = {}
            space = size
            for d in names:
                take = min(rem[d], space)
                if d in banned or take <= 1:
                    continue
                got[d] = take
                space //= take
                rem[d] = ceil_div(rem[d], take)
            out[(i, axis)] = got
    return out


def build(rule: NestRule, problem: Problem, hierarchy: Hierarchy, flow: str = "?") -> LoopNest:
    """The rule's legal loop nest for ``problem`` on ``hierarchy`` (module docstring)."""
    dims = problem.dim_names
    size = dict(problem.dims)
    levels = hierarchy.levels
    st, home = levels_of(hierarchy)
    spatial = spatial_split(rule, problem, hierarchy)
    rem = dict(size)
    for (_, _), got in spatial.items():
        for d, f in got.items():
            rem[d] = ceil_div(rem[d], f)
    temporal: list[dict[str, int]] = [{} for _ in levels]
    inner = resolve(rule.inner, problem)
    for d in inner:
        if d not in levels[st].unsplit and rem[d] > 1:
            temporal[st][d] = rem[d]
            rem[d] = 1
    if home:
        for d in dims:
            if rem[d] > 1 and d not in levels[home].unsplit:
                temporal[home][d] = rem[d]
    positions: list[tuple[int, str | None]] = []          # outer -> inner: (level, axis or None)
    for i, lv in enumerate(levels):
        positions.append((i, None))
        if lv.fanout is not None:
            positions += [(i, X), (i, Y)]

    def desired(pos: tuple[int, str | None]) -> dict[str, int]:
        i, axis = pos
        return temporal[i] if axis is None else spatial[(i, axis)]

    def materialize() -> LoopNest:
        actual: dict[tuple[int, str | None], dict[str, int]] = {p: {} for p in positions}
        for d in dims:
            span = 1
            for pos in reversed(positions[1:]):
                f = min(desired(pos).get(d, 1), ceil_div(size[d], span))
                if f > 1:
                    actual[pos][d] = f
                    span *= f
            if ceil_div(size[d], span) > 1:
                actual[(0, None)][d] = ceil_div(size[d], span)
        oi = resolve(rule.outer_innermost, problem)
        out = []
        for i, lv in enumerate(levels):
            if i == 0:
                keeps = ROLES
            elif i == st:
                keeps = tuple(r for r in ROLES if r in rule.stationary and lv.keeps_role(r))
            else:
                keeps = lv.keeps
            order = (inner if i == st else tuple(d for d in dims if d not in oi) + oi)
            fac = tuple((d, f) for d, f in actual[(i, None)].items())
            x = tuple(actual[(i, X)].items()) if lv.fanout is not None else ()
            y = tuple(actual[(i, Y)].items()) if lv.fanout is not None else ()
            out.append(LevelMap(lv.name, fac, tuple(order), keeps, x, y))
        return LoopNest(tuple(out))

    for _ in range(_GUARD):
        nest = materialize()
        over = _overflow(problem, hierarchy, nest)
        if over is None:
            break
        i, role = over
        move = _pick(problem, nest, positions, i, role)
        if move is None:
            raise ConfigError(f"dataflow {flow!r}: problem {problem.name!r} does not fit level "
                              f"{levels[i].name!r} of {hierarchy.name!r} even with one tile per pass",
                              source=hierarchy.source)
        pos, d = move
        f = dict(nest.levels[pos[0]].factors if pos[1] is None else
                 (nest.levels[pos[0]].x if pos[1] == X else nest.levels[pos[0]].y))[d]
        desired(pos)[d] = ceil_div(f, 2)
        for p in range(i - 1, 0, -1):        # the rest to the nearest level above that may split d
            if d not in levels[p].unsplit:
                temporal[p][d] = temporal[p].get(d, 1) * 2
                break
    else:
        raise ConfigError(f"dataflow {flow!r}: no tiling of {problem.name!r} fits {hierarchy.name!r}",
                          source=hierarchy.source)
    bad = problems_of(problem, hierarchy, nest)
    if bad:
        key, message = bad[0]
        raise ConfigError(f"dataflow {flow!r} cannot map {problem.name!r} onto {hierarchy.name!r}: {message}",
                          source=hierarchy.source, key=key)
    return nest


def _overflow(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> tuple[int, str] | None:
    """(innermost level whose capacity overflows, the role of its largest overflowing tile), or None."""
    flat = flatten(problem, nest)
    for i in range(len(nest.levels) - 1, -1, -1):
        lv, lm = hierarchy.levels[i], nest.levels[i]
        if not lv.capacity:
            continue
        words = {r: tile_words(problem, flat, flat.cut_of(i, r))[r] for r in lm.keeps}
        for group, cap in lv.capacity:
            kept = [r for r in group if r in lm.keeps]
            if sum(words[r] for r in kept) > cap:
                return i, max(kept, key=lambda r: words[r])
    return None


def _pick(problem: Problem, nest: LoopNest, positions, level: int, role: str):
    """The factor to halve for an overflow at ``level``: (position, dim), or None."""
    below = [p for p in positions if p[0] >= level]       # the loops under the level's cut
    temporal = [p for p in below if p[1] is None]
    spatial = [p for p in below if p[1] is not None]
    rel = problem.relevant(role)
    for want_rel in (True, False):
        for pos in temporal + spatial:
            lm = nest.levels[pos[0]]
            pairs = lm.factors if pos[1] is None else (lm.x if pos[1] == X else lm.y)
            for d, f in pairs:
                if f > 1 and (d in rel) == want_rel:
                    return pos, d
    return None


__all__ = ["AXES", "CONV_ROLES", "NestRule", "build", "levels_of", "resolve", "spatial_split"]
