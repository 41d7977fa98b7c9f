"""CoDL's partition search and the baselines it is compared with.

- ``codl``: per operator the best (dimension, ratio) over OC/H x 0.0..1.0; then operator chains along
  H (reference/codl.md): a chain starts at an operator with its best (dimension, ratio), tries tail
  ratios within +-0.3 of that ratio, and takes the next operator while the chain's predicted latency
  beats ending the chain there (the chain so far plus the next operator on its own); the next chain
  starts after the tail. A chain may start at any operator that can be split along H, whatever its
  own best dimension: a head that is best on the GPU alone (ratio 0) tries chains at 0.0-0.3, because
  one pre-sync shared by several operators can pay where one per operator cannot. Each extension is
  strictly better than stopping, so the plan is never slower than the per-operator plan
  (``codl_no_chains``). Last, the whole network on the CPU alone (nothing shared: the ``cpu_only``
  plan) is taken instead when it is faster: per operator, a CPU-only part pays the data sharing a
  GPU-resident tensor costs, which a network that is faster on the CPU throughout need not pay. So
  ``codl`` is never slower than ``cpu_only`` nor (ratio 0 everywhere shares nothing) ``gpu_only``.
  ``codl_no_chains`` (the per-operator best alone) takes the same fallback.
- ``cpu_only`` / ``gpu_only``: every operator on one processor, nothing shared.
- ``mulayer`` (muLayer-like): OC partitioning only, a synchronisation after every operator, and the
  ratio chosen by a FLOPs-only predictor (least squares of each processor's time on FLOPs, fitted to
  the same device model over the workload's own operators); its plan is then timed with the CoDL
  predictor and the sharing costs, like every other plan.

All plans are timed by the same :class:`~accelsim.partition.segment.Device`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelsim.partition.predictor import FlopsModel, fit_flops
from accelsim.partition.segment import Device, Segment, chain_segment, op_segment
from accelsim.partition.shape import shape_of
from accelsim.partition.split import TENTHS, allowed_dims, chainable, split
from workloads.layer import Workload

#: the chain's tail ratio is searched within this many tenths of the head's best ratio
CHAIN_WINDOW = 3


@dataclass(frozen=True)
class Plan:
    name: str
    segments: tuple[Segment, ...]

    @property
    def latency_ms(self) -> float:
        return sum(s.latency_ms for s in self.segments)

    @property
    def sharing_ms(self) -> float:
        return sum(s.sharing_ms for s in self.segments)

    @property
    def compute_ms(self) -> float:
        return sum(s.compute_ms for s in self.segments)


def _candidates(layer) -> list[tuple[str, int]]:
    # deterministic order: GPU only, CPU only, then each dimension's co-execution ratios ascending
    dims = allowed_dims(layer)
    first = dims[0] if dims else "OC"
    return [(first, 0), (first, 10)] + [(dim, t) for dim in dims for t in TENTHS if 0 < t < 10]


def best_op_segment(device: Device, layer) -> Segment:
    """The fastest single-operator segment over every allowed (dimension, ratio); ties keep the
    earlier candidate (GPU only, CPU only, then OC, then H)."""
    best = None
    for dim, t in _candidates(layer):
        seg = op_segment(device, layer, dim, t)
        if best is None or seg.latency_ms < best.latency_ms:
            best = seg
    assert best is not None, "every layer has the GPU-only candidate"
    return best


def _best_chain(device: Device, layers, head_tenths: int) -> Segment:
    best = None
    for t in range(max(0, head_tenths - CHAIN_WINDOW), min(10, head_tenths + CHAIN_WINDOW) + 1):
        seg = chain_segment(device, layers, t)
        if best is None or seg.latency_ms < best.latency_ms:
            best = seg
    assert best is not None, "the window always holds head_tenths"
    return best


def _or_cpu_alone(device: Device, workload: Workload, plan: Plan) -> Plan:
    """``plan``, or the whole network on the CPU alone under ``plan``'s name if that is faster."""
    cpu_alone = plan_cpu_only(device, workload)
    return Plan(plan.name, cpu_alone.segments) if cpu_alone.latency_ms < plan.latency_ms else plan


def plan_per_op(device: Device, workload: Workload) -> Plan:
    per_op = Plan("codl_no_chains", tuple(best_op_segment(device, layer) for layer in workload.layers))
    return _or_cpu_alone(device, workload, per_op)


def plan_codl(device: Device, workload: Workload) -> Plan:
    layers = list(workload.layers)
    single = [best_op_segment(device, layer) for layer in layers]
    segments: list[Segment] = []
    i = 0
    while i < len(layers):
        head = single[i].ops[0]
        current = single[i]
        j = i + 1
        if "H" in allowed_dims(layers[i]):
            while j < len(layers) and chainable(layers[j - 1], layers[j]):
                extended = _best_chain(device, layers[i:j + 1], head.tenths)
                if extended.latency_ms < current.latency_ms + single[j].latency_ms:
                    current, j = extended, j + 1
                else:
                    break
        segments.append(current)
        i = j
    return _or_cpu_alone(device, workload, Plan("codl", tuple(segments)))


def plan_cpu_only(device: Device, workload: Workload) -> Plan:
    return Plan("cpu_only", tuple(op_segment(device, l, "OC", 10, share=False) for l in workload.layers))


def plan_gpu_only(device: Device, workload: Workload) -> Plan:
    return Plan("gpu_only", tuple(op_segment(device, l, "OC", 0, share=False) for l in workload.layers))


def flops_models(device: Device, workload: Workload) -> tuple[FlopsModel, FlopsModel]:
    """muLayer-like calibration: each processor's whole-operator times regressed on FLOPs."""
    shapes = [shape_of(l) for l in workload.layers]
    shapes = [s for s in shapes if s.flops > 0]
    flops = [s.flops for s in shapes]
    return (fit_flops(flops, [device.cpu.time_ms(s) for s in shapes]),
            fit_flops(flops, [device.gpu.time_ms(s) for s in shapes]))


def plan_mulayer(device: Device, workload: Workload) -> Plan:
    cpu_f, gpu_f = flops_models(device, workload)
    segments = []
    for layer in workload.layers:
        best_t, best_cost = 0, None
        for t in TENTHS:
            cp, gp = split(layer, "OC", t)
            cost = max(cpu_f.time_ms(cp.shape(layer)), gpu_f.time_ms(gp.shape(layer)))
            if best_cost is None or cost < best_cost:
                best_t, best_cost = t, cost
        segments.append(op_segment(device, layer, "OC", best_t))
    return Plan("mulayer", tuple(segments))


PLANNERS: dict[str, Callable[[Device, Workload], Plan]] = {
    "codl": plan_codl,
    "codl_no_chains": plan_per_op,
    "cpu_only": plan_cpu_only,
    "gpu_only": plan_gpu_only,
    "mulayer": plan_mulayer,
}

BASELINES = ("cpu_only", "gpu_only", "mulayer")
