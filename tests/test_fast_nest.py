"""The general numba batch scorer (accelsim.cost.fast_nest) equals the closed-form action table
(accelsim.cost.actions.count_actions) exactly, on random problems (conv with strides, dilation,
padding, groups; gemm; bmm; a strided 1-D einsum) x random hierarchies (1-4 storage levels between
DRAM and compute, 0-2 fanouts, random keeps) x random legal nests, scored as one batch; on
shipped hierarchies; and its refusals name the nest and the broken rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.cost.fast_nest import Fallback, count_nests, energy_nests, nest_memo
from accelsim.cost.nest_arrays import NestLayout, decode_nest, encode_nests
from accelsim.errors import ConfigError
from accelsim.hierarchy import load_architecture
from accelsim.loopnest import nest_from_dict
from accelsim.problem import load_problem
from accelsim.yamlio import load_yaml
from tests.conftest import REPO
from tests.core_strategies import hierarchies, nests, problems


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_batch_rows_equal_count_actions_on_random_hierarchies(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    batch = [data.draw(nests(problem, hierarchy)) for _ in range(data.draw(st.integers(1, 3)))]
    layout = NestLayout(problem, hierarchy)
    arrays = encode_nests(layout, batch)
    fb = Fallback()
    rows = count_nests(layout, arrays, nest_memo(layout, 4), fb)     # a tiny memo: collisions recompute
    for i, nest in enumerate(batch):
        want = count_actions(problem, hierarchy, nest)
        assert layout.actions_of(rows[i]) == layout.actions_of(layout.row_of(want))
        assert decode_nest(layout, arrays, i) == _normal(layout, nest)
    assert fb.rows <= len(batch)


def _normal(layout, nest):
    """The nest as decode_nest writes it (full orders, factor-1 entries dropped)."""
    return decode_nest(layout, encode_nests(layout, [nest]), 0)


def test_clustered_eyeriss_v2_example_equals_count_actions_without_fallback():
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    fb = Fallback()
    row = count_nests(layout, encode_nests(layout, [nest]), fallback=fb)[0]
    assert fb.rows == 0
    assert layout.actions_of(row) == layout.actions_of(layout.row_of(count_actions(p, h, nest)))
    # the figure docs/core.md quotes: 73,728 weight words arrive at the 16 clusters
    assert row[layout.network_column("dram", "weight", "down_dest")] == 73728


def test_energy_is_the_dot_product_with_the_weights():
    rows = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    assert energy_nests(rows, np.array([1.0, 0.5, 0.0])).tolist() == [2.0, 6.5]
    with pytest.raises(ConfigError, match="one entry per count column"):
        energy_nests(rows, np.ones(2))


def test_structural_errors_name_the_nest_and_the_rule():
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    arrays = encode_nests(layout, [nest, nest])
    k = layout.dims.index("K")
    bad = arrays.factors.copy()
    bad[1, 0, k] = 1                    # K no longer covered
    with pytest.raises(ConfigError, match="nest 1 of the batch: dim K: factors do not cover"):
        count_nests(layout, arrays._replace(factors=bad))
    order = arrays.orders.copy()
    order[0, 2, 0] = order[0, 2, 1]
    with pytest.raises(ConfigError, match="nest 0 of the batch: level spad: loop order is not a permutation"):
        count_nests(layout, arrays._replace(orders=order))


@pytest.mark.parametrize("arch", ["eyeriss_v1", "isca16/ws", "hierarchy/eyeriss_v2", "hierarchy/simba_like"])
def test_bound_twin_equals_hierarchy_bound_bit_for_bit(arch):
    """bound_nests is the numba twin of accelsim.cost.bound.hierarchy_bound: equal floats on legal
    nests of shipped hierarchies (their bandwidths, shared ports and NoC models)."""
    from accelsim.cost.bound import hierarchy_bound
    from accelsim.cost.fast_nest import bound_nests
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.problem import from_layer
    from workloads import zoo

    h = load_architecture(arch)
    p = from_layer(zoo.get("alexnet").layers[1])
    layout = NestLayout(p, h)
    arrays = NestSpace(layout).propose(np.random.default_rng(5), 60)
    assert arrays.n_nests >= 10
    rows = count_nests(layout, arrays)
    got = bound_nests(layout, rows)
    for i in range(arrays.n_nests):
        want = hierarchy_bound(count_actions(p, h, decode_nest(layout, arrays, i)), h)
        assert got[i] == want


def test_spatial_factors_at_a_level_without_a_fanout_are_refused():
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    arrays = encode_nests(layout, [nest, nest, nest])
    no_fan = [i for i, lv in enumerate(h.levels) if lv.fanout is None]
    sp = arrays.spatial.copy()
    sp[2, no_fan[-1], 1, layout.dims.index("K")] = 2
    with pytest.raises(ConfigError, match=f"nest 2 of the batch: level {layout.levels[no_fan[-1]]}, dim K: "
                                          "spatial factors at a level without a fanout"):
        count_nests(layout, arrays._replace(spatial=sp))


@pytest.mark.parametrize("layer_index", [0, 1])
def test_rows_equal_count_actions_on_eyeriss_v1_search_proposals(layer_index):
    """The benchmark's cases (benchmarks/bench_nest.py): nests the general mapper proposes on
    from_arch(eyeriss_v1) for AlexNet CONV1 (stride 4, a coupled axis with padding 0) and CONV2
    (padding 2), scored as one batch, each equal to count_actions."""
    from accelsim.arch import load_arch
    from accelsim.hierarchy import from_arch
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.problem import from_layer
    from workloads import zoo

    h = from_arch(load_arch("eyeriss_v1"))
    p = from_layer(zoo.get("alexnet").layers[layer_index])
    layout = NestLayout(p, h)
    arrays = NestSpace(layout).propose(np.random.default_rng(11), 200)
    assert arrays.n_nests >= 100
    fb = Fallback()
    rows = count_nests(layout, arrays, fallback=fb)
    assert fb.rows < arrays.n_nests // 10          # the rest are the kernel's own rows
    for i in range(arrays.n_nests):
        want = layout.row_of(count_actions(p, h, decode_nest(layout, arrays, i)))
        assert rows[i].tolist() == want.tolist()
