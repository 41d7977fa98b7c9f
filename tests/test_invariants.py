"""Invariants on every result, over random layers, architectures and mappings: no negative count,
MACs equal the layer's, compulsory DRAM traffic, energy equals its breakdown, utilization in (0, 1];
exact integers at GPT-3 size; odd but valid inputs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import arch_from_dict
from accelsim.cost.counts import L_DRAM, count
from accelsim.cost.model import ENERGY_PARTS, evaluate
from accelsim.legality import problems_of
from accelsim.mapper.search import SearchSpec, search
from accelsim.mapper.space import Space
from accelsim.mapping import Mapping
from dataflows import registry
from tests.strategies import small_layers
from workloads.layer import Layer, gemm

IFMAP, WEIGHT, PSUM = range(3)


def arch_doc(rows, cols, rf, glb_kb, dram_gbps=1.0):
    doc = {"version": 1, "name": "a", "clock_mhz": 100, "word_bits": 16, "pe_array": {"rows": rows, "cols": cols},
           "glb": {"size_kb": glb_kb, "bandwidth_words_per_cycle": 4}, "dram": {"bandwidth_gb_per_s": dram_gbps}}
    if rf:
        doc["rf"] = {"shared_words": rf}
    return doc


def touched_inputs(layer: Layer) -> int:
    """Input elements some MAC reads (rows/cols a stride skips, and padding, are never read)."""
    rows = len({p * layer.stride_h + r * layer.dil_h - layer.pad_h for p in range(layer.P) for r in range(layer.R)}
               & set(range(layer.H)))
    cols = len({q * layer.stride_w + s * layer.dil_w - layer.pad_w for q in range(layer.Q) for s in range(layer.S)}
               & set(range(layer.W)))
    return layer.N * layer.C * rows * cols


def check(layer, arch, m):
    r = evaluate(layer, arch, m)
    c = r.counts
    assert all(v >= 0 for level in c.reads + c.writes for v in level) and all(v >= 0 for v in c.noc_transfers)
    assert c.macs == layer.macs
    assert c.reads[L_DRAM][IFMAP] >= touched_inputs(layer)
    assert c.reads[L_DRAM][WEIGHT] >= layer.weight_elems
    assert c.writes[L_DRAM][PSUM] >= layer.output_elems
    assert r.energy_pj == pytest.approx(sum(r.energy_breakdown_pj[p] for p in ENERGY_PARTS), rel=1e-12)
    assert 0 < r.utilization <= 1
    assert c.cycles * c.active_pes >= c.macs
    return r


@settings(max_examples=150)
@given(layer=small_layers(), flow=st.sampled_from(sorted(registry.names())), seed=st.integers(0, 10**6),
       rows=st.integers(1, 5), cols=st.integers(1, 5), rf=st.sampled_from([None, 1, 8, 64]),
       glb=st.sampled_from([0.5, 4, 64]))
def test_invariants_on_random_mappings(layer, flow, seed, rows, cols, rf, glb):
    arch = arch_from_dict(arch_doc(rows, cols, rf, glb), "a")
    m = Space(layer, arch, registry.get(flow)).propose(random.Random(seed))
    if problems_of(layer, m, arch):
        return
    check(layer, arch, m)


@pytest.mark.parametrize("case", ["1x1 array", "1-PE array no RF", "R larger than H with padding", "batch 1024"])
def test_valid_odd_inputs(case):
    layers = {
        "1x1 array": Layer("a", C=4, K=4, H=6, W=6, R=3, S=3),
        "1-PE array no RF": Layer("b", C=2, K=3, H=5, W=5, R=1, S=1),
        "R larger than H with padding": Layer("c", C=2, K=2, H=2, W=2, R=5, S=5, pad_h=2, pad_w=2),
        "batch 1024": Layer("d", N=1024, C=8, K=8, H=4, W=4, R=3, S=3, pad_h=1, pad_w=1),
    }
    layer = layers[case]
    rf = None if case == "1-PE array no RF" else 64
    arch = arch_from_dict(arch_doc(1, 1, rf, 64) | ({"dataflow": "nlr"} if rf is None else {}), "odd")
    flow = registry.get("nlr" if rf is None else "rs")
    found = search(layer, arch, flow, SearchSpec(budget=60, seed=0))
    r = check(layer, arch, found.mapping)
    assert r.counts.cycles == layer.macs            # one PE: one MAC per cycle, no idle steps


def test_gpt3_size_gemm_counts_are_exact_integers():
    """12288 x 49152 weights over 2048 tokens at batch 64: 7.9e13 MACs. Counts are Python ints;
    check them against closed forms for a mapping whose traffic is easy to write down:
    array 16 x 16 over C (rows) and K (cols); GLB loops P 2048 and C 8 (a 128-channel slice);
    DRAM loops N 64, K 3072, C 96 with C innermost."""
    layer = gemm("ffn", m=2048, n=49152, k=12288, batch=64)
    assert layer.dims == (64, 1, 49152, 12288, 2048, 1, 1, 1)
    dram = (64, 1, 3072, 96, 1, 1, 1, 1)
    glb = (1, 1, 1, 8, 2048, 1, 1, 1)
    rows = (1, 1, 1, 16, 1, 1, 1, 1)
    cols = (1, 1, 16, 1, 1, 1, 1, 1)
    ones = (1,) * 8
    order = (1, 4, 5, 6, 7, 0, 2, 3)       # N, then K, then C innermost
    m = Mapping((dram, glb, rows, cols, ones), (order, order, order), (True,) * 3, (False,) * 3, (False,) * 3)
    assert problems_of(layer, m) == []
    c = count(layer, m)
    macs = 64 * 49152 * 12288 * 2048
    ifmap, weight, outputs = 64 * 12288 * 2048, 49152 * 12288, 64 * 49152 * 2048
    assert c.macs == macs == 79_164_837_199_872 and type(c.macs) is int
    assert c.reads[L_DRAM][IFMAP] == ifmap * 3072          # every K chunk re-reads the inputs
    assert c.reads[L_DRAM][WEIGHT] == weight * 64          # every image re-reads the weights
    assert c.writes[L_DRAM][PSUM] == outputs and c.reads[L_DRAM][PSUM] == 0   # C innermost: psums stay
    assert c.cycles == macs // 256                          # 256 PEs always busy
