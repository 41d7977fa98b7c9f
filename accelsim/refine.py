"""The last reducer of a search: re-rank the mapper's shortlist by simulated time.

The mapper scores delay with the Eyexam step-6 bound (compute, or DRAM, GLB and NoC traffic at
their bandwidths): fast, but blind to what only the simulation sees (transfers a full RF cannot
overlap, PE cycles spent on psum adds, fill and drain). ``by_simulation`` simulates candidate
mappings (a search's ``shortlist``) and keeps the best by the same objective on (energy, simulated
cycles).

Pipeline layer: it combines the mapper's candidates with the simulator (neither imports the other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.cost.model import LayerResult, evaluate
from accelsim.mapper.score import OBJECTIVES
from accelsim.mapping import Mapping
from accelsim.sim import SimResult, simulate_layer


@dataclass(frozen=True)
class Refined:
    mapping: Mapping
    result: LayerResult
    sim: SimResult                # the simulation of that mapping
    rank: int                     # its place among the candidates (0: the mapper's own choice)


def by_simulation(layer, arch, candidates: Sequence[Mapping], objective: str) -> Refined:
    """The candidate with the lowest objective on (energy, simulated cycles); ties keep their order."""
    best: tuple[float, Refined] | None = None
    for rank, m in enumerate(candidates):
        r = evaluate(layer, arch, m, validate=False)
        sim = simulate_layer(layer, arch, m, r.counts)
        key = OBJECTIVES[objective](r.energy_pj, float(sim.cycles))
        if best is None or key < best[0]:
            best = (key, Refined(m, r, sim, rank))
    if best is None:
        raise ValueError("by_simulation needs at least one candidate mapping")
    return best[1]
