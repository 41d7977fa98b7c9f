"""Eyexam for a fused group: bounds on its cycles, each step at least the previous, then the simulation.

1 all MACs at once on every PE (``macs / PEs``, recomputation included).  2 the layers' own inner
mappings: the sum of their layer-by-layer cycles scaled by their recomputation (the compute the
tiles do).  3 DRAM bandwidth: step 2 or the group's exact DRAM words at the arch's bandwidth,
whichever is slower.  4 the simulation (``accelsim.sim.fused``): tiles, double buffering, stalls.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.fused import GroupCounts
from accelsim.sim.fused import GroupSim

GROUP_STEPS = ("every MAC on every PE", "the layers' inner mappings", "DRAM bandwidth", "simulated tiles")


@dataclass(frozen=True)
class GroupStep:
    step: int
    name: str
    cycles: float


def group_steps(counts: GroupCounts, sim: GroupSim, pes: int, words_per_cycle: float) -> tuple[GroupStep, ...]:
    bounds = [counts.macs / pes, sim.compute, max(sim.compute, counts.dram_words / words_per_cycle), sim.cycles]
    return tuple(GroupStep(i + 1, name, c) for i, (name, c) in enumerate(zip(GROUP_STEPS, bounds)))
