"""Timeloop/Accelergy's public reference problem on the 65 nm eyeriss_like design
(reference/energy_tables.md): C=3, M=32, 224x224 input, 3x3 filter, stride 2 (P=Q=112, so padding
1), 10,838,016 MACs. Timeloop's mapper: 86,016 cycles, 75% utilization, 5.47 pJ/MAC. With the
same energy table and an equal-or-better mapping accelsim must land at or below 5.47 pJ/MAC."""

from __future__ import annotations

from accelsim.arch import load_arch
from accelsim.mapper.search import SearchSpec, search
from dataflows import registry
from workloads.layer import conv


def test_reference_problem_at_or_below_timeloop():
    arch = load_arch("eyeriss_like_65nm")
    layer = conv("ref", C=3, K=32, H=224, R=3, stride=2, pad=1)
    assert (layer.P, layer.Q, layer.macs) == (112, 112, 10_838_016)
    found = search(layer, arch, registry.get("rs"), SearchSpec("energy", budget=20_000, seed=0))
    r = found.result
    pj_per_mac = r.energy_pj / r.macs
    fj = {k: 1000 * v / r.macs for k, v in r.energy_breakdown_pj.items()}
    print(f"\naccelsim {pj_per_mac:.3f} pJ/MAC (Timeloop 5.47), cycles {r.ideal_cycles} (Timeloop 86,016), "
          f"utilization {r.utilization:.2f} (Timeloop 0.75)")
    print("fJ/MAC: " + ", ".join(f"{k} {v:.0f}" for k, v in fj.items())
          + "   (Timeloop: DRAM 3381, GLB 375, RF 1506 = weights 1007 + psum 387 + ifmap 112, MAC 208)")
    assert pj_per_mac <= 5.47
    # the mapping is a legal RS mapping of the 168-PE array, MAC energy exactly 0.208 pJ per MAC
    assert r.counts.active_pes <= 168 and abs(fj["mac"] - 208) < 1e-9
    # DRAM cannot go below moving each input, weight and output once (8-bit words, 64 pJ each)
    compulsory = (3 * 224 * 224 + 32 * 3 * 9 + 32 * 112 * 112) * 64.0
    assert r.energy_breakdown_pj["dram"] >= compulsory
