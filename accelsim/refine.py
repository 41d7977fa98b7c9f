"""The last reducer of a search: re-rank the mapper's shortlist by simulated time.

The mappers score delay with a latency bound (compute, or each level's and network's traffic at its
bandwidth): fast, but blind to what only the simulation sees (transfers a full buffer cannot
overlap, PE cycles spent on psum adds, fill and drain). A refinement simulates candidate mappings
(a search's ``shortlist`` plus the dataflow's named mapping, so the result is never worse than it
in simulation) and keeps the best by the search's objective on (energy, simulated cycles).

One reducer, :func:`best_simulated`, over any candidate type; its two users:

- :func:`by_simulation`: fixed-shape archs (``accelsim.mapping.Mapping``, ``cost.model.evaluate``
  and the fixed-shape simulator ``sim.simulate_layer``);
- :func:`by_simulation_nest`: level-list hierarchies (``loopnest.LoopNest``, ``cost.actions``
  and ``cost.energy.energy_parts``, the simulator over any hierarchy ``sim.general.simulate_nest``).

Invariants: the kept candidate's objective is the minimum over the candidates (each simulated
once); ties keep the candidates' order (the first wins), so the result is a pure function of the
candidate sequence. Pipeline layer: it combines the mappers' candidates with the simulators
(neither imports the other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from accelsim.mapper.score import OBJECTIVES

if TYPE_CHECKING:
    from accelsim.cost.actions import Actions
    from accelsim.cost.model import LayerResult
    from accelsim.energy_table import EnergyTable
    from accelsim.hierarchy import Hierarchy
    from accelsim.loopnest import LoopNest
    from accelsim.mapping import Mapping
    from accelsim.problem import Problem
    from accelsim.sim.result import SimResult

C = TypeVar("C")     # a candidate mapping
P = TypeVar("P")     # what simulating it gave (its counts, costs and simulation)


@dataclass(frozen=True)
class Ranked(Generic[C, P]):
    candidate: C
    rank: int                     # its place among the candidates (0: the first given)
    energy_pj: float
    cycles: float                 # simulated
    objective: float              # OBJECTIVES[objective](energy_pj, cycles)
    payload: P


def best_simulated(candidates: Sequence[C], simulated: Callable[[C], tuple[float, float, P]],
                   objective: str) -> Ranked[C, P]:
    """The candidate with the lowest ``objective`` on ``simulated(candidate) -> (energy pJ,
    simulated cycles, payload)``; ties keep their order."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    best: Ranked[C, P] | None = None
    for rank, c in enumerate(candidates):
        energy, cycles, payload = simulated(c)
        key = OBJECTIVES[objective](energy, float(cycles))
        if best is None or key < best.objective:
            best = Ranked(c, rank, energy, float(cycles), key, payload)
    if best is None:
        raise ValueError("a refinement needs at least one candidate mapping")
    return best


@dataclass(frozen=True)
class Refined:
    mapping: Mapping
    result: LayerResult
    sim: SimResult                # the simulation of that mapping
    rank: int                     # its place among the candidates (0: the mapper's own choice)


def by_simulation(layer, arch, candidates: Sequence[Mapping], objective: str) -> Refined:
    """Fixed-shape archs: the candidate with the lowest objective on (energy, simulated cycles)."""
    from accelsim.cost.model import evaluate
    from accelsim.sim import simulate_layer

    def simulated(m: Mapping) -> tuple[float, float, tuple[LayerResult, SimResult]]:
        r = evaluate(layer, arch, m, validate=False)
        sim = simulate_layer(layer, arch, m, r.counts)
        return r.energy_pj, float(sim.cycles), (r, sim)

    best = best_simulated(candidates, simulated, objective)
    result, sim = best.payload
    return Refined(best.candidate, result, sim, best.rank)


@dataclass(frozen=True)
class NestCost:
    """A nest's costs on a hierarchy as the run reports them (``pipeline_hierarchy``)."""

    actions: Actions
    energy_parts_pj: dict[str, float]     # cost.energy.energy_parts
    energy_by_tensor_pj: dict[str, float]
    sim: SimResult


def nest_cost(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, table: EnergyTable) -> NestCost:
    """Count, price and simulate one nest (the run's energy is the sum of its parts)."""
    from accelsim.cost.actions import count_actions
    from accelsim.cost.energy import energy_parts
    from accelsim.sim.general import simulate_nest

    actions = count_actions(problem, hierarchy, nest)
    parts, by_tensor = energy_parts(actions, hierarchy, table)
    return NestCost(actions, parts, by_tensor, simulate_nest(problem, hierarchy, nest, actions))


def by_simulation_nest(problem: Problem, hierarchy: Hierarchy, candidates: Sequence[LoopNest], objective: str,
                       table: EnergyTable) -> Ranked[LoopNest, NestCost]:
    """Level-list hierarchies: the candidate nest with the lowest objective on (energy, simulated
    cycles); ``payload`` holds its action table, energy and simulation."""

    def simulated(nest: LoopNest) -> tuple[float, float, NestCost]:
        c = nest_cost(problem, hierarchy, nest, table)
        return sum(c.energy_parts_pj.values()), float(c.sim.cycles), c

    return best_simulated(candidates, simulated, objective)


def candidate_pool(shortlist: Sequence[Any], named: Any | None) -> tuple[Any, ...]:
    """The candidates of a refinement: the search's shortlist (best first) and the dataflow's named
    mapping (the search's seed, whose bound may rank it out of the shortlist although it simulates
    better), each once, in that order."""
    return tuple(dict.fromkeys(tuple(shortlist) + ((named,) if named is not None else ())))


__all__ = ["NestCost", "Ranked", "Refined", "best_simulated", "by_simulation", "by_simulation_nest", "nest_cost",
           "candidate_pool"]
