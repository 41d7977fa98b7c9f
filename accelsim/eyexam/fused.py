"""Eyexam for a fused group: bounds on its cycles, each step at least the previous, then the simulation.

1 all MACs at once on every PE (``macs / PEs``, recomputation included).  2 the per-tile work: each
core runs its tiles' steps one after another (every layer's exact bound on each tile,
``accelsim.cost.fused_levels.tile_cycles``), the busiest core's sum.  3 DRAM bandwidth: step 2 or the
group's exact DRAM words at the arch's bandwidth, whichever is slower.  4 the simulation
(``accelsim.sim.fused``): steps pipelined through the layers' buffers, stalls by cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.cost.fused import GroupCounts
from accelsim.sim.fused import GroupSim, TileWork

GROUP_STEPS = ("every MAC on every PE", "the per-tile work of the busiest core", "DRAM bandwidth", "simulated tiles")


@dataclass(frozen=True)
class GroupStep:
    step: int
    name: str
    cycles: float


def tile_bound(work: Sequence[TileWork]) -> float:
    """Step 2: the largest sum, over the cores, of their tiles' step cycles."""
    per_core: dict[int, float] = {}
    for w in work:
        per_core[w.core] = per_core.get(w.core, 0.0) + sum(w.steps)
    return max(per_core.values(), default=0.0)


def group_steps(counts: GroupCounts, work: Sequence[TileWork], sim: GroupSim, pes: int,
                words_per_cycle: float) -> tuple[GroupStep, ...]:
    two = tile_bound(work)
    bounds = [counts.macs / pes, two, max(two, counts.dram_words / words_per_cycle), sim.cycles]
    return tuple(GroupStep(i + 1, name, c) for i, (name, c) in enumerate(zip(GROUP_STEPS, bounds)))
