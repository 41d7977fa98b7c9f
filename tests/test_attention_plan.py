"""The network mapper searches the attention dataflows (issue 18 item 3, accelsim.attention.plan):
for each Q.K^T -> softmax -> A.V run of a graph it picks unfused, FLAT-style or FuseMax-style by the
objective; checked against an independent comparison (each dataflow run alone through the transformer
runner, accelsim.attention.block, on the arch's hierarchy)."""

from __future__ import annotations

import pytest

from accelsim.arch import load_arch
from accelsim.attention.block import run_nodes
from accelsim.attention.model import DATAFLOWS
from accelsim.attention.plan import attention_runs
from accelsim.attention.transformer import Node, network, preset, to_graph
from accelsim.cost.model import arch_hierarchy
from accelsim.mapper.network import plan_network
from workloads.layer import Workload


def _bert(seq: int) -> Workload:
    g = to_graph(network(preset("bert_base", seq=seq, layers=1)))
    return Workload("bert1", g.mac_layers(), graph=g)


def _alone(arch, shape) -> dict[str, tuple[float, int]]:
    """Each dataflow's (energy pJ, cycles) for the attention alone, by the transformer runner."""
    h = arch_hierarchy(arch)
    out = {}
    for d in DATAFLOWS:
        r = run_nodes(h, [Node("attn", shape, ())], d, "alone")
        out[d] = (r.energy.total_pj, r.cycles)
    return out


def test_attention_runs_are_found_with_their_shape():
    w = _bert(128)
    runs = attention_runs(w.graph)
    assert list(runs) == [(3, 5)]
    names = [n.name for n in w.graph.nodes[3:6]]
    assert names == ["l1_attn_scores", "l1_attn_softmax", "l1_attn"]
    s = runs[(3, 5)]
    assert (s.batch * s.heads, s.queries, s.keys, s.e, s.f) == (12, 128, 128, 64, 64)


@pytest.mark.parametrize("arch_name, seq, expected", [
    # eyeriss_v1 (no vector unit), L = 512: FLAT-style moves more DRAM words than FuseMax-style (its
    # score rows do not fit beside K and V, so K and V stream per row tile) but fewer ops on the array
    ("eyeriss_v1", 512, {"energy": "flat", "latency": "fusemax"}),
    # the 32 x 32 systolic array, L = 128: the one-pass cascade's per-row ops cost it cycles, not energy
    ("systolic_32x32_ws", 128, {"energy": "fusemax", "latency": "flat"}),
])
def test_mapper_picks_what_an_independent_comparison_says(arch_name, seq, expected):
    arch = load_arch(arch_name)
    w = _bert(seq)
    shape = attention_runs(w.graph)[(3, 5)]
    alone = _alone(arch, shape)
    for objective, metric in (("energy", 0), ("latency", 1)):
        independent = min(DATAFLOWS, key=lambda d: (alone[d][metric], d))
        plan = plan_network(w, arch, objective=objective, budget=500)
        groups = [g for g in plan.groups if g.attention is not None]
        assert len(groups) == 1 and groups[0].group.layers == ("l1_attn_scores", "l1_attn_softmax", "l1_attn")
        assert groups[0].attention == independent == expected[objective]
        got = groups[0].cost
        assert (got.energy_pj, got.cycles) == pytest.approx(alone[independent], rel=1e-12)
        # the group beats its three nodes run alone by the objective (else the path would cut them)
        assert [got.energy_pj, got.cycles][metric] <= [groups[0].alone.energy_pj, groups[0].alone.cycles][metric]
        assert groups[0].as_dict()["attention_dataflow"] == independent


def test_fusion_table_names_the_attention_dataflow():
    from accelsim.fusion_report import fusion_table

    plan = plan_network(_bert(128), load_arch("eyeriss_v1"), objective="energy", budget=200)
    row = next(line for line in fusion_table(plan.as_dict()).splitlines() if line.startswith("l1_attn_scores .. "))
    assert row.split()[4] == "flat"       # eyeriss_v1, L = 128: FLAT-style is the cheapest (415 vs 484/578 uJ)
