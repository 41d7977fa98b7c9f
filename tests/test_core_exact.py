"""The general core's closed-form action table equals its brute-force interpreter exactly on random
hierarchies x problems x nests; executing a nest computes what NumPy computes; and on the fixed
shape the general core reproduces the fixed-shape brute-force interpreter exactly (every dataflow).
(``accelsim.cost.counts.count`` reads its rows from the general core since this was proven; before,
these tests held the general table equal to the fixed-shape closed form on the same cases.)"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import arch_from_dict
from accelsim.cost.actions import count_actions
from accelsim.cost.counts import to_counts
from accelsim.functional import reference_conv
from accelsim.functional_general import execute, reference, shape
from accelsim.hierarchy import fixed_shape, from_arch
from accelsim.interp_general import interpret
from accelsim.interpreter import interpret as fixed_interpret
from accelsim.legality import problems_of as fixed_problems_of
from accelsim.loopnest import from_fixed, problems_of
from accelsim.mapper.space import propose
from accelsim.names import IFMAP, WEIGHT
from accelsim.problem import from_layer
from dataflows import registry
from tests.core_strategies import hierarchies, nests, problems
from tests.strategies import mappings, small_layers


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_actions_equal_interpreter_on_random_hierarchies(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    assert count_actions(problem, hierarchy, nest) == interpret(problem, hierarchy, nest)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_per_pass_tiles_equal_interpreter_on_random_hierarchies(data):
    """Per-pass tiles (``LevelMap.per_pass``) at any level below the backing store: the closed form
    over the inner cut (``Flat.cut_of``) equals the brute-force walk."""
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    levels = tuple(lm if i == 0 else replace(lm, per_pass=tuple(r for r in lm.keeps if data.draw(st.booleans())))
                   for i, lm in enumerate(nest.levels))
    nest = replace(nest, levels=levels)
    assert count_actions(problem, hierarchy, nest) == interpret(problem, hierarchy, nest)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_functional_mode_equals_numpy_on_random_hierarchies(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    x = rng.integers(-8, 8, shape(problem, IFMAP))
    w = rng.integers(-8, 8, shape(problem, WEIGHT))
    np.testing.assert_array_equal(execute(problem, nest, x, w), reference(problem, x, w))


@settings(max_examples=30, deadline=None)
@given(layer=small_layers(max_hw=6), seed=st.integers(0, 1000))
def test_reference_equals_direct_convolution_and_einsum(layer, seed):
    """The generic oracle agrees with the conv oracle (layout N,G,Cg,H,W vs N,C,H,W)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 8, (layer.N, layer.C, layer.H, layer.W))
    w = rng.integers(-8, 8, (layer.K, layer.Cg, layer.R, layer.S))
    p = from_layer(layer)
    xg = x.reshape(layer.N, layer.groups, layer.Cg, layer.H, layer.W)
    wg = w.reshape(layer.groups, layer.Kg, layer.Cg, layer.R, layer.S)
    out = reference(p, xg, wg).reshape(layer.N, layer.K, layer.P, layer.Q)
    np.testing.assert_array_equal(out, reference_conv(layer, x, w))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fixed_shape_view_equals_the_fixed_shape_interpreter(data):
    """The proof that the switch changed nothing: on the fixed shape, the general brute force read
    through ``to_counts`` equals the fixed-shape brute-force interpreter (independent code), for any
    legal fixed-shape mapping; ``count`` (the closed form) is held to it in test_cost_exact.py."""
    layer = data.draw(small_layers(max_hw=5))
    m = data.draw(mappings(layer))
    h = fixed_shape(64, 64)
    assert to_counts(interpret(from_layer(layer), h, from_fixed(m, h))) == fixed_interpret(layer, m)


def _tiny_arch(rows, cols, rf_words, regs):
    doc = {"version": 1, "name": "tiny", "clock_mhz": 100, "word_bits": 16,
           "pe_array": {"rows": rows, "cols": cols, "operand_registers": regs},
           "glb": {"size_kb": 64, "bandwidth_words_per_cycle": 4}, "dram": {"bandwidth_gb_per_s": 1.0}}
    if rf_words:
        doc["rf"] = {"shared_words": rf_words}
    return arch_from_dict(doc, "tiny")


@settings(max_examples=50, deadline=None)
@given(layer=small_layers(), flow=st.sampled_from(sorted(registry.names())), seed=st.integers(0, 10_000),
       rows=st.integers(1, 4), cols=st.integers(1, 4), rf=st.sampled_from([None, 4, 16, 64]),
       regs=st.sampled_from([["ifmap", "weight", "psum"], [], ["psum"]]))
def test_every_dataflow_through_from_arch_equals_todays_counts(layer, flow, seed, rows, cols, rf, regs):
    """Mapper proposals of every dataflow on converted archs (``from_arch``): the general table equals
    the fixed-shape interpreter, and the general legality check accepts what the fixed one accepts
    (capacities per GLB part and RF)."""
    arch = _tiny_arch(rows, cols, rf, regs)
    m = propose(layer, arch, registry.get(flow), random.Random(seed))
    h = from_arch(arch)
    nest = from_fixed(m, h)
    p = from_layer(layer)
    assert to_counts(count_actions(p, h, nest)) == fixed_interpret(layer, m)
    assert (not problems_of(p, h, nest)) == (not fixed_problems_of(layer, m, arch))


def test_bmm_functional_equals_matmul():
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.problem import attention_scores

    p = attention_scores(heads=2, length=5, head_dim=3)
    h = fixed_shape(2, 2)
    nest = LoopNest((LevelMap("dram", (("B", 2), ("M", 3)), ("B", "M", "N", "K"), ("ifmap", "weight", "psum")),
                     LevelMap("glb", (("K", 3),), (), ("ifmap", "weight", "psum"), (("M", 2),), (("N", 2),)),
                     LevelMap("rf", (("N", 3),), (), ("weight",)), LevelMap("reg", keeps=("psum",))))
    assert not problems_of(p, h, nest)
    rng = np.random.default_rng(3)
    q = rng.integers(-8, 8, (2, 5, 3))
    k = rng.integers(-8, 8, (2, 3, 5))        # key laid out [B, K, N]: score = q @ k
    np.testing.assert_array_equal(execute(p, nest, q, k), q @ k)
    assert count_actions(p, h, nest) == interpret(p, h, nest)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_non_contiguous_tiles_equal_interpreter(data):
    """A multicast over a dim whose inner temporal loop sits at a level the tensor bypasses: the
    unioned tile is every other block of rows, not an interval (the case the fixed shape forbade:
    'ifmap bypasses the RF, so P cannot be both spatial and an RF loop')."""
    from accelsim.hierarchy import Fanout, Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES
    from tests.core_strategies import strided_1d

    problem = data.draw(strided_1d())
    P = problem.size("P")
    inner = data.draw(st.integers(1, P))                   # P loop at L1 (bypassed by the ifmap)
    x = data.draw(st.integers(1, -(-P // inner)))          # P split over the fanout
    outer = -(-P // (inner * x))
    regs = data.draw(st.sampled_from([(), ("ifmap",), ROLES]))
    h = Hierarchy("nc", (Storage("L0", ROLES, fanout=Fanout(x, 1, "bus")), Storage("L1", ROLES), Storage("L2", ROLES)))
    rest = tuple((d, problem.size(d)) for d in ("M", "R", "K"))
    nest = LoopNest((LevelMap("L0", (("P", outer),) + rest, ("M", "P", "R", "K"), ROLES, (("P", x),)),
                     LevelMap("L1", (("P", inner),), (), ("weight", "psum")),
                     LevelMap("L2", keeps=regs)))
    assert count_actions(problem, h, nest) == interpret(problem, h, nest)
