"""Named and hand-written mappings of a sparse run against the compressed capacity (issue 16).

A dataflow's named mapping (the fixed shape's ``flow.named`` or a hierarchy's rule nest) picks its
tiles by the dense capacities. Under ``--sparse`` every tile must fit by compressed size, the one
check the sparse searches use (``accelsim.sparse.model.capacity_problems``, equal to
``NestSparseBatch.fits``; the spec's ``capacity: expected | worst`` says which size), as a
Sparseloop user expects of a mapping.

:func:`fit_nest` (and :func:`fit_fixed` on the fixed shape, through ``loopnest.from_fixed`` /
``to_fixed``): while a capacity group overflows, the first overflow (outermost level first) is cut by
lowering one temporal loop's factor and growing the temporal loop of the same dim one level above
the overflowing level to cover what it covered (no more than the dim; ceil tiling). The loops, in
order: the group's roles by compressed words, largest first; the levels from the overflowing one
down; at each level the dims indexing the role, largest factor first, then the problem's dim order.
Taken: the first loop's largest lower factor with which the dense rules accept the nest (``legal``)
and the group fits (the dataflow's own rule, "the most that fit", under the compressed size); when
no single loop makes it fit, the first legal halving (rounded up) that shrinks the group, and again.
Spatial factors (the dataflow's array mapping) and loop orders never change; tiles above the
overflowing level keep their size (or grow by a partial tile's rounding) and tiles at or below it
only shrink. When no candidate helps, :class:`accelsim.errors.CompressedCapacityError` names the
level, the tensors, the compressed and the available words, and the way out (:func:`way_out`).

:func:`smallest` answers whether any tile can fit the overflowed store: the nest with every loop at or
below the level at factor 1 except the dims no loop above it may split (the hierarchy's ``unsplit``
lists of every level above and of both axes of every fanout above: those stay whole in the tile), the
same roles kept. Compressed size only grows with a tile's extents, so when that tile overflows, no
mapping that keeps those roles there fits, and :func:`way_out` says so and what would (the words the
level needs, or the spec without that format) instead of sending the user to ``--search``; where the
searched space may bypass the level (the general mapper on a level list), it says that too.

:func:`check_given` / :func:`check_fixed`: a hand-written mapping is never refit; an overflow is the
error, naming the mapping file and the layer (``where``). :func:`fitting`: the candidates of a list
that fit (``--refine``'s pool, the dense-shortlist re-ranks of ``mapper.sparse_rank``); when none does,
the first one's overflow is the error, with :func:`way_out` on it (``NAMED`` / ``REFINED`` where a
smaller tile fits). :func:`fixed_nests`: a fixed-shape mapping's problem, hierarchy and nest, what
every check here measures it on.

A named mapping that was cut is labelled :data:`FIT_SOURCE` (``mapping_source`` in stats.json, the
table's header and footer); one that fits as it is stays "named".

Invariants: deterministic (no randomness); dense runs never come here (bit-identical to before);
a returned nest passes ``capacity_problems`` and ``legal``; a nest that fits is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from accelsim.errors import CompressedCapacityError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LevelMap, LoopNest, problems_of
from accelsim.names import FIT_SOURCE, X, Y
from accelsim.problem import Problem
from accelsim.sparse.model import Overflow, capacity_problems, capacity_used, compressed_tiles

MAX_MOVES = 4096     # a guard only: every move sends a factor outwards, so the loop ends far sooner


def _with_factor(lm: LevelMap, dim: str, f: int) -> LevelMap:
    """``lm`` with temporal factor ``f`` of ``dim`` (in its place among the factors, else last)."""
    pairs = [(d, f if d == dim else x) for d, x in lm.factors]
    if all(d != dim for d, _ in pairs):
        pairs.append((dim, f))
    return replace(lm, factors=tuple((d, x) for d, x in pairs if x != 1))


def _inner(levels, k: int, dim: str) -> int:
    """The span of ``dim`` below level ``k``'s temporal loops: its fanout and every deeper level."""
    out = 1
    for i in range(k, len(levels)):
        out *= levels[i].spatial(X, dim) * levels[i].spatial(Y, dim) * (levels[i].factor(dim) if i > k else 1)
    return out


def _candidates(problem: Problem, nest: LoopNest, level: int, roles: list[str]) -> Iterator[tuple[int, str]]:
    """(level index, dim) of the temporal loops that cut ``level``'s tiles of ``roles``, in order
    (module docstring)."""
    seen: set[tuple[int, str]] = set()
    for role in roles:
        rel = problem.relevant(role)
        for j in range(level, len(nest.levels)):
            lm = nest.levels[j]
            for d in sorted((d for d in problem.dim_names if d in rel and lm.factor(d) > 1),
                            key=lambda d: -lm.factor(d)):
                if (j, d) not in seen:
                    seen.add((j, d))
                    yield j, d


def _move(problem: Problem, nest: LoopNest, level: int, j: int, dim: str, f: int) -> LoopNest:
    """``nest`` with factor ``f`` of ``dim`` at level ``j`` and the temporal loop of ``dim`` at
    ``level - 1`` grown to cover what it covered (no more than the dim)."""
    levels = list(nest.levels)
    levels[j] = _with_factor(levels[j], dim, f)
    up = levels[level - 1]
    old = up.factor(dim) * _inner(nest.levels, level - 1, dim)
    new = _inner(levels, level - 1, dim)
    levels[level - 1] = _with_factor(up, dim, min(-(-old // new), -(-problem.size(dim) // new)))
    return LoopNest(tuple(levels))


def _used(problem, hierarchy, nest, spec, models, o: Overflow) -> float:
    """The words ``nest``'s tiles take in the store ``o`` overflowed (``capacity_used``)."""
    return next(used for c, used, _ in capacity_used(problem, hierarchy, nest, spec, models) if c == o.check)


def fit_nest(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec, models: dict, what: str,
             legal: Callable[[LoopNest], bool] | None = None, may_bypass: bool = True) -> LoopNest:
    """``nest`` with its tiles cut until they fit by compressed size (module docstring); ``what``
    names the mapping in the error (e.g. "layer 'CONV1': the named mapping of dataflow 'rs'");
    ``legal``: the dense rules (default ``loopnest.problems_of`` on ``hierarchy``); ``may_bypass``:
    whether a search of this run may bypass a level (:func:`way_out`)."""
    if legal is None:
        def legal(n: LoopNest) -> bool:
            return not problems_of(problem, hierarchy, n)
    for _ in range(MAX_MOVES):
        over = capacity_problems(problem, hierarchy, nest, spec, models)
        if not over:
            return nest
        o = over[0]
        level = hierarchy.level_names.index(o.level)
        tiles = compressed_tiles(problem, hierarchy, nest, spec, models)
        roles = sorted(o.roles, key=lambda r: -tiles[(o.level, r)])
        cands = list(_candidates(problem, nest, level, roles))
        nxt = None
        for j, d in cands:            # the largest factor with which the group fits, in one move
            for f in range(nest.levels[j].factor(d) - 1, 0, -1):
                cand = _move(problem, nest, level, j, d, f)
                if legal(cand) and _used(problem, hierarchy, cand, spec, models, o) <= o.words:
                    nxt = cand
                    break
            if nxt is not None:
                break
        else:
            for j, d in cands:        # else halve one factor and look again
                cand = _move(problem, nest, level, j, d, -(-nest.levels[j].factor(d) // 2))
                if legal(cand) and _used(problem, hierarchy, cand, spec, models, o) < o.used:
                    nxt = cand
                    break
        if nxt is None:
            raise CompressedCapacityError(
                f"{what} does not fit by compressed size, nor does any cut of it: {o.message}; "
                f"{way_out(problem, hierarchy, nest, spec, models, o, may_bypass)}", o, source=spec.source)
        nest = nxt
    raise CompressedCapacityError(f"{what}: could not fit the compressed capacity in {MAX_MOVES} moves", o,
                                  source=spec.source)


@dataclass(frozen=True)
class Smallest:
    """The smallest tiles an overflowed store can hold (module docstring): ``used`` words of the
    store at those tiles, ``overflow`` the store's overflow there (None: they fit), ``whole`` the dims
    of its roles no loop above the level may split."""

    used: float
    overflow: Overflow | None
    whole: tuple[str, ...]


def smallest(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec, models: dict, o: Overflow) -> Smallest:
    """The store ``o`` overflowed at the smallest tiles the hierarchy's constraints allow, with the
    roles ``nest`` keeps (module docstring)."""
    k = hierarchy.level_names.index(o.level)

    def pinned(d: str) -> bool:
        return all(d in lv.unsplit and (lv.fanout is None or d in lv.fanout.unsplit_x and d in lv.fanout.unsplit_y)
                   for lv in hierarchy.levels[:k])

    whole = tuple(d for d in problem.dim_names if pinned(d))
    last = len(nest.levels) - 1
    levels = tuple(replace(lm, x=(), y=(), factors=tuple(
        (d, problem.size(d)) for d in problem.dim_names
        if (i == 0 and d not in whole) or (i == last and d in whole))) for i, lm in enumerate(nest.levels))
    used = _used(problem, hierarchy, LoopNest(levels), spec, models, o)
    over = replace(o, used=used) if used > o.words else None
    rel = {d for r in o.roles for d in problem.relevant(r)}
    return Smallest(used, over, tuple(d for d in whole if d in rel and problem.size(d) > 1))


SEARCH = "search with --search (capacity by compressed size; the smallest tile takes {used} words)"
SMALLER = "give smaller tiles (the smallest takes {used} words), or --search (capacity by compressed size)"


def way_out(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec, models: dict, o: Overflow,
            may_bypass: bool, smaller: str = SEARCH) -> str:
    """What the user can do about overflow ``o`` of ``nest`` (module docstring): ``smaller`` when a
    smaller tile fits (formatted with ``used``: its words); else that no tile keeping the roles there
    fits, and what would."""
    low = smallest(problem, hierarchy, nest, spec, models, o)
    if low.overflow is None:
        return smaller.format(used=f"{low.used:,.1f}")
    roles = "+".join(o.roles)
    whole = ""
    if low.whole:
        them = "it" if len(low.whole) == 1 else "them"
        whole = f", with {', '.join(low.whole)} whole (no loop above {o.level} may split {them}),"
    need = math.ceil(low.used)
    if o.check is not None and o.check.metadata:      # a metadata store takes fractional words (bits / word_bits)
        fix = (f"give a metadata_capacity.{o.level}.{roles} of at least {math.ceil(low.used * 100) / 100:g} words, "
               f"or a sparse spec without formats.{o.level}.{roles}")
    else:
        formats = " and ".join(f"formats.{o.level}.{r}" for r in o.roles if spec.format(o.level, r).compressed)
        fix = f"give {o.level} at least {need} words for {roles}, or a sparse spec without {formats or 'its formats'}"
    bypass = f"; or --search, which may bypass {o.level} for {roles}" if may_bypass else ""
    return (f"no tile keeping {roles} at {o.level} fits: the smallest{whole} takes {low.used:,.1f} words "
            f"> {o.words:,}; {fix}{bypass}")


def named_what(layer: str, dataflow: str, target: str) -> str:
    """How the errors name a named mapping."""
    return f"layer {layer!r}: the named mapping of dataflow {dataflow!r} on {target!r}"


def fit_fixed(layer, arch, m, spec, models: dict, dataflow: str):
    """:func:`fit_nest` on a fixed-shape ``accelsim.mapping.Mapping``, the named mapping of
    ``dataflow``: the dense rules are the fixed shape's (``legality.problems_of``: capacities, the
    arch's unsplit dims, the array's size)."""
    from accelsim.legality import problems_of as fixed_problems
    from accelsim.loopnest import to_fixed

    problem, h, nest_of = fixed_nests(layer, arch)
    start = nest_of(m)
    nest = fit_nest(problem, h, start, spec, models, named_what(layer.name, dataflow, arch.name),
                    lambda n: not fixed_problems(layer, to_fixed(n, m), arch), may_bypass=False)
    return m if nest == start else to_fixed(nest, m)


def fixed_nests(layer, arch) -> tuple[Problem, Hierarchy, Callable[[Any], LoopNest]]:
    """``layer``'s problem, ``arch``'s hierarchy and the nest there of a fixed-shape
    ``accelsim.mapping.Mapping`` (``loopnest.from_fixed``): what the compressed capacity of a fixed-shape
    mapping is checked on."""
    from accelsim.hierarchy import from_arch
    from accelsim.loopnest import from_fixed
    from accelsim.problem import from_layer

    h = from_arch(arch)
    return from_layer(layer), h, lambda m: from_fixed(m, h)


def check_given(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec, models: dict, where: str,
                may_bypass: bool = True) -> None:
    """A hand-written mapping must fit by compressed size as given (module docstring); ``where`` names
    it (the mapping file and the layer: "m.yaml: CONV1", or "mapping for layer 'CONV1'"); ``may_bypass``:
    whether a search of this run may bypass a level (:func:`way_out`)."""
    over = capacity_problems(problem, hierarchy, nest, spec, models)
    if over:
        hint = way_out(problem, hierarchy, nest, spec, models, over[0], may_bypass, SMALLER)
        raise CompressedCapacityError(f"the hand-written mapping does not fit by compressed size (sparse spec "
                                      f"{spec.source}): {over[0].message}; {hint}", over[0], source=where)


def check_fixed(layer, arch, m, spec, models: dict, where: str) -> None:
    """:func:`check_given` on a fixed-shape ``accelsim.mapping.Mapping`` (whose searches never bypass)."""
    problem, h, nest_of = fixed_nests(layer, arch)
    check_given(problem, h, nest_of(m), spec, models, where, may_bypass=False)


NAMED = ("run without --search (the named mapping's tiles are cut until they fit by compressed size; the smallest "
         "takes {used} words), or give smaller tiles in a --mapping file")
REFINED = ("drop --refine (--search alone searches by compressed size) or run without --search (the named mapping's "
           "tiles are cut until they fit); the smallest tile takes {used} words")


def fitting(candidates: tuple, problem: Problem, hierarchy: Hierarchy, nest_of: Callable[[Any], LoopNest], spec,
            models: dict, what: str, smaller: str) -> tuple:
    """The candidates (mappings or nests: ``nest_of`` gives each one's nest on ``hierarchy``) whose tiles
    fit by compressed size, in their order; when none does, ``CompressedCapacityError`` naming the first
    one's overflow and the way out (:func:`way_out` on it: ``smaller`` when a smaller tile fits, formatted
    with its words; the searched space is spent, so no bypass is offered). ``what`` names the candidates:
    "layer 'X': no mapping of the search's shortlist"."""
    kept, first = [], None
    for c in candidates:
        nest = nest_of(c)
        over = capacity_problems(problem, hierarchy, nest, spec, models)
        if over:
            first = first or (nest, over[0])
        else:
            kept.append(c)
    if not kept:
        assert first is not None
        nest, o = first
        raise CompressedCapacityError(f"{what} fits by compressed size ({o.message}); "
                                      f"{way_out(problem, hierarchy, nest, spec, models, o, False, smaller)}", o,
                                      source=spec.source)
    return tuple(kept)


__all__ = ["FIT_SOURCE", "MAX_MOVES", "NAMED", "REFINED", "check_fixed", "check_given", "fit_fixed", "fit_nest", "fitting",
           "fixed_nests", "named_what"]
