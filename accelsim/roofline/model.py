"""Per-layer and per-model roofline under the reference's definitions (reference/roofline.md).

* FLOPs = 2 x MACs (a bandwidth-only layer -- pool, eltwise -- counts what :attr:`Layer.flops` says).
* Bytes of one operator = its whole input tensor + all its weights + its whole output tensor, times the
  hardware's element size; no cache: every operator reads its inputs from and writes its outputs to
  main memory.
* Intensity = FLOPs / bytes; attainable = min(peak, bandwidth x intensity); ridge = peak / bandwidth.

Whole model: FLOPs and bytes are summed over the workload's operators, so the activation between two
layers is counted twice (written by its producer, read by its consumer). This is the reference's
"after simple optimizations" accounting: BN and activation are fused into the MAC layer (no traffic of
their own), concat and slice (and channel shuffle) happen in place (the consumer's read of its input is
the only read). Zoo networks list MAC layers only, so pooling and residual adds add no bytes unless a
workload lists them (a YAML workload may: pool and eltwise layers are counted by the same rule).

Two model-level throughputs are reported: ``attainable_flops`` = the roofline at the model's aggregate
intensity (the reference's figure), and ``achieved_flops`` = model FLOPs / sum of per-layer roofline
times (each layer runs at its own attainable rate, which is never faster).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accelsim.roofline.hardware import Hardware
from workloads.layer import Layer, Workload


@dataclass(frozen=True)
class OpCost:
    """FLOPs and main-memory bytes of one operator (or a group of operators)."""

    flops: int
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(self.flops + other.flops, self.bytes + other.bytes)


def operator_elems(layer: Layer) -> int:
    """Elements moved by one operator: whole input (all operands) + all weights + whole output."""
    return layer.ifmap_elems + layer.weight_elems + layer.output_elems


def operator_cost(layer: Layer, element_bytes: float = 4.0) -> OpCost:
    return OpCost(layer.flops, operator_elems(layer) * element_bytes)


@dataclass(frozen=True)
class RooflinePoint:
    """One operator (or group) placed on a hardware's roofline."""

    name: str
    kind: str
    flops: int
    bytes: float
    intensity: float
    attainable_flops: float
    bound: str
    time_s: float

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "flops": self.flops, "bytes": self.bytes,
                "intensity": self.intensity, "attainable_flops": self.attainable_flops,
                "bound": self.bound, "time_s": self.time_s}


def place(name: str, kind: str, cost: OpCost, hw: Hardware) -> RooflinePoint:
    intensity = cost.intensity
    return RooflinePoint(name, kind, cost.flops, cost.bytes, intensity, hw.attainable(intensity),
                         hw.bound(intensity), hw.time(cost.flops, cost.bytes))


def layer_point(layer: Layer, hw: Hardware) -> RooflinePoint:
    return place(layer.name, layer.kind.value, operator_cost(layer, hw.element_bytes), hw)


@dataclass(frozen=True)
class ModelRoofline:
    workload: str
    batch: int
    hardware: Hardware
    layers: tuple[RooflinePoint, ...]

    @property
    def flops(self) -> int:
        return sum(p.flops for p in self.layers)

    @property
    def bytes(self) -> float:
        return sum(p.bytes for p in self.layers)

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes

    @property
    def attainable_flops(self) -> float:
        return self.hardware.attainable(self.intensity)

    @property
    def bound(self) -> str:
        return self.hardware.bound(self.intensity)

    @property
    def time_s(self) -> float:
        return sum(p.time_s for p in self.layers)

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.time_s

    def count(self, bound: str) -> int:
        return sum(1 for p in self.layers if p.bound == bound)

    def model_dict(self) -> dict:
        return {"flops": self.flops, "bytes": self.bytes, "intensity": self.intensity,
                "attainable_flops": self.attainable_flops, "bound": self.bound, "time_s": self.time_s,
                "achieved_flops": self.achieved_flops, "memory_bound_layers": self.count("memory"),
                "compute_bound_layers": self.count("compute")}


def model_roofline(workload: Workload, hw: Hardware) -> ModelRoofline:
    """Every layer of ``workload`` on ``hw``'s roofline, at the workload's batch."""
    points = tuple(layer_point(layer, hw) for layer in workload.layers)
    batch = workload.layers[0].N
    return ModelRoofline(workload.name, batch, hw, points)


def hardware_dict(hw: Hardware) -> dict:
    return {"name": hw.name, "description": hw.description, "peak_flops": hw.peak_flops,
            "bandwidth_bytes_per_s": hw.bandwidth, "bandwidth_unlimited": hw.bandwidth is None,
            "ridge_intensity": hw.ridge, "element_bytes": hw.element_bytes,
            "on_chip_bytes": hw.on_chip_bytes, "source": Path(hw.source).name}
