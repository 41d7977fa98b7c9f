"""Eyexam steps 1-7 on a level-list hierarchy (the fixed shape's are accelsim.eyexam.steps): each an
upper bound on MACs per cycle that the next step can only lower.

1 layer size: every MAC at once.  2 dataflow: the product of the dims its rule may spread over the
fanouts (``dataflows.nest_rule``).  3 compute units: step 2 folded onto all of them.  4 fanout
shapes: the rule's split of those dims over each fanout's x and y axes, before any capacity fix
(per-dimension fragmentation: prod D / ceil(D / spread)).  5 storage: the mapping used, whose tiles
fit every capacity (MACs / its temporal steps).  6 average bandwidth: the latency bound of every
level and network (accelsim.cost.bound.bound_parts).  7 the simulation (accelsim.sim.general:
its cycles, never below step 6's bound, and its stalls by resource), when the layer was simulated;
without it (``--no-sim``) step 6's bound is the layer's cycles and there is no step 7.
"""

from __future__ import annotations

from accelsim.cost.actions import Actions
from accelsim.cost.bound import bound_parts
from accelsim.eyexam.steps import Step, append_step
from accelsim.hierarchy import Hierarchy
from accelsim.names import X
from accelsim.problem import Problem


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def hierarchy_steps(problem: Problem, hierarchy: Hierarchy, actions: Actions, flow, sim=None) -> tuple[Step, ...]:
    """Steps 1-6 for ``actions`` (the counts of the mapping used) under dataflow ``flow``, and step 7
    when ``sim`` (the layer's SimResult) is given."""
    from dataflows.nest_rule import resolve, spatial_split

    out: list[Step] = []

    def add(value: float, reason: str) -> None:
        append_step(out, value, reason)

    macs = problem.macs
    size = dict(problem.dims)
    add(float(macs), f"finite workload: {macs:,} MACs")
    rule = flow.rule
    spread = tuple(dict.fromkeys(resolve(rule.x, problem) + resolve(rule.y, problem)))
    par = 1
    for d in spread:
        par *= size[d]
    idle = [d for d in problem.dim_names if d not in spread and size[d] > 1]
    add(float(par), f"dataflow {flow.name} spreads only {'/'.join(spread) or 'nothing'}"
        + (f"; {'/'.join(idle)} stay temporal" if idle else ""))
    units = hierarchy.instances
    add(par / ceil_div(par, units), f"{units} compute units: {par:,} parallel MACs fold {ceil_div(par, units):,} times")
    split = spatial_split(rule, problem, hierarchy)
    total = {d: 1 for d in problem.dim_names}
    shape = []
    for i, f in hierarchy.fanouts:
        parts = []
        for axis in (X, "y"):
            got = split[(i, axis)]
            for d, s in got.items():
                total[d] *= s
            parts.append("x".join(f"{d}{s}" for d, s in got.items()) or "-")
        shape.append(f"{f.x}x{f.y} below {hierarchy.levels[i].name}: x {parts[0]}, y {parts[1]}")
    v4 = 1.0
    for d, s in total.items():
        v4 *= size[d] / ceil_div(size[d], s)
    add(v4, "; ".join(shape) or "no fanout")
    add(macs / actions.cycles if actions.cycles else 0.0,
        f"mapping that fits every capacity: {actions.active:,} units, {actions.cycles:,} steps")
    cycles = bound_parts(actions, hierarchy)
    top = max(cycles, key=lambda k: cycles[k])
    bound = cycles[top]
    add(macs / bound if bound else 0.0, f"{top}: {bound:,.0f} cycles at its bandwidth")
    if sim is not None:
        stalls = {k: v for k, v in sim.stall_cycles.items() if v}
        worst = f" (mostly {max(stalls, key=lambda k: stalls[k])})" if stalls else ""
        add(macs / sim.cycles if sim.cycles else 0.0,
            f"simulated {sim.cycles:,} cycles; stalls "
            + (", ".join(f"{k} {v:,}" for k, v in stalls.items()) or "none") + worst)
    return tuple(out)


__all__ = ["hierarchy_steps"]
