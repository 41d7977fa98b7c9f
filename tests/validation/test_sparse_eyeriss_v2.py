"""Eyeriss v2 on sparse MobileNet, batch 1, against the chip (JETCAS'19; reference/eyeriss.md, sparsity.md).

Published: 1470.6 inferences/s and 2560.3 inferences/J at batch 1, 12.6x faster and 2.5x more
energy-efficient than Eyeriss v1 running MobileNet.

The network (``workloads/zoo/mobilenet.py``): the paper's MobileNet variant, v1 with width 0.5 at
128 x 128 (49.16 M MACs; Howard et al. give 49 M mult-adds for "0.50 MobileNet-128"), with the densities
Sparseloop's artifact uses for its Eyeriss v2 validation on this network (eight pointwise layers; every
other layer dense: an assumption, stated in the zoo). The paper's own per-layer densities were not
reachable here (only its abstract), so these are the closest published figures, not the paper's table.

The runs (``accelsim run eyeriss_v2_flat -w mobilenet_v1_05_128_sparse --sparse eyeriss_v2`` and
``accelsim run eyeriss_v1 -w mobilenet_v1_05_128_sparse --sparse eyeriss_v1``), named mappings whose
tiles fit the scratchpads by compressed size (``accelsim.mapper.sparse_fit``), the simulator on, both
priced by the repo's 65 nm table (``accelergy_65nm``, per 16-bit word). The v2 PE's stores are the
reference's (reference/sparsity.md: iact spad 16 data entries plus metadata, weight spad 192 data entries
plus 128 metadata entries), each metadata store its own, sized in bits as Sparseloop's Eyeriss v2 PE
validation sizes them (configs/sparse/eyeriss_v2.yaml): ifmap metadata 25 x 4 bits = 6.25 words, weight
metadata 128 x 8 bits = 64 words, and the CSC ranks ordered as that validation orders them (``inner``:
ifmap coordinates over the channels with one offset per position, weight coordinates over the output
channels with one offset per input channel and tap). So ordered, every named mapping fits (a 16-channel
pointwise ifmap tile takes 4.5 metadata words); in the formats' default order (coordinates along the
tile's last axis, one offset per channel) 14 of the 28 would be cut, every one by a metadata store.

- time per inference: the on-chip processing cycles, the sparse view's counts simulated with an ideal
  DRAM (``Arch.on_chip``, as test_eyeriss_v2.py: both configs assume a 0.72 GB/s link that would hide
  the chips; not the cycles minus the link's DRAM stalls, which hide the on-chip waits under them;
  ``pipeline.LayerRun.sparse_sim``: the same schedule with
  the compressed data + metadata + gated words per level and over the NoC, the words sent into the PE
  in its CSC, and the sparse ideal cycles, skipping with load imbalance); v1 only gates and compresses its DRAM traffic;
- energy per inference: the sparse view's on-chip energy (data, metadata and gated actions; DRAM
  excluded, as the chips report the core's power).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest

from accelsim import pipeline
from accelsim.arch import load_arch
from accelsim.energy import PRESETS
from accelsim.sparse.layer import Sparsity
from accelsim.sparse.spec import load_spec
from workloads.loader import load_workload

CHIP_INF_PER_S = 1470.6
CHIP_INF_PER_J = 2560.3
CHIP_SPEEDUP = 12.6
CHIP_EFFICIENCY = 2.5
CLOCK_HZ = 200e6
RUNS = {"v2": ("eyeriss_v2_flat", "eyeriss_v2"), "v1": ("eyeriss_v1", "eyeriss_v1")}


@cache
def figures() -> dict:
    w = load_workload("mobilenet_v1_05_128_sparse", 1)
    out = {}
    for key, (config, preset) in RUNS.items():
        arch = load_arch(config)
        a65 = replace(arch, energy=PRESETS["accelergy_65nm"](arch.word_bits, arch.glb.size_kb),
                      energy_preset="accelergy_65nm")
        run = pipeline.run(a65.on_chip(), w, simulate=True, sparsity=Sparsity(load_spec(preset)))
        cycles = dense_cycles = pj = 0.0
        layers = []         # (name, sparse densities?, dense cycles, sparse cycles, MACs reading elements / MACs), on chip
        for lr in run.layers:
            if lr.sparse is None:
                continue
            assert lr.sim.stall_cycles["dram"] == lr.sparse_sim.stall_cycles["dram"] == 0
            dense, sparse = lr.sim.cycles, lr.sparse_sim.cycles
            sa = lr.sparse.actions
            layers.append((lr.result.layer.name, any(d < 1 for d in sa.densities.values()), dense, sparse,
                           (sa.effective_macs + sa.gated_macs) / sa.macs))
            dense_cycles += dense
            cycles += sparse
            pj += sum(v for part, v in lr.sparse.energy_breakdown_pj.items() if part != "dram")
        out[key] = {"macs": w.macs, "cycles": cycles, "dense_cycles": dense_cycles, "layers": layers,
                    "inf_s": CLOCK_HZ / cycles, "dense_inf_s": CLOCK_HZ / dense_cycles, "inf_j": 1e12 / pj}
    out["v2_clustered"] = clustered(w)
    v2, v1, vc = out["v2"], out["v1"], out["v2_clustered"]
    print()
    print("Sparse MobileNet v1 0.5-128, batch 1 (accelsim run eyeriss_v2_flat / eyeriss_v1 -w "
          "mobilenet_v1_05_128_sparse --sparse eyeriss_v2 / eyeriss_v1; accelergy_65nm)")
    print(f"{'':12s} {'model':>10s} {'chip':>10s} {'err':>8s}")
    for label, got, want in (("v2 inf/s", v2["inf_s"], CHIP_INF_PER_S), ("v2 inf/J", v2["inf_j"], CHIP_INF_PER_J),
                             ("v2/v1 speed", v2["inf_s"] / v1["inf_s"], CHIP_SPEEDUP),
                             ("v2/v1 inf/J", v2["inf_j"] / v1["inf_j"], CHIP_EFFICIENCY)):
        print(f"{label:12s} {got:10.2f} {want:10.2f} {got / want - 1:+8.1%}")
    print(f"v2 dense (no skipping) {v2['dense_inf_s']:.1f} inf/s; v1 {v1['inf_s']:.1f} inf/s "
          f"(the chip's v1 implied by 12.6x: {CHIP_INF_PER_S / CHIP_SPEEDUP:.1f}); v1 {v1['inf_j']:.1f} inf/J "
          f"(implied: {CHIP_INF_PER_J / CHIP_EFFICIENCY:.1f})")
    for label, sparse in (("with densities", True), ("dense", False)):
        group = [x for x in v2["layers"] if x[1] == sparse]
        print(f"v2 on its {len(group)} layers {label}: {sum(x[2] for x in group):,} cycles dense, "
              f"{sum(x[3] for x in group):,} sparse (on chip)")
    print(f"v2 on its clustered level list (accelsim run eyeriss_v2 --sparse eyeriss_v2_clustered): the latency "
          f"bound without DRAM {vc['inf_s']:.1f} inf/s, simulated on chip {vc['sim_inf_s']:.1f} inf/s; "
          f"{vc['inf_j']:.1f} inf/J")
    return out


def clustered(w) -> dict:
    """The same network on v2's true clustered level list (configs/eyeriss_v2.yaml: 8 x 2 clusters of
    3 x 4 PEs, cluster GLBs for ifmaps and psums, weights from DRAM to the PEs), ``accelergy_65nm``:
    time = per layer the sparse latency bound's slowest part other than DRAM, and the simulation on the
    sparse view (``HierarchyLayerRun.sparse_sim``) with the DRAM level unlimited (``Hierarchy.on_chip``,
    as the flat run's), energy on chip (DRAM excluded)."""
    from accelsim.hierarchy import load_architecture
    from accelsim.pipeline_hierarchy import run_hierarchy
    from workloads.problems import ProblemWorkload, of_layer

    h = load_architecture("eyeriss_v2")
    h = replace(h.on_chip(), energy=replace(h.energy, preset="accelergy_65nm"))
    pw = ProblemWorkload(w.name, tuple(of_layer(la) for la in w.layers), densities=w.densities)
    run = run_hierarchy(h, pw, sparsity=Sparsity(load_spec("eyeriss_v2_clustered")), simulate=True)
    cycles = sim = pj = 0.0
    for lr in run.layers:
        if lr.sparse is not None:
            cycles += max(v for part, v in lr.sparse.bound_parts.items() if part != "dram")
            sim += lr.sparse_sim.cycles
            pj += sum(v for part, v in lr.sparse.energy_breakdown_pj.items() if part != "dram")
    return {"run": run, "inf_s": CLOCK_HZ / cycles, "sim_inf_s": CLOCK_HZ / sim, "inf_j": 1e12 / pj}


def test_the_network_is_the_papers_variant():
    """MobileNet v1 0.5 at 128 x 128: Howard et al. give 49 M mult-adds."""
    assert figures()["v2"]["macs"] == 49_160_192
    assert abs(figures()["v2"]["macs"] / 49e6 - 1) < 0.01


def test_the_clustered_v2_runs_mappings_that_fit_compressed():
    """Every nest of the clustered run fits its spads and metadata stores by CSC size (none had to be cut
    from the rule's nests), and the array mapping is the rule's."""
    from accelsim.pipeline_hierarchy import flow_for, named_nest
    from accelsim.sparse.model import capacity_problems

    run = figures()["v2_clustered"]["run"]
    spec, flow = load_spec("eyeriss_v2_clustered"), flow_for(run.hierarchy, None, False)
    w = load_workload("mobilenet_v1_05_128_sparse", 1)
    cut = 0
    for lr in run.layers:
        if lr.nest is None:
            continue
        models = run.sparsity.models(w, lr.item.name)
        assert capacity_problems(lr.item.problem, run.hierarchy, lr.nest, spec, models) == []
        named = named_nest(lr.item, run.hierarchy, flow)
        cut += lr.nest != named
        assert [(lm.x, lm.y) for lm in lr.nest.levels] == [(lm.x, lm.y) for lm in named.levels]
    assert cut == 0


def test_the_rank_order_decides_the_cuts_of_the_flat_v2():
    """In the preset's rank order (``inner``) none of the flat v2's 28 named mappings is cut. Without it
    (the formats' default order) 14 are: each named tile's data fit the 16 / 192 / 32-word spads, and
    every overflow is a metadata store's (the ifmap's 6.25 words on all 14, the weight's 64 on the 10
    layers conv6_pw-conv14_pw and fc); the 14 uncut layers overflow nothing."""
    from accelsim.hierarchy import from_arch
    from accelsim.loopnest import from_fixed
    from accelsim.mapper.sparse_fit import FIT_SOURCE
    from accelsim.problem import from_layer
    from accelsim.sparse.model import capacity_problems
    from dataflows import registry

    w = load_workload("mobilenet_v1_05_128_sparse", 1)
    arch, preset = load_arch("eyeriss_v2_flat"), load_spec("eyeriss_v2")
    assert (preset.metadata_words("rf", "ifmap"), preset.metadata_words("rf", "weight")) == (6.25, 64)
    assert [f.inner for _, f in preset.formats] == [("C",), ("K",)]
    assert not any(lr.mapping_source == FIT_SOURCE for lr in pipeline.run(arch, w, sparsity=Sparsity(preset)).layers)
    spec = replace(preset, formats=tuple((k, replace(f, inner=())) for k, f in preset.formats))
    sp = Sparsity(spec)
    h = from_arch(arch)
    run = pipeline.run(arch, w, sparsity=sp)
    stores: dict[str, list[str]] = {}
    for lr, la in zip(run.layers, w.layers):
        named = registry.get("rs_plus").named(la, arch)
        over = capacity_problems(from_layer(la), h, from_fixed(named, h), spec, sp.models(w, la.name))
        assert all(o.check is not None and o.check.metadata for o in over), over
        assert bool(over) == (lr.mapping_source == FIT_SOURCE)
        for o in over:
            stores.setdefault(o.roles[0], []).append(la.name)
    assert len(stores["ifmap"]) == 14 and stores["weight"] == [f"conv{i}_pw" for i in range(6, 15)] + ["fc"]


def test_v2_skipping_is_faster_than_dense_and_v2_ahead_of_v1():
    """Skipping pays where there are zeros: the 8 layers with densities run more than 1.2x faster than
    dense, each of them faster; the 20 dense layers, whose CSC words (data + metadata) cross the NoC into
    the PE, none faster than the MACs on padding allow (compressing dense data only adds metadata words;
    the PEs skip the MACs on padding in lockstep: a padded depthwise layer on a 4 x 4 map gains up to its
    padded share, conv14_dw 502 -> 454 cycles with 31% of its MACs on padding). v2 ahead of v1 by > 2x."""
    f = figures()
    sparse = [x for x in f["v2"]["layers"] if x[1]]
    dense = [x for x in f["v2"]["layers"] if not x[1]]
    assert (len(sparse), len(dense)) == (8, 20)
    assert sum(x[3] for x in sparse) * 1.2 < sum(x[2] for x in sparse)
    assert all(x[3] < x[2] for x in sparse), sparse
    assert all(x[3] >= x[2] * x[4] for x in dense), dense
    assert all(x[4] < 1 for x in dense if x[3] < x[2]), dense          # faster only with padding
    assert f["v2"]["inf_s"] > f["v2"]["dense_inf_s"]
    assert f["v2"]["inf_s"] > 2 * f["v1"]["inf_s"]


@pytest.mark.xfail(strict=True, reason="683.1 inferences/s against 1470.6 (-53.6%): the model is the 16-bit "
                                       "fixed-shape v2 (one MAC per PE per cycle, the chip is 8-bit), 20 of the 28 "
                                       "layers run dense for want of published densities (skipping cuts the ideal "
                                       "cycles only from 274,880 to 207,690.0), and the NoC and fill/drain stalls "
                                       "(83,383 + 1,725 cycles simulated on chip, double-buffered beside the compressed tiles) stay: "
                                       "the GLB-to-PE words cross in the PE's CSC, 19% fewer on the 8 layers with "
                                       "densities (7.26 M -> 5.87 M words, NoC stalls 24,595) but 35% more on the 20 "
                                       "dense ones (6.90 M -> 9.35 M, NoC stalls 58,788), where CSC only adds "
                                       "metadata")
def test_v2_inferences_per_second_within_20_percent():
    got = figures()["v2"]["inf_s"]
    assert abs(got / CHIP_INF_PER_S - 1) <= 0.20, got


@pytest.mark.xfail(strict=True, reason="6529.9 inferences/J on chip against 2560.3 (+155.0%): the 65 nm table "
                                       "prices scratchpad/GLB/MAC accesses only (no NoC entry, so the CSC words on "
                                       "the NoC cost nothing; clock tree, control, leakage, "
                                       "pads not modelled: the same cause that puts v1's modelled power 79-90% "
                                       "below the chip's, test_sparse_eyeriss_v1.py)")
def test_v2_inferences_per_joule_within_20_percent():
    got = figures()["v2"]["inf_j"]
    assert abs(got / CHIP_INF_PER_J - 1) <= 0.20, got


@pytest.mark.xfail(strict=True, reason="v2/v1 3.71x against 12.6x: the modelled v1 processes 184.1 "
                                       "inferences/s where the chip's implied v1 does 116.7 (its batch-1 MobileNet "
                                       "time includes what the model leaves out: configuration and the off-chip "
                                       "link), and the modelled v2 is 53.6% slow (see the inferences/s test)")
def test_v2_over_v1_speedup_within_20_percent():
    f = figures()
    got = f["v2"]["inf_s"] / f["v1"]["inf_s"]
    assert abs(got / CHIP_SPEEDUP - 1) <= 0.20, got


@pytest.mark.xfail(strict=True, reason="v2/v1 energy efficiency 0.99x against 2.5x: the modelled v2 spends "
                                       "as much on-chip energy as v1 (153.1 vs 151.2 uJ): CSC metadata is read on "
                                       "every layer, the 20 dense ones too (rf 113.8 uJ), the model is 16-bit where "
                                       "the chip's v2 is 8-bit, and v1's power is modelled without its unmodelled "
                                       "overheads (clock tree, control, leakage), which the chip's 2.5x includes")
def test_v2_over_v1_energy_efficiency_within_20_percent():
    f = figures()
    got = f["v2"]["inf_j"] / f["v1"]["inf_j"]
    assert abs(got / CHIP_EFFICIENCY - 1) <= 0.20, got
