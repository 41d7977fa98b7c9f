"""Scoring: the cost model's counts turned into the number a search minimises.

Objectives are a registry: energy (pJ, accelsim.cost.model.fixed_energy), cycles (the bandwidth-aware
bound accelsim.cost.bound.latency_bound: compute cycles, or the DRAM, GLB or NoC traffic at their
bandwidths if that is longer) and edp (their product).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelsim.cost.bound import latency_bound
from accelsim.cost.counts import Counts
from accelsim.cost.model import fixed_energy


@dataclass(frozen=True)
class Score:
    objective: float
    energy_pj: float
    cycles: float


# (energy, cycles) -> objective; floats, or numpy arrays of a batch
OBJECTIVES: dict[str, Callable[[Any, Any], Any]] = {
    "energy": lambda energy, cycles: energy,
    "cycles": lambda energy, cycles: cycles,
    "edp": lambda energy, cycles: energy * cycles,
}


def score(counts: Counts, arch, objective: str) -> Score:
    energy = fixed_energy(counts, arch).total_pj
    cycles = latency_bound(counts, arch)
    return Score(OBJECTIVES[objective](energy, cycles), energy, cycles)
