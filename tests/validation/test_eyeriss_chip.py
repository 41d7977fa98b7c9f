"""Eyeriss v1 (configs/eyeriss_v1.yaml) against the chip's measured totals (reference/eyeriss.md).

Every figure comes from the config's documented parameters: 200 MHz, 12 x 14 PEs, scratchpads
12/224/24 words, 108 kB GLB (100 kB ifmap/psum, 8 kB filter holding the filters of the current
processing pass, refilled per pass) with 16 words/cycle of ports, 64-bit
GIN/GON networks, a local psum link per pair of vertically adjacent PEs, a PE adder cycle per psum
passed up a column, the filter scratchpad's free words prefetching the next pass's filters (the
refill charged once per processing pass), an input FIFO of 4 words at each PE's ifmap and filter
inputs (JSSC'17 publishes no depth: one 64-bit GIN transfer is assumed), the off-chip link of 64 bits at
90 MHz (0.72 GB/s, 1.8 words per 200 MHz cycle), and the chip's RS mapping limits (whole ifmap rows
per pass, one filter row per PE, sets replicated for channels and filters only). Nothing is fitted to
the published latencies.

The VGG-16 tables' mappings (chip_run) are chosen as a compiler for the chip with this simulator would:
the mapper searches the chip's RS mappings for minimum energy x delay and for minimum energy
(default budget, seed 0), scoring delay with the Eyexam step-6 bound (DRAM, GLB and every NoC stream
at its bandwidth); the dataflow's named mapping and both searches' shortlists are then simulated and
the lowest simulated energy x delay is kept (accelsim.refine). The bound cannot see transfers
a full scratchpad must wait for or the PE cycles spent adding psums, the simulation can.

*Processing latency* excludes configuration and off-chip I/O time (reference/eyeriss.md), so the
comparable model figure is the same mapping simulated with an ideal DRAM (``Arch.on_chip``: unlimited
bandwidth, no latency), not the cycles minus the DRAM stalls of the real link (which hide the on-chip
waits a DRAM-bound schedule overlaps: CONV1 15.30 ms that way, 16.01 ms on chip).

Per-layer chip figures (JSSC'17 Tables IV and V: processing latency in ms, GLB accesses in MB) are
not in reference/eyeriss.md, which gives totals only; they are taken from the paper's tables as
transcribed in github.com/cucapra/fodlam (data/eyeriss-alexnet.csv, data/eyeriss-vgg16.csv). One
transcription error is corrected: VGG CONV2-2's processing latency reads 1110.3 ms there, above that
row's own total latency (894.3 ms), and makes the column sum 4054.8 instead of the table's 3755.2;
3755.2 minus the other twelve rows gives 810.7 ms, the figure of CONV1-2, which has the same MACs.
AlexNet CONV3's processing latency is 21.8 ms (reference/eyeriss.md): the OCR copy's 21.3 does not
make the column add up to the printed 103.5.

The default run (``accelsim run eyeriss_v1 -w alexnet -b 4``) uses the RS named mapping, which on
this arch is the chip's own mapping rule (dataflows/rs_params.py: JSSC'17 Table III's m, n, e, p,
q, r, t chosen within the scratchpads and the GLB); the tests on it check the chip's per-layer
figures. ``accelsim run ... --search --refine --objective edp`` must find, layer by layer, a
mapping at least as good (simulated energy x delay) as the chip's.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest

from accelsim import pipeline
from accelsim.arch import load_arch
from accelsim.cost.counts import L_DRAM, L_GLB, busy_pes, fixed_actions
from accelsim.cost.model import evaluate
from accelsim.mapper.search import SearchSpec, search
from accelsim.mapping import RF as RF_LEVEL
from accelsim.names import GLB, READ, ROLES, UPDATE
from accelsim.refine import by_simulation
from accelsim.sim import simulate_layer
from accelsim.tiles import tile_extents
from dataflows import registry
from dataflows.named import complete
from dataflows.rs import DATAFLOW_GLB_INNER
from dataflows.rs_params import RsParams, params_of, to_mapping
from workloads.loader import load_workload

CLOCK_HZ = 200e6
BUDGET = SearchSpec().budget          # the mapper's default budget

# per layer: (processing latency ms, GLB accesses MB), JSSC'17 (see the module docstring)
CHIP_ALEXNET = {"CONV1": (16.5, 18.5), "CONV2": (39.2, 77.6), "CONV3": (21.8, 50.2), "CONV4": (16.0, 37.4),
                "CONV5": (10.0, 24.9)}
CHIP_VGG16 = {"conv1_1": (38.0, 112.5), "conv1_2": (810.6, 2402.8), "conv2_1": (405.3, 1201.4),
              "conv2_2": (810.7, 2402.3), "conv3_1": (204.0, 607.4), "conv3_2": (408.1, 1214.8),
              "conv3_3": (408.1, 1214.8), "conv4_1": (105.1, 321.3), "conv4_2": (210.0, 643.7),
              "conv4_3": (210.0, 643.7), "conv5_1": (48.3, 90.0), "conv5_2": (48.5, 90.0), "conv5_3": (48.5, 90.0)}


@cache
def chip_run(workload: str, batch: int) -> tuple[dict, ...]:
    arch = load_arch("eyeriss_v1")
    flow = registry.get("rs")
    rows = []
    for layer in load_workload(workload, batch).layers:
        if not layer.name.lower().startswith("conv"):
            continue
        found = [search(layer, arch, flow, SearchSpec(obj, BUDGET, 0)) for obj in ("edp", "energy")]
        pool = (flow.named(layer, arch),) + tuple(m for f in found for m in f.shortlist)
        refined = by_simulation(layer, arch, tuple(dict.fromkeys(pool)), "edp")
        rows.append(_row(layer, arch, refined.result, refined.sim))
    return tuple(rows)


# JSSC'17 Table III (m, n, e, p, q, r, t), reference/eyeriss.md; CONV3-5 from a partly garbled OCR copy
TABLE_III = {"CONV1": (96, 1, 7, 16, 1, 1, 2), "CONV2": (64, 1, 27, 16, 2, 1, 1), "CONV3": (64, 4, 13, 16, 4, 1, 4),
             "CONV4": (64, 4, 13, 16, 3, 2, 2), "CONV5": (64, 4, 13, 16, 3, 2, 2)}
CHIP_ACTIVE_PES = {"CONV1": 154, "CONV2": 135, "CONV3": 156, "CONV4": 156, "CONV5": 156}


def _row(layer, arch, result, sim) -> dict:
    """``sim``: the run on the real link; processing: the same mapping simulated on chip."""
    c = result.counts
    on_chip = simulate_layer(layer, arch.on_chip(), result.mapping, c)
    return {"name": layer.name, "macs": layer.macs, "pes": busy_pes(layer, result.mapping), "ideal": c.cycles,
            "cycles": sim.cycles, "processing": on_chip.cycles, "stalls": sim.stall_cycles,
            "dram_words": sum(c.reads[L_DRAM]) + sum(c.writes[L_DRAM]),
            "glb_words": sum(c.reads[L_GLB]) + sum(c.writes[L_GLB]),
            "glb_array_words": glb_array_words(layer, result.mapping),
            "edp": result.energy_pj * sim.cycles, "mapping": result.mapping.compact(),
            "params": params_of(layer, result.mapping)}


@cache
def pipeline_run(workload: str, batch: int, searched: bool) -> tuple[dict, ...]:
    """The CLI's run: ``accelsim run eyeriss_v1 -w WORKLOAD -b BATCH`` (the named mapping), or with
    ``--search --refine --objective edp`` (default budget, seed 0); the CONV layers."""
    spec = SearchSpec("edp", BUDGET, 0) if searched else None
    arch = load_arch("eyeriss_v1")
    run = pipeline.run(arch, load_workload(workload, batch), search_spec=spec, simulate=True, refine=searched)
    return tuple(_row(lr.result.layer, arch, lr.result, lr.sim) for lr in run.layers
                 if lr.result.layer.name.lower().startswith("conv"))


def ms(cycles: float) -> float:
    return cycles / CLOCK_HZ * 1e3


def print_table(rows, title: str, chip_processing: float, chip_latency: float, chip_dram: float,
                per_layer: dict) -> dict:
    """The comparison table; ``per_layer``: the chip's (processing ms, GLB MB) by layer name."""
    print()
    print(title)
    print(f"{'layer':8s} {'PEs':>4s} {'ideal ms':>9s} {'proc ms':>8s} {'chip ms':>8s} {'ratio':>6s} {'total ms':>9s} "
          f"{'stall noc':>10s} {'stall dram':>10s} {'DRAM/MAC':>9s} {'GLB MB':>7s} {'chip':>7s} {'all':>6s}  mapping")
    for r in rows:
        chip_ms, chip_glb_mb = per_layer[r["name"]]
        prm = f" [{r['params'].text()}]" if r.get("params") else ""
        print(f"{r['name']:8s} {r['pes']:4d} {ms(r['ideal']):9.1f} {ms(r['processing']):8.1f} {chip_ms:8.1f} "
              f"{ms(r['processing']) / chip_ms:6.3f} {ms(r['cycles']):9.1f} {r['stalls']['noc']:10,} "
              f"{r['stalls']['dram']:10,} {r['dram_words'] / r['macs']:9.4f} {glb_mb(r):7.1f} {chip_glb_mb:7.1f} "
              f"{glb_all_mb(r):6.1f}  {r['mapping']}{prm}")
    tot = {k: sum(r[k] for r in rows) for k in ("macs", "ideal", "processing", "cycles", "dram_words")}
    dram_per_mac = tot["dram_words"] / tot["macs"]
    print(f"{'total':8s} {'':4s} {ms(tot['ideal']):9.1f} {ms(tot['processing']):8.1f} "
          f"{sum(v[0] for v in per_layer.values()):8.1f} {'':6s} {ms(tot['cycles']):9.1f} {'':10s} {'':10s} "
          f"{dram_per_mac:9.4f}")
    print(f"{'chip':8s} {'':4s} {'':9s} {chip_processing:8.1f} {'':8s} {'':6s} {chip_latency:9.1f} {'':10s} {'':10s} "
          f"{chip_dram:9.4f}")
    print(f"model / chip: processing {ms(tot['processing']) / chip_processing:.3f}, latency incl. I/O "
          f"{ms(tot['cycles']) / chip_latency:.3f}, DRAM accesses per MAC {dram_per_mac / chip_dram:.2f}x")
    return {"processing_ms": ms(tot["processing"]), "latency_ms": ms(tot["cycles"]), "dram_per_mac": dram_per_mac}


def glb_array_words(layer, mapping) -> int:
    """GLB accesses on the array side: reads to the PE array (ifmaps, filters, psums to accumulate
    on) and psum writes from it, i.e. the action table's GLB ``read`` + ``update``, leaving out the
    DRAM side (``fill`` from DRAM, ``drain`` to DRAM: the DRAM traffic, which JSSC'17 reports in
    its own column). reference/eyeriss.md does not define the chip's "GLB MB"; this is the count it
    matches on every AlexNet layer (see test_alexnet_default_run_glb_accesses_within_10_percent)."""
    a = fixed_actions(layer, mapping)
    return sum(a.storage.get((GLB, r, act), 0) for r in ROLES for act in (READ, UPDATE))


def glb_mb(row: dict) -> float:
    """GLB accesses on the array side (:func:`glb_array_words`) in MB of 16-bit words (JSSC'17's unit)."""
    return row["glb_array_words"] * 2 / 1e6


def glb_all_mb(row: dict) -> float:
    """Every GLB read + write (the array side and the DRAM side) in MB of 16-bit words."""
    return row["glb_words"] * 2 / 1e6


def alexnet_default() -> tuple[dict, ...]:
    rows = pipeline_run("alexnet", 4, False)
    print_table(rows, "Eyeriss v1, AlexNet CONV1-5, batch 4, the chip's mapping rule (accelsim run eyeriss_v1 "
                "-w alexnet -b 4)", 103.5, 115.3, 0.0029, CHIP_ALEXNET)
    return rows


def test_alexnet_default_run_total_within_3_percent():
    """AlexNet CONV1-5 as the chip runs it (grouped CONV2/4/5, batch 4, RS, 200 MHz) with the chip's
    own mapping rule: 103.5 ms of processing latency per batch; the model must land within 3%."""
    total = sum(ms(r["processing"]) for r in alexnet_default())
    assert abs(total - 103.5) <= 0.03 * 103.5, total


def test_alexnet_default_run_every_layer_within_10_percent():
    """Layer by layer (JSSC'17 Table IV): within 10% (MAESTRO's published worst layer is +12.4%)."""
    for r in pipeline_run("alexnet", 4, False):
        chip_ms = CHIP_ALEXNET[r["name"]][0]
        assert abs(ms(r["processing"]) - chip_ms) <= 0.10 * chip_ms, (r["name"], ms(r["processing"]), chip_ms)


def test_alexnet_default_run_active_pes_are_the_chips():
    """PEs that do work (accelsim.cost.counts.busy_pes): 154 / 135 / 156 / 156 / 156 on the chip,
    CONV2's 5 x 27 set folded onto 10 x 14 PEs leaving 5 idle."""
    assert {r["name"]: r["pes"] for r in pipeline_run("alexnet", 4, False)} == CHIP_ACTIVE_PES


def test_alexnet_default_run_glb_accesses_within_10_percent():
    """GLB accesses per layer against JSSC'17 Table IV's GLB MB (a count, not a latency), counted on
    the array side (:func:`glb_array_words`). Which accesses the chip's figure counts is not stated
    in reference/eyeriss.md; the table decides it (printed, columns ``GLB MB`` and ``all``): the
    array side lands 0.98-1.00x the chip on all five layers, every GLB access 1.04-1.09x on CONV2-5
    and 1.32x on CONV1. The difference is the DRAM side, whose words equal the DRAM traffic (6.1 MB
    on CONV1, where the chip's own DRAM column says 5.0 MB compressed); CONV1's is the largest
    because its filters pass through the 8 kB filter part once per processing pass (2 x 1,115,136
    words: DRAM -> GLB and GLB -> PEs) and its 3 input channels re-write every psum."""
    for r in pipeline_run("alexnet", 4, False):
        chip = CHIP_ALEXNET[r["name"]][1]
        assert abs(glb_mb(r) - chip) <= 0.10 * chip, (r["name"], glb_mb(r), chip)


@pytest.mark.parametrize("name", ["CONV1", "CONV4", "CONV5"])
def test_mapping_rule_reproduces_table_iii(name):
    """The rule (dataflows.rs_params.choose) picks JSSC'17 Table III's m, n, e, p, q, r, t."""
    row = [r for r in pipeline_run("alexnet", 4, False) if r["name"] == name][0]
    got = row["params"]
    assert (got.m, got.n, got.e, got.p, got.q, got.r, got.t) == TABLE_III[name]


@pytest.mark.xfail(strict=True, reason="the rule picks n=2, m=32 on CONV2 where the chip ran n=1, m=64: both "
                                        "fill the 100 kB psum part (32 x 2 x 27 x 27 words); the rule's choice "
                                        "moves 2.48 M DRAM words against 2.54 M (2% fewer) with the dense, "
                                        "unpadded DRAM counts of this model, so its fewest-DRAM-words step "
                                        "prefers it; what made the chip's compiler keep n=1 is not published")
def test_mapping_rule_reproduces_table_iii_conv2():
    row = [r for r in pipeline_run("alexnet", 4, False) if r["name"] == "CONV2"][0]
    got = row["params"]
    assert (got.m, got.n, got.e, got.p, got.q, got.r, got.t) == TABLE_III["CONV2"]


def test_conv3_table_iii_row_disagrees_with_the_chips_own_glb_traffic():
    """The rule picks q=3, r=2, t=2 on CONV3 (as Table III has for CONV4/5) where the OCR copy of
    Table III reads q=4, r=1, t=4. The chip's measured GLB accesses decide between them (a count, not
    a latency): a CONV3 pass that accumulates q·r input channels re-reads and re-writes every psum
    256 / (q·r) times, so the OCR row moves about 1.4x the psum words of the rule's. The rule's mapping
    must land within 10% of the chip's 50.2 MB and the OCR row's more than 30% above it."""
    arch = load_arch("eyeriss_v1")
    layer = [x for x in load_workload("alexnet", 4).layers if x.name == "CONV3"][0]
    ocr = evaluate(layer, arch, to_mapping(layer, arch, RsParams(*TABLE_III["CONV3"])))
    ocr_mb = glb_array_words(layer, ocr.mapping) * 2 / 1e6
    rule = [r for r in pipeline_run("alexnet", 4, False) if r["name"] == "CONV3"][0]
    print(f"\nCONV3 GLB MB: rule [{rule['params'].text()}] {glb_mb(rule):.1f}, Table III OCR row {ocr_mb:.1f}, "
          f"chip 50.2")
    assert abs(glb_mb(rule) - 50.2) <= 0.10 * 50.2
    assert ocr_mb > 1.3 * 50.2


def test_search_refine_finds_at_least_the_chips_mapping():
    """``accelsim run eyeriss_v1 -w alexnet -b 4 --search --refine --objective edp``: on every layer,
    the simulated energy x delay is at most that of the chip's mapping (the default run)."""
    chip = pipeline_run("alexnet", 4, False)
    found = pipeline_run("alexnet", 4, True)
    print_table(found, "Eyeriss v1, AlexNet CONV1-5, batch 4, searched and refined by simulated EDP", 103.5, 115.3,
                0.0029, CHIP_ALEXNET)
    for a, b in zip(chip, found):
        print(f"{a['name']}: searched EDP / chip's mapping EDP = {b['edp'] / a['edp']:.3f}")
    for a, b in zip(chip, found):
        assert b["edp"] <= a["edp"], (a["name"], b["edp"] / a["edp"])


def test_alexnet_dram_accesses_per_mac_within_2x():
    """The chip measured 0.0029 DRAM accesses per MAC. It run-length compresses the ifmaps and
    ofmaps it moves to and from DRAM (ReLU outputs are full of zeros) and the model moves every
    dense 16-bit word, so the model is expected above the chip, but within 2x."""
    rows = pipeline_run("alexnet", 4, False)
    dram = sum(r["dram_words"] for r in rows) / sum(r["macs"] for r in rows)
    print(f"\nDRAM accesses per MAC: model {dram:.4f}, chip 0.0029 ({dram / 0.0029:.2f}x)")
    assert 0.0029 <= dram <= 2 * 0.0029


@pytest.mark.xfail(strict=True, reason="known miss: the model gives 1575.5 ms against the chip's 3755.2 ms "
                                        "(0.420; see the docstring); strict, so reaching the 15% band is noticed")
def test_vgg16_processing_latency_within_15_percent():
    """VGG-16 CONV layers, batch 3: the chip measured 3755.2 ms of processing latency; the issue asks
    for 15%. The model misses it: it gives 1575.5 ms (0.420 of the chip) with this test's mappings
    (search and simulation re-ranking, chip_run), 1890.2 ms (0.50) with the chip's mapping rule (the
    default run). The test asserts the issue's band and is marked as an expected failure, so the miss
    stays visible in every run.

    Where the gap is (the per-layer table): conv4_1-conv5_3 land within 13% of the chip; conv1_1-conv3_3
    run 1.4x-4.5x faster in the model. On those wide layers (56-224 pixels per row) the chip read and
    wrote its GLB 0.216 words per MAC (0.109 at 56 wide): a 3x3 layer that re-reads and re-writes every
    psum after each input channel moves 2/9 = 0.222 psum words per MAC, after two channels 0.111. So the
    chip accumulated only one (two) input channels per pass there, and at the 64-bit psum networks'
    4 + 4 words per cycle that caps the array near 36 (72) MACs per cycle: the chip's 20% (40%) of peak.
    The model's mappings keep 3-16 channels per pass in the same 100 kB and move 0.025-0.040 GLB words
    per MAC on the array side (the chip's own rule: 3 / 12 / 12 / 12 / 12 / 12 / 12 channels, see
    test_vgg16_rule_picks_the_chips_channels_per_pass_on_wide_layers). Given a one-channel-per-pass
    mapping, the model itself lands near the chip (36.1 / 771.3 / 385.8 / 771.6 ms against
    38.0 / 810.6 / 405.3 / 810.7 ms for conv1_1-conv2_2; checked below). The miss is the chip's mapping
    choice on wide layers, which nothing in reference/eyeriss.md describes. Before the chip's mapping
    rule (issue 14), no selection rule or extra constraint tried matched AlexNet and VGG-16 at once
    (AlexNet / VGG-16 against the chip, measured then: this test's 1.09 / 0.49; the mapper's EDP
    choice unsimulated 1.16 / 0.50; lowest cycles 1.08 / 0.49; lowest energy 2.49 / 1.02; the named
    mapping 1.23 / 0.59; the whole batch in every pass 1.12 / 0.50; at least 135 busy PEs, then lowest
    energy, 1.41 / 0.53); with the chip's rule, 1.003 / 0.50 and this test's path 1.044 / 0.436; with the
    PE input FIFOs, 0.975 / 0.499 and 0.960 / 0.419; with per-pass filter tiles (and each GLB part's
    own free space for prefetch), the rule 0.976 / 0.500 and VGG-16 by this test's path 0.417; with
    processing simulated on chip (ideal DRAM) instead of the cycles minus the DRAM stalls, 0.983 / 0.503
    and 0.420.
    """
    rows = chip_run("vgg16", 3)
    tot = print_table(rows, "Eyeriss v1, VGG-16 CONV layers, batch 3 (chip: JSSC'17)", 3755.2, 4309.5, 0.0035,
                      CHIP_VGG16)
    ratio = tot["processing_ms"] / 3755.2
    print(f"model {tot['processing_ms']:.1f} ms; chip 3755.2 ms; {1 - ratio:.0%} below the chip")
    assert abs(tot["processing_ms"] - 3755.2) <= 0.15 * 3755.2


def test_vgg16_gap_is_where_the_chip_moved_more_psums():
    """The explanation above, as a check that could fail. Split VGG's layers by the chip's measured
    GLB accesses per MAC against the model's (a count, not a latency): where the chip moved at most
    2x the model's GLB words, the model's processing latency must be within 15% of the chip's, layer
    by layer; where the chip moved more than 2x, the model must be faster than the chip. (The 2x
    threshold was set after reading the table; both groups must be non-empty.)"""
    rows = chip_run("vgg16", 3)
    similar, heavier = [], []
    for r in rows:
        chip_ms, chip_glb_mb = CHIP_VGG16[r["name"]]
        chip_glb = chip_glb_mb * 1e6 / 2               # 16-bit words
        (similar if chip_glb <= 2 * r["glb_array_words"] else heavier).append((r, chip_ms))
    print(f"\nsimilar GLB traffic: {[r['name'] for r, _ in similar]}; chip moved > 2x: {[r['name'] for r, _ in heavier]}")
    assert similar and heavier
    for r, chip_ms in similar:
        assert abs(ms(r["processing"]) - chip_ms) <= 0.15 * chip_ms, (r["name"], ms(r["processing"]), chip_ms)
    for r, chip_ms in heavier:
        assert ms(r["processing"]) < chip_ms, (r["name"], ms(r["processing"]), chip_ms)


def test_vgg16_wide_layers_with_the_chips_psum_traffic_match_the_chip():
    """Given a mapping that moves psums through the GLB as the chip did, the timing model lands on the
    chip. On conv1_1-conv2_2 the chip's GLB traffic says one input channel per pass: build that RS
    mapping (the filter rows on the PE rows, up to four filter sets stacked, 14 output rows across the
    columns, each PE one input channel and as many filters as the 100 kB ifmap/psum buffer allows; the
    dataflows.named helper settles the rest). Its GLB
    accesses per MAC must be within 20% of the chip's measured ones (the premise), and then its
    processing latency within 15% of the chip's."""
    arch = load_arch("eyeriss_v1")
    layers = {layer.name: layer for layer in load_workload("vgg16", 3).layers}
    print()
    for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2"):
        layer = layers[name]
        m = complete(layer, arch, rows={"R": 3, "K": 4}, cols={"P": 14}, rf={"S": 3, "C": 1, "K": 24},
                     keep_rf=("ifmap", "weight", "psum"), glb_innermost=DATAFLOW_GLB_INNER, rf_order=("K", "C", "S"))
        r = evaluate(layer, arch, m)
        sim = simulate_layer(layer, arch.on_chip(), m, r.counts)
        glb = glb_array_words(layer, m) / layer.macs
        chip_ms, chip_glb_mb = CHIP_VGG16[name]
        chip_glb = chip_glb_mb * 1e6 / 2 / layer.macs
        proc = ms(sim.cycles)
        print(f"{name}: GLB/MAC {glb:.3f} (chip {chip_glb:.3f}), processing {proc:.1f} ms (chip {chip_ms})  "
              f"{m.compact()}")
        assert abs(glb - chip_glb) <= 0.20 * chip_glb, (name, glb, chip_glb)
        assert abs(proc - chip_ms) <= 0.15 * chip_ms, (name, proc, chip_ms)


WIDE_VGG = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3")


@pytest.mark.xfail(strict=True, reason="the chip's mapping rule (dataflows.rs_params) keeps 3 / 12 / 12 / 12 / "
                                        "12 / 12 / 12 input channels per pass (q·r) on conv1_1-conv3_3 (q=3 fills "
                                        "the ifmap scratchpad; r fills the rows), where the chip's GLB traffic "
                                        "implies 1 (224- and 112-wide layers) and 2 (56-wide): the rule's GLB "
                                        "words per MAC (array side) are 0.040 / 0.025 / 0.025 / 0.024 / 0.025 / "
                                        "0.026 / 0.026 against the chip's 0.216-0.217 and 0.109, its processing "
                                        "latency 40.3 / 469.2 / 104.4 / 192.9 / 96.5 / 193.0 / 193.0 ms against "
                                        "38.0 / 810.6 / 405.3 / 810.7 / 204.0 / 408.1 / 408.1 (VGG-16 total "
                                        "1890.2 ms, 0.50 of 3755.2); "
                                        "nothing in the chip's published limits makes the rule pick 1-2 channels")
def test_vgg16_rule_picks_the_chips_channels_per_pass_on_wide_layers():
    """VGG-16 with the same rule and the chip's limits: on conv1_1-conv3_3 the chip's GLB traffic
    (see test_vgg16_processing_latency_within_15_percent) says one input channel per pass on the
    224- and 112-wide layers and two on the 56-wide ones. The rule must pick at most that."""
    arch = load_arch("eyeriss_v1")
    layers = {layer.name: layer for layer in load_workload("vgg16", 3).layers}
    picked = {}
    for name in WIDE_VGG:
        prm = params_of(layers[name], registry.get("rs").named(layers[name], arch))
        picked[name] = prm.q * prm.r
    print(f"\nchannels per pass the rule picks: {picked}")
    assert all(picked[n] <= (2 if n.startswith("conv3") else 1) for n in WIDE_VGG), picked


def _with_noc(arch, **params):
    return replace(arch, noc=replace(arch.noc, params=tuple(sorted({**dict(arch.noc.params), **params}.items()))))


def _processing_ms(layer, arch, m) -> float:
    return ms(simulate_layer(layer, arch.on_chip(), m, evaluate(layer, arch, m).counts).cycles)


def test_each_timing_effect_switched_off_alone():
    """The default run's mappings (the chip's rule on the shipped config) re-simulated with one
    timing effect of the arch switched off at a time, processing latency per layer against the
    chip (printed: docs/simulation.md's table). Each must move the layers the way its mechanism
    says: without the PE input FIFOs CONV1's stride-4 slides are exposed again (slower) and no
    layer gets faster; one psum link per column instead of per PE pair never speeds a layer up;
    without the PE adder cycle every layer is faster; with no free filter-scratchpad words or
    filter FIFO (the scratchpad exactly one pass's filters) the next pass's filters cannot arrive
    early, so no layer is faster and CONV3-5 (144 of 224 words used) are slower. (CONV1 was not
    asserted while processing latency was the cycles minus the DRAM stalls: its next filters' wait
    was booked as a DRAM stall. Simulated on chip it is slower too, 16.41 against 16.01 ms.)"""
    arch = load_arch("eyeriss_v1")
    layers = [x for x in load_workload("alexnet", 4).layers if x.name.startswith("CONV")]
    maps = {x.name: registry.get("rs").named(x, arch) for x in layers}

    def no_filter_room(layer):
        tile = tile_extents(layer, maps[layer.name], (RF_LEVEL,))["weight"]
        fifo = tuple((t, w) for t, w in arch.pe_array.input_fifo if t != "weight")
        return replace(arch, rf=replace(arch.rf, weight=tile), pe_array=replace(arch.pe_array, input_fifo=fifo))

    variants = {
        "shipped config": lambda layer: arch,
        "no PE input FIFOs": lambda layer: replace(arch, pe_array=replace(arch.pe_array, input_fifo=())),
        "psum links: one per column": lambda layer: _with_noc(arch, local_links="column"),
        "no PE adder cycle": lambda layer: _with_noc(arch, accumulate_cycles=0),
        "no room for the next filters": no_filter_room,
    }
    got = {name: {x.name: _processing_ms(x, f(x), maps[x.name]) for x in layers} for name, f in variants.items()}
    print("\nprocessing ms per layer (vs chip), each effect switched off alone, default run's mappings")
    for name, row in got.items():
        cells = " / ".join(f"{v:.2f} ({v / CHIP_ALEXNET[k][0] - 1:+.1%})" for k, v in row.items())
        total = sum(row.values())
        print(f"{name:30s} {cells}  total {total:.2f} ({total / 103.5 - 1:+.1%})")
    base = got["shipped config"]
    assert got["no PE input FIFOs"]["CONV1"] > base["CONV1"]
    assert all(got["no PE input FIFOs"][k] >= base[k] for k in base)
    assert all(got["psum links: one per column"][k] >= base[k] for k in base)
    assert all(got["no PE adder cycle"][k] < base[k] for k in base)
    assert all(got["no room for the next filters"][k] >= base[k] for k in base)
    assert all(got["no room for the next filters"][k] > base[k] for k in ("CONV3", "CONV4", "CONV5"))
