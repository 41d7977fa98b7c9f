"""Simulation and Eyexam bounds of a fused group (accelsim/sim/fused.py, accelsim/eyexam/fused.py)."""

from __future__ import annotations

import math

import pytest

from accelsim.arch import load_arch
from accelsim.cost.fused import count_group
from accelsim.eyexam.fused import group_steps
from accelsim.fused import FusedGroup
from accelsim.mapper.network import node_costs
from accelsim.sim.fused import simulate_group
from workloads import zoo

GROUPS = [FusedGroup(("conv1", "pool1"), rows=4, mode="keep"),
          FusedGroup(("conv2_1b", "conv2_1_add"), rows=1, cols=14, mode="keep_h", weights_resident=False),
          FusedGroup(("conv3_1_proj", "conv3_1_add"), rows=7, mode="recompute")]


@pytest.fixture(scope="module")
def setup():
    arch = load_arch("eyeriss_v1")
    graph = zoo.get("resnet18").graph
    alone = node_costs(graph, arch)
    return arch, graph, {n: c.cycles for n, c in alone.items()}


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.layers[0])
def test_sim_words_equal_counts_and_bounds_hold(setup, group):
    arch, graph, cycles = setup
    counts = count_group(group, graph)
    bw = arch.dram_words_per_cycle
    sim = simulate_group(group, graph, cycles, bw)
    assert sim.dram_words == counts.dram_words and sim.tiles == counts.tiles
    # compute = sum of the layers' cycles scaled by their recomputation
    scaled = sum(cycles[c.name] * c.recompute_ratio for c in counts.layers)
    assert math.isclose(sim.compute, scaled, rel_tol=1e-9)
    steps = group_steps(counts, sim, arch.pes, bw)
    assert all(a.cycles <= b.cycles * (1 + 1e-9) for a, b in zip(steps, steps[1:]))
    assert sim.cycles >= max(sim.compute, counts.dram_words / bw) * (1 - 1e-9)
    # compute plus waits is when the array finished; the last store comes after
    assert sim.compute + sum(sim.stalls.values()) <= sim.cycles * (1 + 1e-9)
    fast = simulate_group(group, graph, cycles, math.inf)
    assert math.isclose(fast.cycles, fast.compute) and fast.stalls["input"] == 0 == fast.stalls["output"]


def test_bandwidth_bound_group_stalls_on_input(setup):
    arch, graph, cycles = setup
    group = GROUPS[0]
    counts = count_group(group, graph)
    slow = counts.dram_words / 1.0   # one word per cycle: DRAM-bound
    sim = simulate_group(group, graph, cycles, 1.0)
    assert sim.cycles >= slow and sim.stalls["input"] > 0.5 * (sim.cycles - sim.compute)
