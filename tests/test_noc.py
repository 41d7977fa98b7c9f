"""NoC models: delivery cycles on hand-made delivery patterns, the systolic skew conventions, the
Eyeriss v2 modes, spatial layouts, the registry's validation and the energy the cost model charges."""

from __future__ import annotations

import copy

import pytest

from accelsim.arch import arch_from_dict, load_arch
from accelsim.cost.counts import L_NOC
from accelsim.cost.model import evaluate
from accelsim.errors import ConfigError
from accelsim.mapping import Mapping
from dataflows import registry as dataflows
from noc import registry
from noc.flow import Flow, Layout, layout
from workloads.layer import DIMS, Layer
from workloads.loader import load_workload


def grid_layout(rows: int, cols: int, group) -> Layout:
    pe_r = tuple(r for r in range(rows) for c in range(cols))
    pe_c = tuple(c for r in range(rows) for c in range(cols))
    return Layout(rows, cols, rows, cols, pe_r, pe_c, tuple(group(r, c) for r, c in zip(pe_r, pe_c)))


def settings_of(noc: dict) -> dict:
    doc = {"version": 1, "name": "n", "clock_mhz": 100, "word_bits": 16, "pe_array": {"rows": 6, "cols": 8},
           "glb": {"size_kb": 8, "bandwidth_words_per_cycle": 4}, "noc": noc}
    return registry.settings(arch_from_dict(doc, "n").noc)


def test_registry_lists_the_five_models():
    assert registry.names() == ["bus", "eyeriss_v1", "eyeriss_v2", "mesh", "systolic"]
    assert registry.params("systolic")["timing"] == (str, "textbook")
    assert registry.params("eyeriss_v2")["psum_ports"] == (int, 4)


def test_bus_mesh_and_eyeriss_v1_delivery():
    lay = grid_layout(3, 4, lambda r, c: c)          # 4 columns of 3 PEs, one output per column
    out = Flow("psum_out", unique=20, delivered=60, layout=lay)
    bus = registry.model("bus")
    assert bus.delivery_cycles(out, settings_of({"type": "bus", "words_per_cycle": 2})) == 20 / 2
    mesh = registry.model("mesh")
    s = settings_of({"type": "mesh", "words_per_cycle": 1.5})
    assert mesh.delivery_cycles(out, s) == 60 / 1.5                  # no multicast, no reduction
    assert mesh.latency(lay, s) == 3 + 4 - 1                          # hops to the farthest PE
    v1 = registry.model("eyeriss_v1")
    s = settings_of({"type": "eyeriss_v1", "words_per_cycle": 4, "gon_words_per_cycle": 2})
    # GON: 20 distinct psums / 2 words per cycle = 10; local links: 40 psums over 4 columns = 10
    assert v1.delivery_cycles(out, s) == 10
    # 40 psums added into a neighbour, received by the 12 - 4 = 8 PEs that are not a column's bottom
    assert v1.pe_cycles(out, s) == 40 / 8
    ifm = Flow("ifmap", unique=30, delivered=90, layout=lay)
    assert v1.delivery_cycles(ifm, s) == 30 / 4                       # falls back to words_per_cycle
    assert v1.pe_cycles(ifm, s) == 0


def test_eyeriss_v2_modes_by_hand():
    """6 x 8 PEs in 3 x 4 clusters = 2 x 2 clusters of 12 PEs; 3 ifmap routers of 1 word/cycle each."""
    v2 = registry.model("eyeriss_v2")
    s = settings_of({"type": "eyeriss_v2"})
    from noc.eyeriss_v2 import mode_cycles

    per_col = Flow("ifmap", unique=80, delivered=480, layout=grid_layout(6, 8, lambda r, c: c))  # 10 words/PE
    assert mode_cycles(per_col, s, "broadcast") == pytest.approx(80 / 3)       # one source, 80 distinct words
    assert mode_cycles(per_col, s, "unicast") == pytest.approx(12 * 10 / 3)    # 12 PEs' copies per cluster
    assert mode_cycles(per_col, s, "grouped_multicast") == pytest.approx(4 * 10 / 3)   # 4 columns per cluster
    assert v2.delivery_cycles(per_col, s) == pytest.approx(40 / 3)            # auto: the fastest
    same = Flow("weight", unique=10, delivered=480, layout=grid_layout(6, 8, lambda r, c: 0))
    assert mode_cycles(same, s, "broadcast") == pytest.approx(10 / 3)
    assert mode_cycles(same, s, "unicast") == pytest.approx(40)
    from noc.eyeriss_v2 import chosen_mode

    assert chosen_mode(same, s) == "broadcast" and chosen_mode(per_col, s) == "grouped_multicast"
    fixed = settings_of({"type": "eyeriss_v2", "weight_mode": "unicast"})
    assert v2.delivery_cycles(same, fixed) == pytest.approx(40)


def test_eyeriss_v2_bandwidth_bound_by_hand_and_on_the_clustered_hierarchy():
    """The HM-NoC's bound (noc/eyeriss_v2.py): 3 iact, 3 weight, 4 psum routers of 1 word/cycle per
    router cluster. The mesh between the 16 clusters (1 x 1 destinations) charges delivered words over
    16 x ports; inside a cluster (3 x 4 PEs) distinct words over the cluster's ports; undeclared
    (the flat model) charges nothing. On configs/eyeriss_v2.yaml and the nest of docs/core.md
    (tests/data/core_nest_v2.yaml), the network bounds are the action table's words over those rates."""
    from accelsim.cost.actions import count_actions
    from accelsim.cost.bound import bound_parts
    from accelsim.hierarchy import level_list
    from accelsim.loopnest import nest_from_dict
    from accelsim.problem import load_problem
    from accelsim.yamlio import load_yaml
    from tests.conftest import REPO

    bound = registry.model("eyeriss_v2").bandwidth_bound
    mesh = settings_of({"type": "eyeriss_v2", "cluster_rows": 1, "cluster_cols": 1, "bound_clusters": 16})
    assert bound(mesh) == ((1 / 48, 0.0), (1 / 48, 0.0), (1 / 64, 0.0), (1 / 64, 0.0))
    inside = settings_of({"type": "eyeriss_v2", "bound_clusters": 1, "words_per_cycle": 2})
    assert bound(inside) == ((0.0, 1 / 6), (0.0, 1 / 6), (0.0, 1 / 8), (0.0, 1 / 8))
    assert bound(settings_of({"type": "eyeriss_v2"})) == ((0.0, 0.0),) * 4
    h = level_list("eyeriss_v2")
    data = REPO / "tests" / "data"
    problem = load_problem(str(data / "core_conv3x3.yaml"))
    a = count_actions(problem, h, nest_from_dict(load_yaml(data / "core_nest_v2.yaml"), h))
    parts = bound_parts(a, h)
    # dram.net: ifmap 180,224 words delivered to the clusters (the largest stream) over 16 x 3
    assert parts["dram.net"] == pytest.approx(180224 / 48)
    # glb_cluster.net, per GLB cluster (16 active): ifmap 247,808 distinct words over 3 routers
    assert parts["glb_cluster.net"] == pytest.approx(247808 / 3 / 16)


def test_systolic_edges_and_skew_conventions():
    sy = registry.model("systolic")
    s = settings_of({"type": "systolic"})
    rows_only = grid_layout(4, 5, lambda r, c: r)    # differs per row: enters on the west edge
    cols_only = grid_layout(4, 5, lambda r, c: c)    # differs per column: north edge
    both = grid_layout(4, 5, lambda r, c: r * 5 + c)
    assert sy.delivery_cycles(Flow("ifmap", 40, 40, rows_only), s) == 40 / 4
    assert sy.delivery_cycles(Flow("weight", 40, 40, cols_only), s) == 40 / 5
    assert sy.delivery_cycles(Flow("psum_out", 40, 40, both), s) == 40 / 5
    # textbook: 2r + c + T - 2 per fold, r x c the PEs the fold uses
    assert sy.fold_skew(4, 5, "psum", s, 32, 32) == 2 * 4 + 5 - 2
    assert sy.fold_tail(s) == 0
    sc = settings_of({"type": "systolic", "timing": "scalesim"})
    assert sy.fold_skew(4, 5, "psum", sc, 32, 32) == 32 + 32 - 2          # OS: T + R + C - 2, whole array
    assert sy.fold_skew(4, 5, "weight", sc, 32, 32) == 2 * 32 + 32 - 2    # WS / IS: 2R + C + T - 2
    assert sy.fold_tail(sc) == -1


def test_row_stationary_layout_shares_ifmap_rows_along_diagonals():
    """RS with 3 filter rows on the array rows and 4 output rows on the columns (stride 1): PE (r, p)
    reads ifmap row p + r, so 4 + 3 - 1 = 6 distinct rows; filter rows differ by array row only,
    psums by column only."""
    layer = Layer("l", C=1, K=1, H=6, W=6, R=3, S=3)
    one = (1,) * 8

    def f(**kw):
        v = [1] * 8
        for k, x in kw.items():
            v[DIMS.index(k)] = x
        return tuple(v)

    m = Mapping((f(Q=4), one, f(R=3), f(P=4), f(S=3)), (tuple(range(8)),) * 3, (True,) * 3, (True,) * 3)
    ifm = layout(layer, m, "ifmap", 3, 4)
    assert ifm.pes == 12 and ifm.distinct == 6
    w = layout(layer, m, "weight", 3, 4)
    assert w.distinct == 3 and w.varies_along_rows and not w.varies_along_cols
    p = layout(layer, m, "psum", 3, 4)
    assert p.distinct == 4 and p.varies_along_cols and not p.varies_along_rows


GOOD = {"version": 1, "name": "t", "clock_mhz": 200, "word_bits": 16, "pe_array": {"rows": 12, "cols": 14},
        "glb": {"size_kb": 108, "bandwidth_words_per_cycle": 16}, "noc": {"type": "bus"}}


@pytest.mark.parametrize("noc, fragments", [
    ({"type": "eyeriss_v2", "ifmap_mode": "multicast"}, ["noc.ifmap_mode", "'multicast'", "interleaved_multicast"]),
    ({"type": "bus", "words_per_cycle": 0}, ["noc.words_per_cycle", "must be >= 0.001"]),
    ({"type": "systolic", "timing": "fast"}, ["noc.timing", "'fast'", "scalesim", "textbook"]),
    ({"type": "bus", "width": 4}, ["noc.width", "unknown key"]),
    ({"type": "eyeriss_v1", "accumulate_cycles": -1}, ["noc.accumulate_cycles", ">= 0"]),
    ({"type": "eyeriss_v2", "cluster_rows": 0}, ["noc.cluster_rows", ">= 1"]),
])
def test_bad_noc_parameters_are_one_line_config_errors(noc, fragments):
    doc = copy.deepcopy(GOOD)
    doc["noc"] = noc
    with pytest.raises(ConfigError) as err:
        arch_from_dict(doc, "cfg.yaml")
    msg = str(err.value)
    assert "\n" not in msg and "cfg.yaml" in msg
    for frag in fragments:
        assert frag in msg


def _noc_words(counts) -> list[int]:
    return [counts.reads[L_NOC][t] + counts.writes[L_NOC][t] for t in range(3)]


def test_energy_asks_the_noc_model_for_hops():
    layer = load_workload("alexnet", 1).layers[2]
    base = load_arch("eyeriss_v1")
    m = dataflows.get("rs").named(layer, base)
    r = evaluate(layer, base, m)
    words = _noc_words(r.counts)
    hop = base.energy.noc_hop_pj
    # multicast buses (and the plain bus): one hop per word a PE receives or sends, as before
    assert r.energy_breakdown_pj["noc"] == pytest.approx(sum(words) * hop)
    from dataclasses import replace

    from accelsim.arch import NocSpec

    bus = evaluate(layer, replace(base, noc=NocSpec("bus")), m)
    assert bus.energy_breakdown_pj["noc"] == r.energy_breakdown_pj["noc"]
    # mesh from a corner of 12 x 14 PEs: mean route (12-1)/2 + (14-1)/2 + 1 = 13 hops
    mesh = evaluate(layer, replace(base, noc=NocSpec("mesh")), m)
    assert mesh.energy_breakdown_pj["noc"] == pytest.approx(13 * sum(words) * hop)
    # Eyeriss v2 with broadcast ifmaps on 12 x 14 PEs in 3 x 4 clusters: 4 x 4 = 16 clusters, so each
    # distinct ifmap word also crosses 15 mesh links
    v2 = evaluate(layer, replace(base, noc=NocSpec("eyeriss_v2", (("ifmap_mode", "broadcast"),))), m)
    extra = 15 * r.counts.noc_transfers[0] * hop
    assert v2.energy_breakdown_pj["noc"] == pytest.approx(sum(words) * hop + extra)


@pytest.mark.parametrize("name", ["eyeriss_v1", "eyeriss_v2_flat", "eyeriss_v1_flat192"])
def test_shipped_configs_load(name):
    arch = load_arch(name)
    assert arch.noc.type in registry.names()
    assert arch.pes in (168, 192)
    if name == "eyeriss_v2_flat":
        assert arch.pe_array.rows * arch.pe_array.cols == 8 * 2 * 3 * 4
        assert "weight" not in arch.glb.holds and arch.rf.holds("weight")
        assert arch.dataflow == "rs_plus"
    if name == "eyeriss_v1":
        assert arch.dataflow == "rs"
