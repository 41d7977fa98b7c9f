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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from accelsim.partition.predictor import Processor
from accelsim.partition.soc import SharingSpec
from accelsim.partition.split import Part, chain_parts, overlap_rows, split
from workloads.layer import Layer


@dataclass(frozen=True)
class Device:
    """The two processors and the sharing costs between them."""

    cpu: Processor
    gpu: Processor
    sharing: SharingSpec


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

    @property
    def ratio(self) -> float:
        return self.tenths / 10

    @property
    def compute_ms(self) -> float:
        return max(self.cpu_ms, self.gpu_ms)


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
    def compute_ms(self) -> float:
        return max(self.cpu_ms, self.gpu_ms)

    @property
    def sharing_ms(self) -> float:
        return self.presync_ms + self.share_in_ms + self.share_out_ms

    @property
    def latency_ms(self) -> float:
        return self.sharing_ms + self.compute_ms

    @property
    def is_chain(self) -> bool:
        return len(self.ops) > 1


def _label(dim: str, tenths: int) -> str:
    return dim if 0 < tenths < 10 else "none"


def _segment(device: Device, layers: Sequence[Layer], parts: Sequence[tuple[Part, Part]], dim: str,
             tenths: int, share: bool) -> Segment:
    ops = []
    for layer, (cp, gp) in zip(layers, parts):
        cs, gs = cp.shape(layer), gp.shape(layer)
        ops.append(OpRun(layer.name, _label(dim, tenths), tenths, device.cpu.time_ms(cs), device.gpu.time_ms(gs),
                         device.cpu.impl(cs) if not cs.empty else "-",
                         device.gpu.impl(gs) if not gs.empty else "-",
                         overlap_rows(cp, gp)))
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
    """An H chain whose tail is split ``tenths/10``; sharing at its head and tail only."""
    return _segment(device, layers, chain_parts(layers, tenths), "H", tenths, share)
