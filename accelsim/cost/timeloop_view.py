"""Our action table in Timeloop's conventions: per storage level and tensor, Timeloop's scalar reads,
fills and updates (totals over instances; Timeloop prints them per instance).

``timeloop_view(problem, hierarchy, nest, actions) -> list[TimeloopRow]`` is pure: it reads the
action table and, for the one number the table does not hold (how many output elements each
instance of the level that feeds the MACs touches), the closed-form oracle. The differences it
undoes (docs/interop.md, "Timeloop's counting conventions"):

- operands (ifmap, weight): the same. reads = our ``read`` (a multicast read once, the overlap a
  sliding refill keeps not re-read), fills = our ``fill`` summed over instances.
- the output (psum), updates: the same (our ``update``: partial sums arriving from below after
  spatial reduction, or MAC results).
- the output, fills: Timeloop fills every output tile into every instance that computes on it,
  the first visit (a zero tile) included and each instance of a spatial reduction its own copy,
  so its fills are our ``drain`` (each tile that goes in comes back out). Ours count only the
  partial sums that really come down from the parent, once.
- the output, reads: Timeloop elides the read of an element's first touch in each instance (its
  value is zero) at every level, and does not count the reads that drain outputs upward (our
  ``drain``). For a level feeding a buffer below, our ``read`` is already updates minus first
  touches; for the level feeding the MACs we count a read at every MAC (read-modify-write), so
  Timeloop's is ours minus the (instance, element) first touches there.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.actions import Actions, Analytic
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest, flatten
from accelsim.names import DRAIN, FILL, OUTPUT_ROLE, READ, ROLES, UPDATE
from accelsim.problem import Problem


@dataclass(frozen=True)
class TimeloopRow:
    level: str
    tensor: str      # the problem's tensor name (role in ``role``)
    role: str
    reads: int
    fills: int
    updates: int


def timeloop_view(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, actions: Actions) -> list[TimeloopRow]:
    """Timeloop's per-level scalar reads / fills / updates (totals) of ``actions``, outermost level first."""
    names = hierarchy.level_names
    keeping = {r: [i for i, lm in enumerate(nest.levels) if r in lm.keeps or i == 0] for r in ROLES}
    oracle = None
    rows = []
    for i, name in enumerate(names):
        for role in ROLES:
            if i not in keeping[role]:
                continue
            tensor = problem.tensor(role).name

            def get(action: str, name: str = name, role: str = role) -> int:
                return actions.storage.get((name, role, action), 0)

            if role != OUTPUT_ROLE:
                rows.append(TimeloopRow(name, tensor, role, get(READ), get(FILL), 0))
                continue
            reads = get(READ)
            if i == keeping[role][-1]:        # feeds the MACs: ours reads at every MAC
                if oracle is None:
                    oracle = Analytic(problem, flatten(problem, nest))
                reads -= oracle.first(role, i, len(oracle.flat.loops))
            rows.append(TimeloopRow(name, tensor, role, reads, get(DRAIN), get(UPDATE)))
    return rows


def timeloop_text(rows: list[TimeloopRow], macs: int, cycles: int) -> str:
    """The rows as a table (Timeloop's names: Scalar reads / fills / updates, totals over instances)."""
    table = [("level", "tensor", "reads", "fills", "updates")]
    table += [(r.level, r.tensor, f"{r.reads:,}", f"{r.fills:,}", f"{r.updates:,}") for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    lines = [f"Timeloop's conventions (scalar reads / fills / updates, totals over instances): "
             f"MACs {macs:,}, cycles {cycles:,}"]
    for t in table:
        lines.append("  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(t, widths))))
    return "\n".join(lines)
