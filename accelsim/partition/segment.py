"""Latency of one synchronisation segment: a single operator, or an H chain, under one split.

CoDL's operator latency::

    T = T_trans + T_map + T_psync + max(T_comp_CPU, T_comp_GPU)

Tensors live in the GPU's memory layout between segments (the GPU is the processor that runs
everything in the GPU-only plan, and the one whose image layout the CPU converts from). A segment in
which the CPU computes anything pays: the pre-synchronisation bound; transform + map of the input the
CPU part reads (its band with halo for H, the whole input for OC); transform + map of the output the
CPU part writes. Inside a chain nothing is shared, so each processor runs its bands back to back and
the chain's compute time is ``max(sum CPU, sum GPU)``. A segment that runs only on the GPU shares
nothing. (Un-mapping and post-sync, ~50 us, are ignored, as in CoDL.)

Concurrency: CPU and GPU share one DRAM. A memory-bound kernel (fully connected, pooling,
elementwise) is timed per processor as if it had the bandwidth to itself, so when both run one, the
operator cannot finish before all the bytes both parts stream have crossed the shared bus: its
compute time is at least ``(CPU bytes + GPU bytes) / bandwidth`` (CoDL's predictor is likewise
"concurrency-aware"). Compute-bound kernels are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.partition.predictor import Processor, processors
from accelsim.partition.priors import dram_bytes
from accelsim.partition.shape import OpShape
from accelsim.partition.soc import SharingSpec, SoC
from accelsim.partition.split import Part, chain_parts, chain_view, overlap_rows, split
from workloads.layer import Layer


@dataclass(frozen=True)
class Device:
    """The two processors and the sharing costs between them."""

    cpu: Processor
    gpu: Processor
    sharing: SharingSpec
    bandwidth_gbs: float = float("inf")   # shared DRAM; infinite = no contention floor

    @classmethod
    def of(cls, soc: SoC, calibrated: bool = True) -> Device:
        """``soc``'s processors with its calibrated kernel-class efficiencies (or the bare priors)."""
        cpu, gpu = processors(soc, calibrated)
        return cls(cpu, gpu, soc.sharing, soc.bandwidth_gbs)

    def dram_ms(self, proc: Processor, s: OpShape) -> float:
        """Time the bytes a memory-bound part streams take on the whole shared bus (0 if compute-bound)."""
        if s.empty:
            return 0.0
        return dram_bytes(proc.impl(s), s) / (self.bandwidth_gbs * 1e9) * 1e3


@dataclass(frozen=True)
class OpRun:
    """One operator inside a segment: how it is split and what each processor spends on it."""

    layer: str
    dim: str          # "OC", "H", or "none" when one processor runs it all
    tenths: int       # CPU share in tenths
    cpu_ms: float
    gpu_ms: float
    cpu_impl: str
    gpu_impl: str
    redundant_rows: int = 0
    dram_ms: float = 0.0   # both parts' memory-bound bytes over the shared bus (a floor when both run)

    @property
    def ratio(self) -> float:
        return self.tenths / 10

    @property
    def compute_ms(self) -> float:
        return max(self.cpu_ms, self.gpu_ms, self.dram_ms)


@dataclass(frozen=True)
class Segment:
    ops: tuple[OpRun, ...]
    presync_ms: float
    share_in_ms: float
    share_out_ms: float
    share_in_bytes: int
    share_out_bytes: int

    @property
    def cpu_ms(self) -> float:
        return sum(op.cpu_ms for op in self.ops)

    @property
    def gpu_ms(self) -> float:
        return sum(op.gpu_ms for op in self.ops)

    @property
    def dram_ms(self) -> float:
        return sum(op.dram_ms for op in self.ops)

    @property
    def compute_ms(self) -> float:
        return max(self.cpu_ms, self.gpu_ms, self.dram_ms)

    @property
    def sharing_ms(self) -> float:
        return self.presync_ms + self.share_in_ms + self.share_out_ms

    @property
    def latency_ms(self) -> float:
        return self.sharing_ms + self.compute_ms

    @property
    def is_chain(self) -> bool:
        """Several operators whose data are shared only at the segment's ends. Operators run on the GPU
        alone share nothing anywhere, so several of them in one segment are not a chain (a chain at ratio
        1.0, the CPU alone, is one: its input and output are shared at its ends only)."""
        return len(self.ops) > 1 and any(op.tenths > 0 for op in self.ops)


def _label(dim: str, tenths: int) -> str:
    return dim if 0 < tenths < 10 else "none"


def _segment(device: Device, layers: Sequence[Layer], parts: Sequence[tuple[Part, Part]], dim: str,
             tenths: int, share: bool) -> Segment:
    ops = []
    for layer, (cp, gp) in zip(layers, parts):
        cs, gs = cp.shape(layer), gp.shape(layer)
        both = not (cs.empty or gs.empty)
        dram = device.dram_ms(device.cpu, cs) + device.dram_ms(device.gpu, gs) if both else 0.0
        ops.append(OpRun(layer.name, _label(dim, tenths), tenths, device.cpu.time_ms(cs), device.gpu.time_ms(gs),
                         device.cpu.impl(cs) if not cs.empty else "-",
                         device.gpu.impl(gs) if not gs.empty else "-",
                         overlap_rows(cp, gp), dram))
    cpu_used = any(not cp.empty for cp, _ in parts)
    if not (share and cpu_used):
        return Segment(tuple(ops), 0.0, 0.0, 0.0, 0, 0)
    in_bytes = parts[0][0].shape(layers[0]).in_bytes
    out_bytes = parts[-1][0].shape(layers[-1]).out_bytes
    s = device.sharing
    return Segment(tuple(ops), s.presync_ms, s.share_ms(in_bytes), s.share_ms(out_bytes), in_bytes, out_bytes)


def op_segment(device: Device, layer: Layer, dim: str, tenths: int, share: bool = True) -> Segment:
    """One operator split along ``dim`` with the CPU taking ``tenths/10``."""
    return _segment(device, [layer], [split(layer, dim, tenths)], dim, tenths, share)


def chain_segment(device: Device, layers: Sequence[Layer], tenths: int, share: bool = True) -> Segment:
    """An H chain whose tail is split ``tenths/10``; sharing at its head and tail only. Pre-padded
    inputs inside the chain are timed as the padded layers they are equivalent to (:func:`chain_view`)."""
    view = chain_view(layers)
    return _segment(device, view, chain_parts(view, tenths), "H", tenths, share)
