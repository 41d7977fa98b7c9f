"""One pass's traffic per data stream, as the simulator hands it to the arch's NoC model.

A public view of the simulator's schedule (accelsim.sim.passes) for notebooks and labs: the Flow
objects ``simulate_layer`` times, for one pass class, as each refill moves them (the simulator then
spreads the part of an input's RF refill that fits beside the current tile over the passes that use
it: accelsim.sim.timing.prefetch_share). Pure; the words of a stream summed over all
passes are the cost model's counts (the schedule's invariant).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.counts import Counts
from accelsim.mapping import Mapping
from accelsim.sim.passes import schedule
from accelsim.sim.timing import Context, flows_of_class
from noc.flow import Flow
from workloads.layer import Layer


@dataclass(frozen=True)
class PassFlows:
    carry_level: int               # which pass class: -1 the first pass, levels - 1 the innermost (commonest)
    levels: int                    # carry levels of the schedule
    passes: int                    # passes of the whole layer
    compute_cycles: float          # ideal (compute) cycles of one pass: the layer's ideal cycles / passes
    flows: dict[str, Flow]         # stream -> distinct and delivered words of one pass, and the PE layout


def pass_flows(layer: Layer, arch, mapping: Mapping, counts: Counts, carry_level: int | None = None) -> PassFlows:
    """The traffic of one pass of ``carry_level`` (default: the innermost, the pass in which only the
    innermost loop above the RFs advances, the commonest)."""
    sched = schedule(layer, mapping, counts)
    j = sched.levels - 1 if carry_level is None else carry_level
    flows = flows_of_class(sched, j, Context.of(arch), arch)
    compute = counts.cycles / sched.total_passes if sched.total_passes else 0.0
    return PassFlows(j, sched.levels, sched.total_passes, compute, flows)
