"""Fused groups: closed form == brute force == functional execution; hand counts; Alwani's VGG block."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.cost.fused import count_group
from accelsim.errors import ConfigError
from accelsim.functional_fused import execute_group, reference_group
from accelsim.fused import FusedGroup, check_plan
from accelsim.interp_fused import brute_force_group
from workloads import zoo
from workloads.graph import GraphBuilder
from workloads.layer import Layer, LayerKind


def _conv(name, C, K, H, W, R, S=None, stride=1, pad=0, groups=1, N=1):
    S = R if S is None else S
    return Layer(name, kind=LayerKind.DEPTHWISE if groups > 1 and groups == C == K else LayerKind.CONV, N=N, C=C,
                 K=K, H=H, W=W, R=R, S=S, stride_h=stride, stride_w=stride, pad_h=pad if R > 1 else 0,
                 pad_w=pad if S > 1 else 0, groups=groups)


def _pool(name, C, H, W, R, stride, pad=0, N=1):
    return Layer(name, kind=LayerKind.POOL, N=N, C=C, K=C, H=H, W=W, R=R, S=R, stride_h=stride, stride_w=stride,
                 pad_h=pad, pad_w=pad)


def _net(N=1):
    """conv 3x3 -> maxpool 2x2/2 -> conv 3x2/2 (pad 1 rows) -> depthwise 3x3 -> add (shortcut from
    the pool's output? no: from outside) -> conv 1x1 reading a concatenation with the stem."""
    g = GraphBuilder()
    g.add(_conv("c1", 2, 3, 13, 11, 3, pad=1, N=N))                      # 3 x 13 x 11
    g.add(_pool("p1", 3, 13, 11, 2, 2, N=N))                              # 3 x 6 x 5
    g.add(Layer("c2", N=N, C=3, K=4, H=6, W=5, R=3, S=2, stride_h=2, pad_h=1))   # 4 x 3 x 4
    g.add(_conv("d3", 4, 4, 3, 4, 3, pad=1, groups=4, N=N))              # 4 x 3 x 4
    g.add(Layer("relu", kind=LayerKind.ACTIVATION, N=N, C=4, K=4, H=3, W=4))
    g.add(Layer("add", kind=LayerKind.ELTWISE, N=N, C=4, K=4, H=3, W=4, operands=2), "relu", "c2")
    g.add(_conv("cat", 8, 2, 3, 4, 1, N=N), "add", "d3")                 # reads add (4) + d3 (4) channels
    return g.graph()


GROUPS = [("c1", "p1"), ("c1", "p1", "c2"), ("p1", "c2", "d3"), ("c1", "p1", "c2", "d3"), ("d3", "relu", "add"),
          ("relu", "add", "cat")]


@pytest.mark.parametrize("layers", GROUPS)
def test_closed_form_equals_brute_force(layers):
    graph = _net()
    last = graph.node(layers[-1])
    checked = 0
    for mode in ("recompute", "keep_h", "keep"):
        for rows in sorted({1, 2, last.P}):
            for cols in (0, 1, 3):
                if cols > last.Q:
                    continue
                group = FusedGroup(layers, rows=rows, cols=cols, mode=mode, weights_resident=rows == 1)
                assert count_group(group, graph) == brute_force_group(group, graph), group.text()
                checked += 1
    assert checked >= 12


def test_batch_tiles_count_like_brute_force_and_scale():
    graph = _net(N=3)
    for batch in (1, 2, 3):
        group = FusedGroup(("c1", "p1", "c2"), rows=1, cols=2, batch=batch, mode="keep_h", weights_resident=False)
        a = count_group(group, graph)
        assert a == brute_force_group(group, graph)
        assert a.tiles == -(-3 // batch) * 3 * 2
    one = count_group(FusedGroup(("c1", "p1", "c2"), rows=1), _net(N=1))
    three = count_group(FusedGroup(("c1", "p1", "c2"), rows=1), graph)
    assert three.macs == 3 * one.macs and three.capacity == one.capacity


def _numbers(graph, layers, seed):
    rng = np.random.default_rng(seed)
    first = graph.node(layers[0])
    from accelsim.cost.fused import input_channels, side_channels

    x = rng.integers(-4, 5, size=(first.N, input_channels(first), first.H, first.W))
    weights = {n: rng.integers(-3, 4, size=(graph.node(n).K, graph.node(n).Cg, graph.node(n).R, graph.node(n).S))
               for n in layers if graph.node(n).kind.has_macs}
    sides = {}
    for prev, name in zip(layers, layers[1:]):
        layer = graph.node(name)
        extra = side_channels(layer, graph.node(prev))
        if extra:
            sides[name] = rng.integers(-4, 5, size=(layer.N, extra, layer.H, layer.W))
    return x, weights, sides


@pytest.mark.parametrize("layers", GROUPS)
def test_functional_equals_reference_and_counts(layers):
    graph = _net(N=2)
    last = graph.node(layers[-1])
    x, weights, sides = _numbers(graph, layers, seed=len(layers))
    ref = reference_group(tuple(graph.node(n) for n in layers), x, weights, sides)
    for mode, rows, cols, batch in (("recompute", 1, 0, 1), ("keep_h", 2, 1, 2), ("keep", 1, 2, 1),
                                    ("keep", last.P, 0, 2)):
        group = FusedGroup(layers, rows=min(rows, last.P), cols=min(cols, last.Q), batch=batch, mode=mode)
        run = execute_group(group, graph, x, weights, sides)
        assert np.array_equal(run.output, ref), group.text()
        counts = count_group(group, graph)
        assert run.fetched == {k: v for k, v in counts.dram_reads.items() if not k.endswith(".weight")}
        assert run.computed == {c.name: c.computed for c in counts.layers}


def test_functional_catches_a_missing_halo():
    """A group whose first layer is told a too-small band fails: values must come from on chip."""
    import accelsim.fused as fused

    graph = _net()
    group = FusedGroup(("c1", "p1", "c2"), rows=1, mode="keep_h")
    x, weights, sides = _numbers(graph, group.layers, seed=0)
    real = fused.input_band

    def short(a, b, **kw):
        lo, hi = real(a, b, **kw)
        return lo, max(lo, hi - 1)

    fused.input_band = short
    try:
        with pytest.raises(AssertionError, match="not on chip"):
            execute_group(group, graph, x, weights, sides)
    finally:
        fused.input_band = real


def test_hand_counts_two_3x3_convs():
    """Two 3x3 pad-1 convs on 8x8 (C 2 -> 4 -> 3), tiles of 2 full-width rows. By hand: b reads rows
    [0,3) [1,5) [3,7) [5,8) of a (3+4+4+3 = 14). Recompute: a computes all 14 x 8 x 4 and reads input
    rows [0,4) [0,6) [2,8) [4,8) (20 rows). Keep: a computes [0,3) [3,5) [5,7) [7,8) (8 rows), reading
    input [0,4) [2,6) [4,8) [6,8), of which it fetches 4 + 2 + 2 + 0 = 8 rows."""
    g = GraphBuilder()
    g.add(_conv("a", 2, 4, 8, 8, 3, pad=1))
    g.add(_conv("b", 4, 3, 8, 8, 3, pad=1))
    graph = g.graph()
    rec = count_group(FusedGroup(("a", "b"), rows=2, mode="recompute"), graph)
    keep = count_group(FusedGroup(("a", "b"), rows=2, mode="keep"), graph)
    assert rec.layers[0].computed == 14 * 8 * 4 and keep.layers[0].computed == 8 * 8 * 4
    assert rec.macs == 14 * 8 * 4 * 2 * 9 + 8 * 8 * 3 * 4 * 9
    assert rec.dram_reads["a.input"] == 20 * 8 * 2 and keep.dram_reads["a.input"] == 8 * 8 * 2
    assert rec.dram_writes == keep.dram_writes == {"b.output": 3 * 8 * 8}
    # intermediate a: written once per computed element, read by b one band per tile (14 rows x 8 x 4)
    assert rec.level_writes["a.output"] == rec.level_reads["a.output"] == keep.level_reads["a.output"] == 448
    assert keep.level_writes["a.output"] == 256
    # buffers: a's widest band 4 rows x 8 (x 4 ch); keep adds a line buffer of the 2-row overlap x 8
    assert rec.capacity["a.output"] == 4 * 8 * 4 and keep.capacity["a.output"] == (4 + 2) * 8 * 4
    # the input: recompute's widest band is 6 rows; keep reads 4-row bands overlapping by 2
    assert rec.capacity["a.input"] == 6 * 8 * 2 and keep.capacity["a.input"] == (4 + 2) * 8 * 2
    assert keep.capacity["weights"] == 4 * 2 * 9 + 3 * 4 * 9
    assert rec.tiles == keep.tiles == 4


def test_bad_groups_are_one_line_errors():
    graph = _net()
    with pytest.raises(ConfigError, match="'c2' does not read 'c1'|not consecutive"):
        check_plan([FusedGroup(("c1", "c2"))], graph)
    with pytest.raises(ConfigError, match=r"fuse.groups\[1\].layers: 'p1' is already in groups\[0\]"):
        check_plan([FusedGroup(("c1", "p1")), FusedGroup(("p1", "c2"))], graph)
    with pytest.raises(ConfigError, match=r"fuse.groups\[0\].rows: tile rows must be an integer in 1..3"):
        check_plan([FusedGroup(("c1", "p1", "c2"), rows=4)], graph)
    with pytest.raises(ConfigError, match="unknown overlap mode 'both'"):
        check_plan([FusedGroup(("c1", "p1"), mode="both")], graph)
    with pytest.raises(ConfigError, match="no graph"):
        check_plan([FusedGroup(("conv1",))], None)
    r18 = zoo.get("resnet18").graph       # a shortcut inside a group: the add reads a layer two back
    with pytest.raises(ConfigError, match="'conv2_2_add' reads 'conv2_1_add', an earlier layer of the group other "
                                          "than 'conv2_2b'"):
        check_plan([FusedGroup(("conv2_1_add", "conv2_2a", "conv2_2b", "conv2_2_add"))], r18)
    with pytest.raises(ConfigError, match="'fc' is a fc; a fused group of several layers holds row-wise"):
        check_plan([FusedGroup(("avgpool", "fc"))], r18)


def test_group_yaml_form_and_its_errors():
    from accelsim.fused import group_from_dict

    g = group_from_dict({"layers": ["c1", "p1"], "rows": 2, "mode": "keep_h", "weights_resident": False}, "f.yaml",
                        "fuse.groups[0]")
    assert g == FusedGroup(("c1", "p1"), rows=2, mode="keep_h", weights_resident=False)
    assert count_group(g, _net()) == brute_force_group(g, _net())
    with pytest.raises(ConfigError, match=r"f.yaml: fuse.groups\[0\].mode: .*'both'"):
        group_from_dict({"layers": ["c1"], "mode": "both"}, "f.yaml", "fuse.groups[0]")
    with pytest.raises(ConfigError, match=r"fuse.groups\[0\].rowz: unknown key"):
        group_from_dict({"layers": ["c1"], "rowz": 2}, "f.yaml", "fuse.groups[0]")
    with pytest.raises(ConfigError, match=r"fuse.groups\[0\].cores: must be an integer >= 1, got 0"):
        check_plan([FusedGroup(("c1", "p1"), cores=0)], _net())
