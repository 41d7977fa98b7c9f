"""The network mapper (accelsim/mapper/network.py) and `accelsim run --fuse`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim.arch import load_arch
from accelsim.cost.energy import energy_of
from accelsim.cost.fused import count_group
from accelsim.cost.fused_levels import level_counts, rule_nest
from accelsim.errors import ConfigError
from accelsim.fused import FusedGroup
from accelsim.mapper.network import group_actions, group_cost, plan_network, target_of
from workloads import zoo

NO_GRAPH = Path(__file__).parent / "data" / "workloads" / "three_layers.yaml"


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
    target = target_of(arch)
    for g in fused:                            # the plan's numbers are the group's exact counts, re-derived
        again = count_group(g.group, w.graph)
        assert again == g.counts and again.peak <= arch.glb_words
        inner = level_counts(g.group, w.graph, target.hierarchy, rule_nest(target.flow))
        assert inner == g.levels and group_cost(again, inner, target) == g.cost
        assert g.cost.dram_words == again.dram_words < g.alone.dram_words


def test_group_cost_prices_its_words_through_the_energy_table(resnet18_plan):
    """conv1+pool1 of ResNet-18 (one output row per tile, keep) on eyeriss_v1 (normalized: DRAM 200, GLB 6 pJ a
    read, fill or drain): DRAM 150,528 input + 9,408 weight words read (each a GLB fill), 200,704
    output words written (a GLB drain). 206 x 360,640 = 74,291,840 pJ, plus the layers' tile tables."""
    arch, w, _ = resnet18_plan
    target = target_of(arch)
    counts = count_group(FusedGroup(("conv1", "pool1")), w.graph)
    moved = group_actions(counts, target.hierarchy)
    assert moved.storage == {("dram", "ifmap", "read"): 150528, ("glb", "ifmap", "fill"): 150528,
                             ("dram", "weight", "read"): 9408, ("glb", "weight", "fill"): 9408,
                             ("glb", "psum", "drain"): 200704, ("dram", "psum", "update"): 200704}
    assert energy_of(moved, target.hierarchy, target.table).total_pj == 74_291_840.0
    inner = level_counts(counts.group, w.graph, target.hierarchy, rule_nest(target.flow))
    layers = sum(energy_of(lv.actions, target.hierarchy, target.table).total_pj for lv in inner)
    assert group_cost(counts, inner, target).energy_pj == pytest.approx(74_291_840.0 + layers, rel=1e-12)
    # the pool's tile table by hand (3x3/2, pad 1): per output row it reads its 3-row window of conv1's
    # 64 x 112 x 112 output (2 rows for the first: padding), 167 rows in all, and writes 64 x 56 x 56 once
    assert inner[1].actions.storage == {("glb", "ifmap", "read"): 64 * 167 * 112, ("glb", "psum", "update"): 64 * 56 * 56}


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
    from workloads.yaml_file import load_yaml_workload

    no_inputs = load_yaml_workload(NO_GRAPH)          # a YAML workload without inputs: carries no graph
    assert no_inputs.graph is None
    with pytest.raises(ConfigError, match="carries no graph"):
        plan_network(no_inputs, arch)


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
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "-w", str(NO_GRAPH), "--no-sim", "-q", "--fuse"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "carries no graph" in proc.stderr


@pytest.mark.parametrize("argv, message", [
    (["eyeriss_v1", "-w", "resnet18", "--fuse", "--layers", "conv1"], "--fuse plans the whole network graph"),
])
def test_cli_fuse_unsupported_combinations(argv, message):
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", *argv, "--no-sim", "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_cli_fuse_on_a_hierarchy_without_a_fusable_level_says_why():
    """The clustered Eyeriss v2's GLB clusters keep no weights; its spads (16 + 192 + 32 = 240 words)
    keep all three but hold no tile: the plan is layer by layer and every cut says so."""
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "hierarchy/eyeriss_v2", "-w", "resnet18", "--no-sim",
                           "-q", "--fuse"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "fusion (energy): 0 fused group(s)" in proc.stdout
    assert "adding 'pool1': capacity: the smallest tile needs" in proc.stdout and "'spad' holds 240" in proc.stdout


def test_four_core_group_multicasts_resident_weights_to_every_core():
    """eyeriss_4core (2x2 cores below DRAM, a GLB each): conv1+pool1 of ResNet-18 at one row per tile on
    4 cores reads its weights (9,408) from DRAM once, and each of the 4 GLBs is filled with them
    (multicast: down 9,408, down_dest 4 x 9,408); its input and output words cross the bus once."""
    from dataclasses import replace

    from accelsim.hierarchy import level_list

    h = level_list("eyeriss_4core")
    graph = zoo.get("resnet18").graph
    counts = count_group(FusedGroup(("conv1", "pool1"), rows=1, cores=4), graph)
    moved = group_actions(counts, h)
    ins, outs = counts.dram_reads["conv1.input"], counts.dram_writes["pool1.output"]
    assert moved.storage == {("dram", "ifmap", "read"): ins, ("glb", "ifmap", "fill"): ins,
                             ("dram", "weight", "read"): 9408, ("glb", "weight", "fill"): 4 * 9408,
                             ("glb", "psum", "drain"): outs, ("dram", "psum", "update"): outs}
    assert moved.network == {("dram", "ifmap", "down"): ins, ("dram", "ifmap", "down_dest"): ins,
                             ("dram", "weight", "down"): 9408, ("dram", "weight", "down_dest"): 4 * 9408,
                             ("dram", "psum", "up"): outs, ("dram", "psum", "up_src"): outs}
    # four blocks of 14 rows of tiles: each core's first row re-fetches its halo (3 blocks x 1 input row
    # more under keep, 7x7/2 pad 3 conv then 3x3/2 pool: more input than one core, never less)
    one = count_group(replace(counts.group, cores=1), graph)
    assert ins > one.dram_reads["conv1.input"]


def test_fewer_cores_halo_words_and_the_mappers_choice():
    """eyeriss_4core: a group runs on 4, 2 or 1 of its cores. conv2_2b + add of ResNet-18 at 4x14 keep:
    each block boundary refetches the 2-row halo of conv2_2b's input (2 x 56 x 64 = 7,168 words): 638,976
    DRAM words on 1 core, + 7,168 on 2, + 3 x 7,168 on 4. On ResNet-18's first nodes (energy) every fused
    group runs on the core count that costs least at its tile among 4, 2 and 1 (not always all 4)."""
    from dataclasses import replace

    from accelsim.hierarchy import level_list
    from workloads.graph import Graph
    from workloads.layer import Workload

    r18 = zoo.get("resnet18").graph
    words = [count_group(FusedGroup(("conv2_2b", "conv2_2_add"), rows=4, cols=14, cores=k), r18).dram_words
             for k in (1, 2, 4)]
    # by hand, 1 core: conv2_2b's input, the add's other input and its output (3 x 64 x 56 x 56 =
    # 602,112) + conv2_2b's weights (64 x 64 x 9 = 36,864) = 638,976
    assert words == [638_976, 638_976 + 7_168, 638_976 + 3 * 7_168]
    k = r18.position("conv2_2_add") + 1
    head = Graph(r18.nodes[:k], r18.inputs[:k])
    h = level_list("eyeriss_4core")
    target = target_of(h)
    plan = plan_network(Workload("r18_head", head.mac_layers(), head), h, objective="energy", seed=0)
    fused = [g for g in plan.groups if g.counts is not None]
    assert fused and any(g.group.cores < 4 for g in fused)
    def energy(group: FusedGroup) -> float:
        return group_cost(count_group(group, head), level_counts(group, head, h, rule_nest(target.flow)), target).energy_pj

    for g in fused:
        assert g.cost.energy_pj == energy(g.group) <= min(energy(replace(g.group, cores=c)) for c in (4, 2, 1))
