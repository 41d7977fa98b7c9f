"""The analytical cost model equals the brute-force interpreter exactly, and executing any legal
mapping computes the same convolution as NumPy."""

from __future__ import annotations

import random

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
