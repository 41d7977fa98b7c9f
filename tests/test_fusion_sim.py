"""Simulation and Eyexam bounds of a fused group (accelsim/sim/fused.py, accelsim/eyexam/fused.py)."""

from __future__ import annotations

import math

import pytest

from accelsim.arch import load_arch
from accelsim.cost.fused import count_group
from accelsim.cost.fused_levels import level_counts, rule_nest, tile_cycles
from accelsim.eyexam.fused import group_steps, tile_bound
from accelsim.fused import FusedGroup
from accelsim.hierarchy import level_list
from accelsim.mapper.network import target_of
from accelsim.sim.fused import TileWork, simulate_group, simulate_tiles, tile_work
from workloads import zoo

GROUPS = [FusedGroup(("conv1", "pool1"), rows=4, mode="keep"),
          FusedGroup(("conv2_1b", "conv2_1_add"), rows=1, cols=14, mode="keep_h", weights_resident=False),
          FusedGroup(("conv3_1_proj", "conv3_1_add"), rows=7, mode="recompute")]


def test_hand_computed_schedule_one_core():
    """Three tiles of a two-layer group, 1 word/cycle. By hand: load t0 0-10, t1 10-12; (t0,a) 10-12
    (idle 10: input); t2 loads 12-14 into the freed input buffer; (t0,b) 12-15, store t0 15-25;
    (t1,a) 15-17 (waited for the band buffer, the array was busy: no idle); (t1,b) 17-20, store t1
    25-35 (DRAM busy); (t2,a) 20-22; (t2,b) needs an output buffer: both stores pending until t0's
    ends at 25 (idle 3: output), runs 25-28, store 35-45."""
    work = [TileWork(0, 10, (2.0, 3.0), 10), TileWork(0, 2, (2.0, 3.0), 10), TileWork(0, 2, (2.0, 3.0), 10)]
    sim = simulate_tiles(work, 1.0)
    assert sim.cycles == 45 and sim.compute == 15 and sim.dram_words == 44
    assert sim.stalls == {"input": 10, "intermediate": 0, "output": 3}
    assert sim.cores[0].done == 28


def test_hand_computed_schedule_two_cores_share_dram():
    """Resident weights (2 words) first, then core 0's tile 2-6 and core 1's 6-10 on the one channel;
    core 0 computes 6-9 and stores 10-12 (after core 1's load), core 1 computes 10-13, stores 13-15."""
    work = [TileWork(0, 4, (3.0,), 2), TileWork(1, 4, (3.0,), 2)]
    sim = simulate_tiles(work, 1.0, first_load=2)
    assert (sim.cycles, sim.compute, sim.dram_words) == (15, 3, 14)
    assert [c.stalls["input"] for c in sim.cores] == [6, 10] and [c.done for c in sim.cores] == [9, 13]


@pytest.fixture(scope="module")
def setup():
    arch = load_arch("eyeriss_v1")
    target = target_of(arch)
    return arch, zoo.get("resnet18").graph, target.hierarchy, rule_nest(target.flow)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.layers[0])
def test_sim_words_equal_counts_and_bounds_hold(setup, group):
    arch, graph, h, nest_for = setup
    counts = count_group(group, graph)
    bw = arch.dram_words_per_cycle
    cache: dict = {}
    cycles = tile_cycles(group, graph, h, nest_for, cache)
    # the per-tile cycles are the per-layer sums of the exact counts, tile by tile
    for j, lv in enumerate(level_counts(group, graph, h, nest_for, cache)):
        assert math.isclose(sum(row[j] for _, row in cycles), lv.cycles, rel_tol=1e-12)
    work, first = tile_work(group, graph, cycles)
    sim = simulate_group(group, graph, h, nest_for, bw, cache)
    assert sim.dram_words == counts.dram_words and sim.tiles == counts.tiles == len(work)
    assert sim.compute == tile_bound(work)
    steps = group_steps(counts, work, sim, arch.pes, bw)
    assert all(a.cycles <= b.cycles * (1 + 1e-9) for a, b in zip(steps, steps[1:]))
    assert sim.cycles >= max(sim.compute, counts.dram_words / bw) * (1 - 1e-9)
    for core in sim.cores:       # the array computes or waits until its last step
        assert math.isclose(core.compute + sum(core.stalls.values()), core.done, rel_tol=1e-9)
    fast = simulate_tiles(work, math.inf, first)
    assert math.isclose(fast.cycles, fast.compute) and sum(fast.stalls.values()) == 0


def test_bandwidth_bound_group_stalls_on_input(setup):
    arch, graph, h, nest_for = setup
    group = GROUPS[0]
    counts = count_group(group, graph)
    sim = simulate_group(group, graph, h, nest_for, 1.0)
    assert sim.cycles >= counts.dram_words and sim.stalls["input"] > 0.5 * (sim.cycles - sim.compute)


def test_four_cores_step_two_is_the_mappers_compute():
    """On eyeriss_4core a group's rows of tiles run on 4 cores: step 2 is the busiest core's tile
    work, the compute term of the network mapper's latency (cost.fused_levels cycles_by_core)."""
    h = level_list("eyeriss_4core")
    graph = zoo.get("resnet18").graph
    nest_for = rule_nest(target_of(h).flow)
    group = FusedGroup(("conv2_1a", "conv2_1b"), rows=4, cols=14, mode="keep_h", cores=4)
    cache: dict = {}
    work, first = tile_work(group, graph, tile_cycles(group, graph, h, nest_for, cache))
    levels = level_counts(group, graph, h, nest_for, cache)
    assert {w.core for w in work} == {0, 1, 2, 3}
    assert math.isclose(tile_bound(work), max(map(sum, zip(*(lv.cycles_by_core for lv in levels)))), rel_tol=1e-12)
    sim = simulate_tiles(work, 1.8, first)
    assert len(sim.cores) == 4 and sim.cycles >= sim.compute and sim.dram_words == count_group(group, graph).dram_words


@pytest.mark.parametrize("mode, a_rows, loads, cycles", [
    ("recompute", (3, 4, 4, 3), (64, 96, 96, 64), 15_268),
    ("keep", (3, 2, 2, 1), (64, 32, 32, 0), 11_812),
])
def test_real_group_on_one_pe_by_hand(mode, a_rows, loads, cycles):
    """Two 3x3 pad-1 convs on 8x8 (C 2 -> 4 -> 3), tiles of 2 rows, on DRAM -> GLB -> one MAC with no
    bandwidth limits: a step takes its tile's MACs. Conv a computes ``a_rows`` rows per tile (x 8 x 4
    outputs x 18 MACs), b 2 rows (x 8 x 3 x 36 = 1,728); the input bands are ``loads`` words (x 8
    columns x 2 channels), the weights 72 + 108 = 180 words first, each output tile 48 words, at 1
    word/cycle. By hand: the array waits for the weights and tile 0 (180 + 64 = 244 cycles: input),
    then every later load is done before its step, so cycles = 244 + all MACs + the last store (48)."""
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.names import DRAM, GLB, IFMAP, PSUM, REG, ROLES, WEIGHT
    from dataflows import registry
    from workloads.graph import GraphBuilder
    from workloads.layer import conv

    one_pe = Hierarchy("one_pe", (Storage(DRAM, ROLES), Storage(GLB, ROLES),
                                  Storage(REG, ROLES, (((IFMAP,), 1), ((WEIGHT,), 1), ((PSUM,), 1)))))
    g = GraphBuilder()
    g.add(conv("a", C=2, K=4, H=8, R=3, pad=1))
    g.add(conv("b", C=4, K=3, H=8, R=3, pad=1))
    graph = g.graph()
    group = FusedGroup(("a", "b"), rows=2, mode=mode)
    steps = tile_cycles(group, graph, one_pe, rule_nest(registry.get("rs")))
    assert steps == tuple((0, (r * 8 * 4 * 18, 2 * 8 * 3 * 36)) for r in a_rows)
    work, first = tile_work(group, graph, steps)
    assert first == 180 and tuple(w.load for w in work) == loads and {w.store for w in work} == {48}
    sim = simulate_tiles(work, 1.0, first)
    macs = sum(r * 8 * 4 * 18 + 2 * 8 * 3 * 36 for r in a_rows)
    assert (sim.cycles, sim.compute, sim.stalls) == (cycles, macs, {"input": 244, "intermediate": 0, "output": 0})
    assert cycles == 244 + macs + 48
