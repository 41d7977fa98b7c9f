"""Scoring: the cost model's counts turned into the number a search minimises.

Objectives are a registry: energy (pJ, accelsim.cost.model.fixed_energy), cycles (the bandwidth-aware
bound accelsim.cost.bound.latency_bound: compute cycles, or the DRAM, GLB or NoC traffic at their
bandwidths if that is longer) and edp (their product). :func:`sparse_score` is the same objective on
the sparse model (the slow twin of the sparse batch scorer, ``accelsim.mapper.sparse_batch``).
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


def sparse_score(layer, arch, m, objective: str, spec, models) -> tuple[float, Any]:
    """(objective, ``accelsim.sparse.layer.SparseLayer``) of mapping ``m`` with sparsity: the sparse
    energy and the latency bound of the compressed words (``sparse.layer.bandwidth_counts``)."""
    from accelsim.sparse.layer import bandwidth_counts, sparse_layer

    sl = sparse_layer(layer, arch, m, spec, models)
    cycles = latency_bound(bandwidth_counts(sl), arch)
    return OBJECTIVES[objective](sl.energy_pj, cycles), sl
