"""Spec-sheet priors for the time of one basic unit (CoDL's ``t_basicUnit``), per kernel family.

Every prior is a roofline on one core (CPU core or GPU compute unit): a basic unit of ``unit`` items,
each item ``item.outputs`` outputs, costs ``max(MACs / MAC rate, bytes / bandwidth share)``. Both terms
are proportional to the reduction length ``red`` (``C/G*R*S`` for a convolution), so the prior sets the
``red`` coefficient (and a constant for per-item work that does not scale with it); the H, W, IC and OC
coefficients stay 0 until a calibration fits them. Real kernels reach a fraction of these peaks:
the priors are optimistic by construction and are meant to be replaced by ``fit`` on measurements.

Families (kernel name -> formula):

- ``direct``, ``gemm``, ``depthwise``: compute-bound, ``item.outputs`` MACs per ``red``;
- ``general`` (the CPU's scalar fallback convolution, :mod:`accelsim.partition.impl`): as ``direct`` at
  one multiply-add per FMA pipe and cycle (``simd_width`` times below the vector peak);
- ``winograd_f2`` / ``winograd_f6`` (F(m x m, 3 x 3), Lavin & Gray 2016): ``(m+2)^2`` multiplies per
  ``m x m`` tile per input channel instead of ``9 m^2``, so ``item.oc (m+2)^2 / 9`` MACs per ``red``
  (``red = 9 IC``); plus the input transform ``2 (m+2)^3`` MACs per tile and input channel (shared by the
  output channels; counted once per item, i.e. assuming IC ~ OC) and the output transform
  ``m (m+2)^2 + m^2 (m+2)`` per tile and output channel, as a constant per item;
- ``gemv`` (fully connected at batch 1): each output streams ``red`` fp32 weights from DRAM: the larger
  of the compute and the memory term;
- ``pool``, ``eltwise``: memory-bound, ``4 B`` read per output per ``red`` plus ``4 B`` written.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.partition.shape import BYTES_PER_ELEMENT, OpShape
from accelsim.partition.soc import COEF_KEYS, CPUSpec, GPUSpec, KernelSpec

Coef = tuple[float, ...]


def _coef(red_s: float, const_s: float = 0.0) -> Coef:
    values = dict.fromkeys(COEF_KEYS, 0.0)
    values["red"] = red_s * 1e9
    values["const"] = const_s * 1e9
    return tuple(values[k] for k in COEF_KEYS)


def _compute(k: KernelSpec, rate: float, bw: float) -> Coef:
    return _coef(k.unit * k.item.outputs / rate)


def _winograd(k: KernelSpec, rate: float, bw: float) -> Coef:
    m = k.item.h
    t = m + 2
    per_red = k.item.oc * t * t / 9.0
    transforms = k.item.oc * (2 * t ** 3 + m * t * t + m * m * t)
    return _coef(k.unit * per_red / rate, k.unit * transforms / rate)


def _gemv(k: KernelSpec, rate: float, bw: float) -> Coef:
    outputs = k.item.outputs
    return _coef(k.unit * max(outputs / rate, outputs * BYTES_PER_ELEMENT / bw))


def _streaming(k: KernelSpec, rate: float, bw: float) -> Coef:
    per = k.unit * k.item.outputs * BYTES_PER_ELEMENT / bw
    return _coef(per, per)


FAMILIES: dict[str, Callable[[KernelSpec, float, float], Coef]] = {
    "direct": _compute,
    "general": _compute,
    "gemm": _compute,
    "depthwise": _compute,
    "winograd_f2": _winograd,
    "winograd_f6": _winograd,
    "gemv": _gemv,
    "pool": _streaming,
    "eltwise": _streaming,
}


#: kernels whose time is the DRAM traffic (their prior is a bandwidth term)
MEMORY_BOUND = ("gemv", "pool", "eltwise")

#: kernels whose multiply-adds are scalar (one lane per FMA pipe)
SCALAR = ("general",)


def traffic_bytes(s: OpShape) -> int:
    """Bytes part ``s`` moves between DRAM and the processor at least once: its input and output, and
    its weights (``K * red`` values: filters, fully connected or GEMM weights) for MAC operators."""
    if s.empty:
        return 0
    weights = s.K * s.red * BYTES_PER_ELEMENT if s.kind.has_macs else 0
    return s.in_bytes + s.out_bytes + weights


def dram_bytes(kernel_name: str, s: OpShape) -> int:
    """Bytes a memory-bound kernel streams from/to DRAM for part ``s`` (0 for compute-bound kernels):
    :func:`traffic_bytes` (for a fully connected layer at batch 1, mostly its weights)."""
    return traffic_bytes(s) if kernel_name in MEMORY_BOUND else 0


def prior(kernel: KernelSpec, proc: CPUSpec | GPUSpec, bandwidth_gbs: float) -> Coef:
    """The spec prior of ``kernel`` on ``proc``: coefficients in ``COEF_KEYS`` order, nanoseconds."""
    cores = proc.cores
    rate = proc.macs_per_s_per_core
    if kernel.name in SCALAR and isinstance(proc, CPUSpec):
        rate /= proc.simd_width
    bw = bandwidth_gbs * 1e9 / cores
    return FAMILIES[kernel.name](kernel, rate, bw)
