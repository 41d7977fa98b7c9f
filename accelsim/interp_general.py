"""Brute-force ground truth over any hierarchy and any problem: walk the schedule, count events.

:class:`BruteForce` answers the oracle questions of ``accelsim.cost.actions`` by enumeration: it
executes every (temporal step, spatial instance) of the flattened nest, computes each tensor's
coordinates from the problem's projections point by point, builds each refill event's tile as the
set of coordinates its points touch (clipped to the tensor), and walks the schedule in order,
counting tile volumes when an instance's refill key changes and the kept overlap when the change
is one step of the innermost indexing loop. It shares nothing with the closed form but the nest
flattening and the documented semantics (``accelsim.loopnest``), so ``count_actions`` must equal
:func:`interpret` exactly. Small problems only (every MAC is visited).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from accelsim.cost.actions import Actions, assemble
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import Flat, LoopNest, flatten
from accelsim.problem import Problem


class BruteForce:
    """``measure(role, box)``, when given, replaces a tile's volume (the product of its axes' sizes) by any
    measure of the box (per axis, the set of in-range coordinates): the sparse ground truth measures
    compressed words on a mask this way (tests/test_sparse_exact*.py); an output's first touches are
    then measured per update event (the part of its tile its parent instance had not touched).
    ``keep(role, cut, points)``, when given, counts only the refill events it accepts (``points``: the
    event's points, each its digit per flattened loop): the sparse ground truth counts the events a
    gate or skip makes ineffective this way. An event left out still sets its instance's last refill
    key (the next event's sliding overlap is the schedule's)."""

    def __init__(self, problem: Problem, flat: Flat, measure: Callable[[str, list], Any] | None = None,
                 keep: Callable[[str, int, list], bool] | None = None):
        self.problem = problem
        self.flat = flat
        self.measure = measure
        self.keep = keep
        loops = flat.loops
        self.temporal = [i for i, lp in enumerate(loops) if not lp.spatial]
        self.spatial = [i for i, lp in enumerate(loops) if lp.spatial]
        dims = problem.dim_names
        size = [problem.size(d) for d in dims]
        col = {d: k for k, d in enumerate(dims)}
        # per step: [(spatial digits, dim index vector)] of the active points
        self.active: list[tuple[tuple[int, ...], list[tuple[tuple[int, ...], tuple[int, ...]]]]] = []
        for tdig in itertools.product(*[range(loops[i].factor) for i in self.temporal]):
            pts = []
            for sdig in itertools.product(*[range(loops[i].factor) for i in self.spatial]):
                idx = [0] * len(dims)
                for i, v in zip(self.temporal, tdig):
                    idx[col[loops[i].dim]] += v * loops[i].span
                for i, v in zip(self.spatial, sdig):
                    idx[col[loops[i].dim]] += v * loops[i].span
                if all(x < n for x, n in zip(idx, size)):
                    pts.append((sdig, tuple(idx)))
            self.active.append((tdig, pts))
        self._col = col
        self._cache: dict = {}

    def macs(self) -> int:
        return sum(len(pts) for _, pts in self.active)

    def cycles(self) -> int:
        return sum(1 for _, pts in self.active if pts)

    def _coords(self, role: str, idx: tuple[int, ...]) -> tuple[int, ...]:
        out = []
        for c in self.problem.tensor(role).coords:
            out.append(sum(k * idx[self._col[d]] for d, k in c.terms) + c.offset)
        return tuple(out)

    def first(self, role: str, parent: int, cut: int) -> Any:
        above = frozenset(i for i in self.spatial if self.flat.loops[i].level < parent)
        if self.measure is None:
            pos = [k for k, i in enumerate(self.spatial) if i in above]
            seen = set()
            for _, pts in self.active:
                for sdig, idx in pts:
                    seen.add((tuple(sdig[k] for k in pos), self._coords(role, idx)))
            return len(seen)
        # a measure: the update events of the hop (tiles at ``cut``, per parent instance) in schedule
        # order, each measuring the part of its tile no earlier event of its parent instance touched
        # (a whole tile when it is new, nothing when it was touched; else element by element)
        touched: dict = {}
        total: Any = 0
        for skey, _, box in self._events(role, cut, above, False):
            seen = touched.setdefault(skey, set())
            elems = set(itertools.product(*[sorted(a) for a in box]))
            new = elems - seen
            if new == elems and elems:
                total = total + self.measure(role, box)
            elif new:
                total = total + sum((self.measure(role, [frozenset((v,)) for v in e]) for e in sorted(new)), 0)
            seen |= elems
        return total

    def volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[Any, Any]:
        key = (role, cut, instance, streamed)
        if key not in self._cache:
            self._cache[key] = self._volume(role, cut, instance, streamed)
        return self._cache[key]

    def _events(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> list:
        """The refill events of ``role``'s tile below ``cut``, counted per instance of the spatial loops
        ``instance``, in schedule order: (instance digits, refill key, box); a box is per axis the set
        of in-range coordinates its points touch. The points of each event are in ``self.points``."""
        loops = self.flat.loops
        rel = self.problem.relevant(role)
        if streamed:
            key_pos = list(range(len(self.temporal)))
        else:
            idx_rel = [k for k, i in enumerate(self.temporal) if i < cut and loops[i].dim in rel]
            key_pos = list(range(idx_rel[-1] + 1)) if idx_rel else []
        inst_pos = [k for k, i in enumerate(self.spatial) if i in instance]
        limits = [c.size for c in self.problem.tensor(role).coords]
        boxes: dict = {}
        points: dict = {}
        order: list = []
        for tdig, pts in self.active:
            tkey = tuple(tdig[k] for k in key_pos)
            for sdig, idx in pts:
                k = (tuple(sdig[j] for j in inst_pos), tkey)
                if k not in boxes:
                    boxes[k] = [set() for _ in limits]
                    points[k] = []
                    order.append(k)
                box = boxes[k]
                for axis, v in enumerate(self._coords(role, idx)):
                    box[axis].add(v)
                if self.keep is not None:
                    digits = [0] * len(loops)
                    for i, v in zip(self.temporal, tdig):
                        digits[i] = v
                    for i, v in zip(self.spatial, sdig):
                        digits[i] = v
                    points[k].append(tuple(digits))
        self.points = points
        return [(s, t, [frozenset(v for v in axis if 0 <= v < lim) for axis, lim in zip(boxes[(s, t)], limits)])
                for s, t in order]

    def _volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[Any, Any]:
        events = self._events(role, cut, instance, streamed)
        boxes = {(s, t): box for s, t, box in events}

        def vol(box: list[frozenset[int]]) -> Any:
            if self.measure is not None:
                return self.measure(role, box)
            out = 1
            for axis in box:
                out *= len(axis)
            return out

        last: dict = {}
        total: Any = 0
        overlap: Any = 0
        for skey, tkey, box in events:   # the schedule's order: an instance's events follow its refill keys
            prev = last.get(skey)
            last[skey] = tkey
            if self.keep is not None and not self.keep(role, cut, self.points[(skey, tkey)]):
                continue
            total = total + vol(box)
            if (not streamed and prev is not None and tkey and prev[:-1] == tkey[:-1]
                    and tkey[-1] == prev[-1] + 1):
                old = boxes[(skey, prev)]
                overlap = overlap + vol([a & b for a, b in zip(box, old)])
        return total, overlap


def interpret(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> Actions:
    """The action table by brute force (small problems only)."""
    return assemble(problem, hierarchy, nest, BruteForce(problem, flatten(problem, nest)))
