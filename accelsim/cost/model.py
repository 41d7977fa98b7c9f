"""evaluate(layer, arch, mapping) -> LayerResult: counts, energy = counts x table, ideal cycles. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from accelsim.cost.actions import Actions, add_actions, op_actions
from accelsim.cost.counts import ACCESS_LEVELS, Counts, count, priced_actions_of_counts
from accelsim.cost.energy import EnergyBreakdown, energy_of
from accelsim.energy_table import arch_table, network_name
from accelsim.hierarchy import Hierarchy, from_arch
from accelsim.legality import check
from accelsim.mapping import Mapping
from accelsim.names import DRAM, GLB, MAC, REG, RF
from workloads.layer import Layer

ENERGY_PARTS = ("mac", "rf", "noc", "glb", "dram")


@dataclass(frozen=True)
class LayerResult:
    layer: Layer
    mapping: Mapping | None          # None for bandwidth-only layers
    counts: Counts
    pes: int
    energy_breakdown_pj: dict        # part -> pJ (ENERGY_PARTS)
    energy_by_tensor_pj: dict        # tensor -> pJ (data movement only; MAC energy excluded)
    energy_total_pj: float           # the energy sum (accelsim.cost.energy.energy_of's total)

    @property
    def macs(self) -> int:
        return self.counts.macs

    @property
    def ideal_cycles(self) -> int:
        return self.counts.cycles

    @property
    def energy_pj(self) -> float:
        return self.energy_total_pj

    @property
    def utilization(self) -> float:
        """MACs / (ideal cycles x all PEs): how busy the array is when compute is the only limit."""
        if self.counts.cycles == 0 or self.counts.macs == 0:
            return 0.0
        return self.counts.macs / (self.counts.cycles * self.pes)

    @property
    def spatial_utilization(self) -> float:
        """PEs the mapping uses / all PEs."""
        return self.counts.active_pes / self.pes


# the fixed-shape report's parts, as components of hierarchy.from_arch (the registers cost 0 there)
_PARTS = {"mac": (MAC,), "rf": (RF, REG), "noc": (network_name(GLB),), "glb": (GLB,), "dram": (DRAM,)}


@lru_cache(maxsize=256)
def arch_hierarchy(arch) -> Hierarchy:
    return from_arch(arch)


def fixed_energy(counts: Counts, arch) -> EnergyBreakdown:
    """The energy of a fixed-shape ``Counts`` row on ``arch``: the row as an action table
    (``counts.priced_actions_of_counts``) priced by the arch's table (``energy_table.arch_table``)."""
    return energy_of(priced_actions_of_counts(counts), arch_hierarchy(arch), arch_table(arch))


def energy_parts(e: EnergyBreakdown) -> tuple[dict, dict]:
    """(pJ per ENERGY_PARTS part, pJ per tensor: data movement only) of a fixed-shape breakdown."""
    by_c = e.by_component()
    by_part = {p: sum(by_c.get(c, 0.0) for c in _PARTS[p]) for p in ENERGY_PARTS}
    return by_part, e.by_role()


def _result(layer: Layer, mapping: Mapping | None, counts: Counts, arch, ops: Actions | None = None) -> LayerResult:
    e = fixed_energy(counts, arch) if ops is None else \
        energy_of(add_actions((priced_actions_of_counts(counts), ops)), arch_hierarchy(arch), arch_table(arch))
    by_part, by_tensor = energy_parts(e)
    return LayerResult(layer, mapping, counts, arch.pes, by_part, by_tensor, e.total_pj)


def evaluate(layer: Layer, arch, mapping: Mapping, *, validate: bool = True) -> LayerResult:
    """Score one mapping. Raises ConfigError if the mapping cannot run the layer on ``arch``."""
    if not layer.kind.has_macs:
        return evaluate_streaming(layer, arch)
    if validate:
        check(layer, mapping, arch, source=f"mapping for layer {layer.name!r}")
    return _result(layer, mapping, count(layer, mapping), arch)


def evaluate_streaming(layer: Layer, arch) -> LayerResult:
    """Layers without MACs (pool, eltwise, activation, softmax): inputs read once from DRAM through
    the GLB, outputs written once; their ops (``Layer.vector_op_counts``) on the MAC array (a
    fixed-shape arch has no vector unit; ``cost.actions.op_actions``, priced by the table's op
    entries as on a hierarchy). Cycles: the larger of the words moved at the GLB's bandwidth and
    the ops over the PEs."""
    zero = (0, 0, 0)
    ins, outs = layer.ifmap_elems, layer.output_elems
    reads = ((ins, 0, 0), (ins, 0, outs), zero, zero)
    writes = ((0, 0, outs), (ins, 0, outs), zero, zero)
    ops = op_actions(arch_hierarchy(arch), layer.vector_op_counts)
    cycles = max(-(-(ins + outs) // max(1, int(arch.glb.bandwidth_words_per_cycle))), ops.cycles)
    return _result(layer, None, Counts(0, cycles, 0, reads, writes, zero), arch, ops)


__all__ = ["ACCESS_LEVELS", "ENERGY_PARTS", "LayerResult", "arch_hierarchy", "energy_parts", "evaluate",
           "evaluate_streaming", "fixed_energy"]
