"""The network mapper (accelsim/mapper/network.py) and `accelsim run --fuse`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from accelsim.arch import load_arch
from accelsim.cost.fused import count_group
from accelsim.errors import ConfigError
from accelsim.fused import FusedGroup
from accelsim.mapper.network import group_actions, group_cost, node_costs, plan_network
from workloads import zoo


@pytest.fixture(scope="module")
def resnet18_plan():
    arch = load_arch("eyeriss_v1")
    w = zoo.get("resnet18")
    return arch, w, plan_network(w, arch, objective="energy", seed=0)


def test_plan_covers_the_graph_in_order_and_is_never_worse(resnet18_plan):
    arch, w, plan = resnet18_plan
    names = [n for g in plan.groups for n in g.group.layers]
    assert names == [n.name for n in w.graph.nodes]
    assert plan.total("energy_pj") <= plan.total("energy_pj", baseline=True)
    for g in plan.groups:                      # each group no worse than its nodes alone
        assert g.cost.energy_pj <= g.alone.energy_pj + 1e-6
    fused = [g for g in plan.groups if g.counts is not None]
    assert fused, "ResNet-18 on eyeriss_v1 fuses something (the stem and its pool at least)"
    assert fused[0].group.layers == ("conv1", "pool1")
    alone = node_costs(w.graph, arch)
    for g in fused:                            # the plan's numbers are the group's exact counts, re-derived
        again = count_group(g.group, w.graph)
        assert again == g.counts and again.peak <= arch.glb_words
        assert group_cost(again, alone, arch) == g.cost
        assert g.cost.dram_words == again.dram_words < g.alone.dram_words


def test_group_cost_prices_its_words_through_the_energy_table(resnet18_plan):
    """conv1+pool1 of ResNet-18 (whole-layer tile) on eyeriss_v1 (normalized: DRAM 200, GLB write 6 pJ):
    DRAM 150,528 input + 9,408 weight words read, 200,704 output words written; 802,816 conv1
    outputs written once at the GLB. 200 x 360,640 + 6 x 802,816 = 76,944,896 pJ above the layers."""
    arch, w, _ = resnet18_plan
    counts = count_group(FusedGroup(("conv1", "pool1")), w.graph)
    assert group_actions(counts).storage == {("dram", "ifmap", "read"): 150528, ("dram", "weight", "read"): 9408,
                                             ("dram", "psum", "update"): 200704, ("glb", "psum", "update"): 802816}
    alone = node_costs(w.graph, arch)
    inner = sum((alone[c.name][0].energy_pj - alone[c.name][0].energy_breakdown_pj["dram"]) * c.recompute_ratio
                for c in counts.layers)
    assert group_cost(counts, alone, arch).energy_pj == inner + 76_944_896.0


def test_every_cut_has_a_reason(resnet18_plan):
    _, _, plan = resnet18_plan
    reasons = [g.why_cut for g in plan.groups]
    assert reasons[-1] == "end of the network"
    assert any(r.startswith("adding 'conv3_1_proj': ") and "does not read 'conv3_1b'" in r for r in reasons)
    assert any("capacity: the smallest tile needs" in r for r in reasons)


def test_same_seed_same_plan_and_budget_is_respected():
    arch = load_arch("eyeriss_v1")
    w = zoo.get("mobilenet_v2")
    a = plan_network(w, arch, objective="edp", budget=1000, seed=3)
    b = plan_network(w, arch, objective="edp", budget=1000, seed=3)
    assert a.as_dict() == b.as_dict()
    assert a.evaluated <= 1000 + len(w.graph.nodes) * 6
    e = lambda p, base=False: p.total("energy_pj", base) * p.total("cycles", base)
    assert e(a) <= e(a, True)


def test_bad_objective_and_no_graph():
    arch = load_arch("eyeriss_v1")
    with pytest.raises(ConfigError, match="unknown objective 'speed'"):
        plan_network(zoo.get("resnet18"), arch, objective="speed")
    with pytest.raises(ConfigError, match="carries no graph"):
        plan_network(zoo.get("nin"), arch)


def test_cli_fuse_writes_groups_and_traffic(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "eyeriss_v1", "-w", "resnet18", "--no-sim", "-q",
                           "--fuse", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "fusion (energy):" in proc.stdout and "conv1 .. pool1 (2)" in proc.stdout
    doc = json.loads((out / "stats.json").read_text())
    fusion = doc["fusion"]
    assert [n for g in fusion["groups"] for n in g["layers"]] == [n.name for n in zoo.get("resnet18").graph.nodes]
    assert fusion["dram_words"] == sum(g["dram_words"] for g in fusion["groups"])
    assert fusion["dram_words"] < fusion["layer_by_layer"]["dram_words"]


def test_cli_fuse_bad_input_is_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "-w", "nin", "--no-sim", "-q", "--fuse"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "carries no graph" in proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["hierarchy/eyeriss_v2", "-w", "resnet18", "--fuse"], "--fuse runs on fixed-shape archs only"),
    (["eyeriss_v1", "-w", "resnet18", "--fuse", "--layers", "conv1"], "--fuse plans the whole network graph"),
])
def test_cli_fuse_unsupported_combinations(argv, message):
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", *argv, "--no-sim", "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
