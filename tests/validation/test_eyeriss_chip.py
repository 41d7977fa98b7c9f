"""Eyeriss v1 (configs/eyeriss_v1.yaml) against the chip's measured totals (reference/eyeriss.md).

Every figure comes from the config's documented parameters: 200 MHz, 12 x 14 PEs, scratchpads
12/224/24 words, 108 kB GLB (100 kB ifmap/psum, 8 kB filter) with 16 words/cycle of ports, passes
that walk whole ifmap rows, 64-bit GIN/GON networks, a PE adder cycle
per psum passed up a column, and the off-chip link of 64 bits at 90 MHz (0.72 GB/s, 1.8 words per
200 MHz cycle). Nothing is fitted to the published latencies.

The mapping of each layer is the one a compiler for the chip would pick among RS mappings: the
lowest simulated energy x delay of the dataflow's named mapping and the mapper's searches for
minimum energy and minimum energy-delay (the mapper's default budget, seed 0). The mapper's score
does not see the NoC, so its best-energy mapping alone often starves the 64-bit psum networks;
the chip's designers chose mappings that run well on the chip.

*Processing latency* excludes configuration and off-chip I/O time (reference/eyeriss.md), so the
comparable model figure is the simulated cycles minus the cycles the array waited for DRAM.
"""

from __future__ import annotations

from functools import cache

import pytest

from accelsim.arch import load_arch
from accelsim.cost.counts import L_DRAM
from accelsim.cost.model import evaluate
from accelsim.mapper.search import SearchSpec, search
from accelsim.sim import simulate_layer
from dataflows import registry
from workloads.loader import load_workload

CLOCK_HZ = 200e6
BUDGET = SearchSpec().budget          # the mapper's default budget


@cache
def chip_run(workload: str, batch: int) -> tuple[dict, ...]:
    arch = load_arch("eyeriss_v1")
    flow = registry.get("rs")
    rows = []
    for layer in load_workload(workload, batch).layers:
        if not layer.name.lower().startswith("conv"):
            continue
        pool = [flow.named(layer, arch)]
        for objective in ("energy", "edp"):
            pool.append(search(layer, arch, flow, SearchSpec(objective, BUDGET, 0)).mapping)
        best = None
        for m in dict.fromkeys(pool):
            r = evaluate(layer, arch, m)
            sim = simulate_layer(layer, arch, m, r.counts, dataflow="rs")
            key = (r.energy_pj * sim.cycles, sim.cycles)
            if best is None or key < best[0]:
                best = (key, r, sim)
        _, r, sim = best
        rows.append({
            "name": layer.name, "macs": layer.macs, "pes": r.counts.active_pes, "ideal": r.counts.cycles,
            "cycles": sim.cycles, "processing": sim.cycles - sim.stall_cycles["dram"], "stalls": sim.stall_cycles,
            "dram_words": sum(r.counts.reads[L_DRAM]) + sum(r.counts.writes[L_DRAM]),
            "mapping": r.mapping.compact(),
        })
    return tuple(rows)


def ms(cycles: float) -> float:
    return cycles / CLOCK_HZ * 1e3


def print_table(rows, title: str, chip_processing: float, chip_latency: float, chip_dram: float) -> dict:
    print()
    print(title)
    print(f"{'layer':8s} {'PEs':>4s} {'ideal ms':>9s} {'proc ms':>9s} {'total ms':>9s} {'stall noc':>10s} "
          f"{'stall dram':>10s} {'DRAM/MAC':>9s}  mapping")
    for r in rows:
        print(f"{r['name']:8s} {r['pes']:4d} {ms(r['ideal']):9.1f} {ms(r['processing']):9.1f} {ms(r['cycles']):9.1f} "
              f"{r['stalls']['noc']:10,} {r['stalls']['dram']:10,} {r['dram_words'] / r['macs']:9.4f}  {r['mapping']}")
    tot = {k: sum(r[k] for r in rows) for k in ("macs", "ideal", "processing", "cycles", "dram_words")}
    dram_per_mac = tot["dram_words"] / tot["macs"]
    print(f"{'total':8s} {'':4s} {ms(tot['ideal']):9.1f} {ms(tot['processing']):9.1f} {ms(tot['cycles']):9.1f} "
          f"{'':10s} {'':10s} {dram_per_mac:9.4f}")
    print(f"{'chip':8s} {'':4s} {'':9s} {chip_processing:9.1f} {chip_latency:9.1f} {'':10s} {'':10s} {chip_dram:9.4f}")
    print(f"model / chip: processing {ms(tot['processing']) / chip_processing:.3f}, latency incl. I/O "
          f"{ms(tot['cycles']) / chip_latency:.3f}, DRAM accesses per MAC {dram_per_mac / chip_dram:.2f}x")
    return {"processing_ms": ms(tot["processing"]), "latency_ms": ms(tot["cycles"]), "dram_per_mac": dram_per_mac}


def test_alexnet_processing_latency_within_10_percent():
    """AlexNet CONV1-5 as the chip runs it (grouped CONV2/4/5, batch 4, RS, 200 MHz): 103.5 ms of
    processing latency per batch; the model must land within 10%."""
    rows = chip_run("alexnet", 4)
    tot = print_table(rows, "Eyeriss v1, AlexNet CONV1-5, batch 4 (chip: JSSC'17)", 103.5, 115.3, 0.0029)
    assert abs(tot["processing_ms"] - 103.5) <= 0.10 * 103.5


def test_alexnet_dram_accesses_per_mac_within_2x():
    """The chip measured 0.0029 DRAM accesses per MAC. It run-length compresses the ifmaps and
    ofmaps it moves to and from DRAM (ReLU outputs are full of zeros) and the model moves every
    dense 16-bit word, so the model is expected above the chip, but within 2x."""
    rows = chip_run("alexnet", 4)
    dram = sum(r["dram_words"] for r in rows) / sum(r["macs"] for r in rows)
    print(f"\nDRAM accesses per MAC: model {dram:.4f}, chip 0.0029 ({dram / 0.0029:.2f}x)")
    assert 0.0029 <= dram <= 2 * 0.0029


@pytest.mark.xfail(strict=True, reason="known miss: the model gives ~1770 ms against the chip's 3755.2 ms "
                                        "(see the docstring); strict, so reaching the 15% band is noticed")
def test_vgg16_processing_latency_within_15_percent():
    """VGG-16 CONV layers, batch 3: the chip measured 3755.2 ms of processing latency; the issue asks
    for 15%. The model misses it: it gives about 1770 ms (0.47 of the chip). The test asserts the
    issue's band and is marked as an expected failure, so the miss stays visible in every run.

    Why the gap: on the chip VGG-16 runs at 46 G MACs / 3.755 s = 12.3 GMAC/s, 36% of the 33.6 GMAC/s
    peak, while AlexNet's CONV layers run at 2.66 G / 103.5 ms = 25.7 GMAC/s (77%). VGG's layers are 3x3
    stride-1 convolutions with 64-512 channels, the same shape class as AlexNet's CONV3-5, and in the
    model they map as those do (all 168 PEs busy on all but the first two layers), so the model
    predicts AlexNet-like efficiency (ideal 1445 ms, +22% stalls: the psum networks and the PE adder
    cycles).

    What was tried, each a documented property of the chip, none fitted to this figure:
    - the GLB split (100 kB ifmap/psum, 8 kB filter) and passes that walk whole ifmap rows (no split
      of the 224-wide rows): both are now in configs/eyeriss_v1.yaml; they moved VGG from 1855 to
      about 1770 ms (the mapper finds other full-array mappings) and AlexNet from 104.1 to 109.9 ms;
    - sensitivity, not adopted: halving every global network's width (32-bit buses) brings VGG only
      to 0.69 of the chip while AlexNet goes to 1.31; requiring a pass to hold the whole batch (why
      else batch 3?) leaves VGG at 0.50 and puts AlexNet at 1.29.
    So no documented parameter slows VGG 2x without breaking AlexNet; the extra time on the chip
    must come from something reference/eyeriss.md does not describe (it gives only totals).
    """
    rows = chip_run("vgg16", 3)
    tot = print_table(rows, "Eyeriss v1, VGG-16 CONV layers, batch 3 (chip: JSSC'17)", 3755.2, 4309.5, 0.0035)
    ratio = tot["processing_ms"] / 3755.2
    print(f"model {tot['processing_ms']:.1f} ms; chip 3755.2 ms; {1 - ratio:.0%} below the chip")
    assert abs(tot["processing_ms"] - 3755.2) <= 0.15 * 3755.2
