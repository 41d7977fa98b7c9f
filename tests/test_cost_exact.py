"""The analytical cost model equals the brute-force interpreter exactly, and executing any legal
mapping computes the same convolution as NumPy."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import arch_from_dict
from accelsim.cost.counts import count
from accelsim.functional import execute, reference_conv
from accelsim.interpreter import interpret
from accelsim.mapper.space import propose
from dataflows import registry
from tests.strategies import mappings, small_layers
from workloads.layer import Layer


@settings(max_examples=250)
@given(st.data())
def test_counts_equal_interpreter(data):
    layer = data.draw(small_layers())
    m = data.draw(mappings(layer))
    assert count(layer, m) == interpret(layer, m)


@settings(max_examples=200)
@given(st.data())
def test_per_pass_glb_tiles_equal_interpreter(data):
    """A per-pass GLB tile (``Mapping.glb_pass``: the tile spans the GLB loops inside the innermost
    one indexing the tensor, which refills it) is counted exactly: the cost model through the
    general core (``loopnest.from_fixed`` -> ``LevelMap.per_pass``) equals the fixed-shape
    interpreter, which walks the schedule with its own refill keys."""
    layer = data.draw(small_layers())
    m = data.draw(mappings(layer))
    per_pass = tuple(k and data.draw(st.booleans()) for k in m.glb_keep)
    m = replace(m, glb_pass=per_pass)
    assert count(layer, m) == interpret(layer, m)


def test_per_pass_filter_tile_by_hand():
    """The hand count of a per-pass filter tile. 1-D conv, C=1, K=4, Q=4, S=2 (W=5), batch 1:
    DRAM loop Q2; GLB loops K2 then Q2 (K outer); 2 PE columns over K (K2), RF loop S2. The GLB's
    whole filter tile is all 4 x 2 = 8 weights; no loop above it indexes filters (the DRAM loop runs
    over Q), so it is fetched once: 8 DRAM reads. Per pass, the tile is the 2 filters of the current
    K step (2 x 2 = 4 words) and the K loop refills it at each step, under the DRAM loop too: 2 Q
    steps x 2 K steps x 4 = 16 DRAM reads and 16 GLB fills, in half the GLB words (4 instead of 8).
    The RF refills (the GLB's reads) do not change: each PE gets its filter per (Q dram, K) step (the
    GLB's Q loop keeps it in the RF): 2 x 2 x 2 PEs x 2 words = 16 reads."""
    from accelsim.mapping import Mapping
    from accelsim.tiles import tile_words

    layer = Layer(name="x", kind="conv", N=1, C=1, K=4, H=1, W=5, R=1, S=2, stride_h=1, stride_w=1)
    f = [[1] * 8 for _ in range(5)]
    f[0][5], f[1][2], f[1][5], f[3][2], f[4][7] = 2, 2, 2, 2, 2      # dram Q2, glb K2 Q2, cols K2, rf S2
    orders = (tuple(range(8)), (2, 5, 0, 1, 3, 4, 6, 7), tuple(range(8)))
    whole = Mapping(tuple(map(tuple, f)), orders, (True,) * 3, (True,) * 3)
    one_pass = replace(whole, glb_pass=(False, True, False))
    a, b = count(layer, whole), count(layer, one_pass)
    assert (a.reads[0][1], b.reads[0][1], b.writes[1][1]) == (8, 16, 16)
    assert a.reads[1][1] == b.reads[1][1] == 16
    assert (tile_words(layer, whole)["glb"][1], tile_words(layer, one_pass)["glb"][1]) == (8, 4)
    assert b == interpret(layer, one_pass)


def _tiny_arch(rows: int, cols: int, rf_words: int | None, glb_kb: float) -> object:
    doc = {"version": 1, "name": "tiny", "clock_mhz": 100, "word_bits": 16, "pe_array": {"rows": rows, "cols": cols},
           "glb": {"size_kb": glb_kb, "bandwidth_words_per_cycle": 4}, "dram": {"bandwidth_gb_per_s": 1.0}}
    if rf_words:
        doc["rf"] = {"shared_words": rf_words}
    return arch_from_dict(doc, "tiny")


@settings(max_examples=120)
@given(layer=small_layers(), flow=st.sampled_from(sorted(registry.names())), seed=st.integers(0, 10_000),
       rows=st.integers(1, 4), cols=st.integers(1, 4), rf=st.sampled_from([None, 4, 16, 64]))
def test_every_dataflow_space_matches_interpreter(layer, flow, seed, rows, cols, rf):
    arch = _tiny_arch(rows, cols, rf, 64)
    m = propose(layer, arch, registry.get(flow), random.Random(seed))
    assert count(layer, m) == interpret(layer, m)


@settings(max_examples=60)
@given(st.data())
def test_functional_mode_equals_numpy_convolution(data):
    layer = data.draw(small_layers())
    m = data.draw(mappings(layer))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    ifmap = rng.integers(-8, 8, (layer.N, layer.C, layer.H, layer.W))
    weight = rng.integers(-8, 8, (layer.K, layer.Cg, layer.R, layer.S))
    np.testing.assert_array_equal(execute(layer, m, ifmap, weight), reference_conv(layer, ifmap, weight))


def test_reference_conv_against_hand_computation():
    """A 1-channel 3x3 input, 2x2 filter of ones, stride 1, pad 0: each output is a 2x2 window sum."""
    layer = Layer("h", C=1, K=1, H=3, W=3, R=2, S=2)
    x = np.arange(9).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), dtype=np.int64)
    assert reference_conv(layer, x, w).tolist() == [[[[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]]]]


def test_stride_larger_than_filter_fetches_only_touched_rows():
    """A 1x1 conv with stride 2 on a 4x4 input touches rows/cols {0, 2}: 4 of 16 inputs reach DRAM."""
    from accelsim.mapping import Mapping

    layer = Layer("s2", C=1, K=1, H=4, W=4, R=1, S=1, stride_h=2, stride_w=2)
    ones = (1,) * 8
    dram = (1, 1, 1, 1, 2, 2, 1, 1)
    m = Mapping((dram, ones, ones, ones, ones), (tuple(range(8)),) * 3, (True,) * 3, (False,) * 3)
    c = count(layer, m)
    assert c.reads[0][0] == 4 and c == interpret(layer, m)
