"""evaluate(layer, arch, mapping) -> LayerResult: counts, energy = counts x table, ideal cycles. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.counts import ACCESS_LEVELS, L_DRAM, L_GLB, L_NOC, L_RF, TENSOR_NAMES, Counts, count
from accelsim.legality import check
from accelsim.mapping import Mapping
from noc import registry as noc_registry
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

    @property
    def macs(self) -> int:
        return self.counts.macs

    @property
    def ideal_cycles(self) -> int:
        return self.counts.cycles

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_breakdown_pj[p] for p in ENERGY_PARTS)

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


def noc_hops(counts: Counts, arch) -> tuple[float, ...]:
    """Hop-words per tensor (ifmap, weight, psum): a x (NoC reads + writes) + b x noc_transfers with
    the arch's NoC model's (a, b) (noc.registry.hop_coefficients)."""
    out = []
    for t, (a, b) in enumerate(noc_registry.hop_coefficients(arch)):
        words = counts.reads[L_NOC][t] + counts.writes[L_NOC][t]
        h = float(words) if a == 1.0 else a * words
        out.append(h + b * counts.noc_transfers[t] if b else h)
    return tuple(out)


def energy_of(counts: Counts, arch) -> tuple[dict, dict]:
    e = arch.energy
    by_part = {p: 0.0 for p in ENERGY_PARTS}
    by_tensor = {t: 0.0 for t in TENSOR_NAMES}
    by_part["mac"] = counts.macs * e.mac_pj
    hops = noc_hops(counts, arch)   # the arch's NoC model: hop-words per tensor
    for ti, t in enumerate(TENSOR_NAMES):
        r, w = counts.reads, counts.writes
        parts = {
            "dram": r[L_DRAM][ti] * e.dram_read_pj + w[L_DRAM][ti] * e.dram_write_pj,
            "glb": r[L_GLB][ti] * e.glb_read_pj + w[L_GLB][ti] * e.glb_write_pj,
            "noc": hops[ti] * e.noc_hop_pj,
            "rf": r[L_RF][ti] * e.rf_read_pj[ti] + w[L_RF][ti] * e.rf_write_pj[ti],
        }
        for p, v in parts.items():
            by_part[p] += v
            by_tensor[t] += v
    return by_part, by_tensor


def evaluate(layer: Layer, arch, mapping: Mapping, *, validate: bool = True) -> LayerResult:
    """Score one mapping. Raises ConfigError if the mapping cannot run the layer on ``arch``."""
    if not layer.kind.has_macs:
        return evaluate_streaming(layer, arch)
    if validate:
        check(layer, mapping, arch, source=f"mapping for layer {layer.name!r}")
    counts = count(layer, mapping)
    by_part, by_tensor = energy_of(counts, arch)
    return LayerResult(layer, mapping, counts, arch.pes, by_part, by_tensor)


def evaluate_streaming(layer: Layer, arch) -> LayerResult:
    """Bandwidth-only layers (pool, eltwise, activation, softmax): inputs read once from DRAM through
    the GLB, outputs written once; no MACs. Cycles: the words moved at the GLB's bandwidth."""
    zero = (0, 0, 0)
    ins, outs = layer.ifmap_elems, layer.output_elems
    reads = ((ins, 0, 0), (ins, 0, outs), zero, zero)
    writes = ((0, 0, outs), (ins, 0, outs), zero, zero)
    cycles = -(-(ins + outs) // max(1, int(arch.glb.bandwidth_words_per_cycle)))
    counts = Counts(0, cycles, 0, reads, writes, zero)
    by_part, by_tensor = energy_of(counts, arch)
    return LayerResult(layer, None, counts, arch.pes, by_part, by_tensor)


__all__ = ["ACCESS_LEVELS", "ENERGY_PARTS", "LayerResult", "energy_of", "evaluate", "evaluate_streaming",
           "noc_hops"]
