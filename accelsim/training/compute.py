"""Per-iteration compute time of training, from a hardware preset's roofline.

A training step of one MAC layer is three passes over the same shapes: forward (input x weights ->
output), backward-data (output gradient x weights -> input gradient) and backward-weights (input x
output gradient -> weight gradient). Each pass does the layer's MACs and, under the roofline's
no-cache memory model, moves input + weights + output once. The first layer skips backward-data (no
one needs the gradient of the image), so it has two passes. The weight update itself (a few FLOPs per
weight) is not counted.

The compute roof of training is the hardware's peak times the fraction of peak the framework reaches.
A preset's ``achieved`` block gives a measured training rate (images of a zoo network in so many
seconds on a device of known peak); the fraction is that rate's FLOPs / seconds / that device's peak.
"""

from __future__ import annotations

from dataclasses import replace

from accelsim.errors import ConfigError
from accelsim.roofline.hardware import Hardware
from accelsim.roofline.model import OpCost, operator_cost
from workloads.layer import Layer, Workload


def passes(index: int) -> int:
    """Training passes of the MAC layer at position ``index``: 2 for the first layer, else 3."""
    return 2 if index == 0 else 3


def mac_layers(workload: Workload) -> tuple[Layer, ...]:
    layers = tuple(l for l in workload.layers if l.kind.has_macs)
    if not layers:
        raise ConfigError(f"workload {workload.name!r} has no MAC layers to train")
    return layers


def training_macs(workload: Workload) -> int:
    """MACs of one training step over the workload's batch."""
    return sum(passes(i) * l.macs for i, l in enumerate(mac_layers(workload)))


def training_cost(layer: Layer, index: int, element_bytes: float) -> OpCost:
    cost = operator_cost(layer, element_bytes)
    k = passes(index)
    return OpCost(k * cost.flops, k * cost.bytes)


def parameters(workload: Workload) -> int:
    """Trainable weights (the gradient every data-parallel step exchanges); biases not counted."""
    return sum(l.weight_elems for l in mac_layers(workload))


def achieved_fraction(hw: Hardware) -> float:
    """Fraction of peak reached in training, from the preset's measured rate (1.0 without one)."""
    if hw.achieved is None:
        return 1.0
    from workloads.loader import load_workload

    a = hw.achieved
    reference = load_workload(a.workload, batch=1)
    rate = 2 * training_macs(reference) * a.images / a.seconds
    fraction = rate / a.on_peak_flops
    if not 0 < fraction <= 1:
        raise ConfigError(f"achieved rate of {a.workload!r} ({rate / 1e12:.3g} TFLOP/s) is not a fraction "
                          f"in (0, 1] of the stated peak {a.on_peak_flops / 1e12:.3g} TFLOP/s",
                          source=hw.source, key="achieved")
    return fraction


def training_hardware(hw: Hardware) -> Hardware:
    """``hw`` with its compute roof lowered to the achieved training rate."""
    return replace(hw, peak_flops=hw.peak_flops * achieved_fraction(hw))


def step_time(workload: Workload, hw: Hardware, batch: int) -> float:
    """Roofline time of one training step over ``batch`` images on one device (``hw`` already derated)."""
    total = 0.0
    for i, layer in enumerate(mac_layers(workload)):
        cost = training_cost(layer.with_batch(batch), i, hw.element_bytes)
        total += hw.time(cost.flops, cost.bytes)
    return total


def split_step_time(workload: Workload, hw: Hardware, batch: int, ways: int) -> float:
    """One training step over ``batch`` images when every layer's filters are split ``ways`` ways
    (model parallelism): each device does 1/ways of the FLOPs, reads the whole input, and holds
    1/ways of the weights and of the output."""
    total = 0.0
    eb = hw.element_bytes
    for i, layer in enumerate(mac_layers(workload)):
        layer = layer.with_batch(batch)
        k = passes(i)
        flops = k * layer.flops / ways
        nbytes = k * (layer.ifmap_elems + (layer.weight_elems + layer.output_elems) / ways) * eb
        total += hw.time(flops, nbytes)
    return total
