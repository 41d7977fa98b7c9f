"""ISCA'16 dataflow comparison (Chen, Emer, Sze; reference/eyeriss.md): the equal-area 256-PE
configs, AlexNet CONV1-5 at batch 16, each dataflow's mappings searched for minimum energy.
Published: RS is 1.4x-2.5x more energy efficient than the other dataflows on the CONV layers.
Tolerance (the issue's): RS lowest, each other dataflow within 1.3x-3x of RS.

What differs from the paper: its search drew 600 random mappings per layer; ours samples the same
kind of space and climbs from the best, scoring BUDGET mappings per layer (the array mapper's
default; ~60k mappings/s). Our counts are exact for our buffer
semantics (mapping.py); the paper's reuse-factor formulas are an approximation of the same thing.
"""

from __future__ import annotations

import pytest

from accelsim.arch import load_arch
from accelsim.mapper.search import SearchSpec, search
from dataflows import registry
from workloads import zoo

CONFIGS = {"RS": "isca16/rs", "WS": "isca16/ws", "OS SOC-MOP": "isca16/os_soc_mop",
           "OS MOC-MOP": "isca16/os_moc_mop", "OS MOC-SOP": "isca16/os_moc_sop", "NLR": "isca16/nlr"}
BUDGET = 10_000


@pytest.fixture(scope="module")
def energy_per_mac() -> dict:
    layers = zoo.get("alexnet").with_batch(16).layers[:5]
    out = {}
    for label, cfg in CONFIGS.items():
        arch = load_arch(cfg)
        flow = registry.get(arch.dataflow)
        energy = macs = 0.0
        per_layer = []
        for layer in layers:
            r = search(layer, arch, flow, SearchSpec("energy", BUDGET, seed=0)).result
            energy += r.energy_pj
            macs += r.macs
            per_layer.append(r.energy_pj / r.macs)
        out[label] = (energy / macs, per_layer)
    return out


def test_rs_is_most_energy_efficient_on_alexnet_conv(energy_per_mac):
    rs = energy_per_mac["RS"][0]
    print("\nAlexNet CONV1-5, batch 16, 256 PEs, normalized energy per MAC (MAC = 1)")
    print(f"{'dataflow':12s} {'E/MAC':>7s} {'vs RS':>6s}   CONV1..CONV5")
    for label, (e, per_layer) in energy_per_mac.items():
        print(f"{label:12s} {e:7.3f} {e / rs:6.2f}x  " + " ".join(f"{x:5.2f}" for x in per_layer))
    print("paper: RS 1.4x-2.5x better than the others on CONV layers")
    for label, (e, _) in energy_per_mac.items():
        if label != "RS":
            assert 1.3 <= e / rs <= 3.0, (label, e / rs)
