"""Vector layers (pool, add, activation) priced with their ops everywhere, by hand: inside a fused
group (accelsim.cost.fused_levels.vector_tile), alone in ``accelsim run`` on a hierarchy
(pipeline_hierarchy.stream_actions) and alone on a fixed-shape arch (cost.model.evaluate_streaming).
One op per output element per window tap (pool: ``max``) or per operand (add: ``add``)."""

from __future__ import annotations

from accelsim.arch import load_arch
from accelsim.cost.energy import energy_of
from accelsim.cost.fused_levels import level_counts, rule_nest
from accelsim.cost.model import evaluate_streaming
from accelsim.energy_table import arch_table
from accelsim.fused import FusedGroup
from accelsim.hierarchy import load_architecture
from accelsim.names import ANY_ROLE, MAC
from accelsim.pipeline_hierarchy import stream_actions
from dataflows import registry
from tests.test_fusion import _net
from tests.test_fusion_levels import _hier
from workloads.layer import Layer, LayerKind
from workloads.problems import ProblemLayer

RS = rule_nest(registry.get("rs"))


def test_pool_in_a_group_keep_ops_energy_cycles():
    """p1: 2x2/2 max-pool, 3 x 6 x 5 outputs = 90, 4 taps: 360 max. Keep, one pool row per tile: 6
    tiles of 15 outputs = 60 ops each; _hier has no vector unit, so they run on its 2x2 = 4 MACs:
    15 cycles per tile (no bandwidth limits: the bound is compute), 90 in all. Energy: 360 x the
    table's (mac, any, max)."""
    graph = _net()
    h = _hier()
    lv = level_counts(FusedGroup(("c1", "p1"), rows=1, mode="keep"), graph, h, RS)[1]
    assert lv.actions.ops == {(MAC, "max"): 360} and graph.node("p1").vector_op_counts == {"max": 360}
    assert lv.tiles == 6 and lv.actions.cycles == 90 and lv.cycles == 90.0
    from accelsim.energy_table import table_for

    table = table_for(h)
    with_ops = energy_of(lv.actions, h, table).total_pj
    without = energy_of(lv.actions.__class__(0, 0, 0, lv.actions.storage, {}), h, table).total_pj
    assert with_ops - without == 360 * table.pj(MAC, ANY_ROLE, "max")
    assert table.pj(MAC, ANY_ROLE, "max") > 0


def test_pool_recomputed_halo_rows_are_counted():
    """(c1, p1, c2), recompute, one c2 row per tile (c2: 3x2 stride 2 pad 1 over p1's 6 rows): c2's
    rows 0, 1, 2 need p1 rows [0, 2), [1, 4), [3, 6): 2 + 3 + 3 = 8 p1 rows of 5 x 3, each output 4
    taps: 8 * 5 * 3 * 4 = 480 max (alone: 6 rows, 360)."""
    graph = _net()
    lv = level_counts(FusedGroup(("c1", "p1", "c2"), rows=1, mode="recompute"), graph, _hier(), RS)[1]
    assert lv.actions.ops == {(MAC, "max"): 480}
    keep = level_counts(FusedGroup(("c1", "p1", "c2"), rows=1, mode="keep"), graph, _hier(), RS)[1]
    assert keep.actions.ops == {(MAC, "max"): 360}


def test_add_and_activation_in_a_group():
    """(d3, relu, add), keep, rows 1: add 4 x 3 x 4 = 48 outputs x 2 operands = 96 add, relu 48 gelu;
    per tile (one row, 16 outputs) add 32 ops on 4 MACs = 8 cycles, 3 tiles = 24."""
    graph = _net()
    _, relu, add = level_counts(FusedGroup(("d3", "relu", "add"), rows=1, mode="keep"), graph, _hier(), RS)
    assert add.actions.ops == {(MAC, "add"): 96} and relu.actions.ops == {(MAC, "gelu"): 48}
    assert add.cycles == 24.0 and relu.cycles == 12.0


def test_group_on_a_vector_unit_times_the_ops_by_its_lanes():
    """eyeriss_v2_vector: one lane per GLB cluster, fused at glb_cluster: each core's tile runs its ops
    on 1 lane. p1 keep, one pool row per tile: 60 max per tile on the vector unit (no compute
    cycles), the tile's bound at least 60."""
    graph = _net()
    h = load_architecture("eyeriss_v2_vector")
    lv = level_counts(FusedGroup(("c1", "p1"), rows=1, mode="keep", level="glb_cluster"), graph, h, RS)[1]
    assert lv.actions.ops == {("vector", "max"): 360} and lv.actions.cycles == 0
    assert lv.cycles >= 6 * 60


def test_lone_pool_and_add_in_run_hierarchy():
    """``accelsim run`` on a hierarchy: a lone pool (8x8 -> 4x4 x 4 ch, 2x2/2: 64 outputs x 4 taps =
    256 max) and a lone add (2 operands of 4x4x4: 128 add) on eyeriss_v2 (no vector unit: 192 PEs)."""
    h = load_architecture("eyeriss_v2")
    pool = Layer("p", kind=LayerKind.POOL, N=1, C=4, K=4, H=8, W=8, R=2, S=2, stride_h=2, stride_w=2)
    add = Layer("a", kind=LayerKind.ELTWISE, N=1, C=4, K=4, H=4, W=4, operands=2)
    for layer, kind, n in ((pool, "max", 256), (add, "add", 128)):
        act = stream_actions(ProblemLayer(layer.name, layer.kind.value, None, layer), h)
        assert act.ops == {(h.compute.name, kind): n}
        assert act.cycles == -(-n // 192) == (2 if n == 256 else 1)


def test_lone_pool_and_add_on_a_fixed_shape_arch():
    """eyeriss_v1 (168 PEs, GLB 16 words/cycle, no vector unit): the pool reads 256 words and writes
    64 (320 / 16 = 20 cycles; 256 ops / 168 PEs = 2); its ops cost 256 x (mac, any, max) on the
    MAC part. The add: 128 words in, 64 out: 12 cycles; 128 add."""
    arch = load_arch("eyeriss_v1")
    table = arch_table(arch)
    pool = Layer("p", kind=LayerKind.POOL, N=1, C=4, K=4, H=8, W=8, R=2, S=2, stride_h=2, stride_w=2)
    add = Layer("a", kind=LayerKind.ELTWISE, N=1, C=4, K=4, H=4, W=4, operands=2)
    for layer, kind, n, cycles in ((pool, "max", 256, 20), (add, "add", 128, 12)):
        r = evaluate_streaming(layer, arch)
        assert r.counts.cycles == cycles
        assert r.energy_breakdown_pj["mac"] == n * table.pj(MAC, ANY_ROLE, kind) > 0
        assert r.energy_pj == sum(r.energy_breakdown_pj.values())
