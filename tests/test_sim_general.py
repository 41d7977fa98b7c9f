"""The simulator over any hierarchy (accelsim.sim.general, accelsim.sim.blocks).

Invariants on random problems x hierarchies (1-4 levels between DRAM and compute, 0-2 fanouts,
random bandwidths, networks and capacities) x nests: the blocks equal a brute-force walk of the
temporal counter; the words each resource moves equal the action table exactly; cycles >= the
latency bound (accelsim.cost.bound.hierarchy_bound, over the action table); unlimited
bandwidth gives exactly the compute cycles; the stalls sum to cycles - compute cycles; same input,
same output. Plus a hand-timed example and the general simulator on the fixed shape.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.cost.bound import hierarchy_bound
from accelsim.hierarchy import Fanout, Hierarchy, Storage
from accelsim.loopnest import LevelMap, LoopNest, check, flatten, tile_words
from accelsim.names import ROLES
from accelsim.problem import Problem, gemm
from accelsim.sim import simulate_nest, unlimited_hierarchy
from accelsim.sim.blocks import block_schedule
from tests.core_strategies import hierarchies, nests, problems

BANDWIDTHS = (None, 0.5, 1.0, 2.0, 3.0)


@st.composite
def timed(draw) -> tuple[Problem, Hierarchy, LoopNest]:
    """A random legal (problem, hierarchy, nest), then bandwidths, networks and capacities (each
    capacity at least the nest's tiles, so the nest stays legal; the slack sets double buffering)."""
    problem = draw(problems())
    h = draw(hierarchies())
    nest = draw(nests(problem, h))
    flat = flatten(problem, nest)
    levels = []
    for i, lv in enumerate(h.levels):
        fan = lv.fanout
        if fan is not None:
            net = draw(st.sampled_from(["bus", "mesh", "eyeriss_v1"]))
            params = (("words_per_cycle", draw(st.sampled_from([0.5, 1.0, 4.0]))),)
            fan = Fanout(fan.x, fan.y, net, params)
        cap: tuple = ()
        if i > 0:
            tiles = tile_words(problem, flat, flat.cut(i))
            kept = [r for r in ROLES if r in nest.levels[i].keeps]
            if kept and draw(st.booleans()):
                if draw(st.booleans()):
                    need = sum(tiles[r] for r in kept)
                    cap = ((tuple(kept), need + draw(st.integers(0, need))),)
                else:
                    cap = tuple(((r,), tiles[r] + draw(st.integers(0, tiles[r]))) for r in kept)
        levels.append(Storage(lv.name, lv.keeps if i == 0 else tuple(lv.keeps), cap,
                              draw(st.sampled_from(BANDWIDTHS)), draw(st.sampled_from(BANDWIDTHS)), fan,
                              bandwidth=draw(st.sampled_from(BANDWIDTHS))))
    hier = Hierarchy(h.name, tuple(levels))
    check(problem, hier, nest)
    return problem, hier, nest


def walk(problem: Problem, nest: LoopNest, nb: int, triggers: list[int]):
    """Brute force: every valid step of the temporal counter, its block (first nb digits) and carry;
    per block the steps and, per trigger, the steps whose carry is at or above it (refills)."""
    flat = flatten(problem, nest)
    loops = flat.loops
    temporal = [i for i, lp in enumerate(loops) if not lp.spatial]
    sizes = dict(problem.dims)
    out: dict[tuple, list[int]] = {}
    prev = None
    for digits in itertools.product(*(range(loops[i].factor) for i in temporal)):
        idx = dict.fromkeys(sizes, 0)
        for i, dg in zip(temporal, digits):
            idx[loops[i].dim] += dg * loops[i].span
        if any(idx[d] >= sizes[d] for d in sizes):
            continue
        carry = -1 if prev is None else next(k for k in range(len(digits)) if digits[k] != prev[k])
        prev = digits
        row = out.setdefault(digits[:nb], [0] * (1 + len(triggers)))
        row[0] += 1
        for k, t in enumerate(triggers):
            row[1 + k] += carry <= t
    return list(out.values())


@settings(max_examples=60, deadline=None)
@given(timed(), st.sampled_from([1, 4, 128]))
def test_invariants_on_random_hierarchies(case, max_blocks):
    problem, h, nest = case
    a = count_actions(problem, h, nest)
    sched = block_schedule(problem, h, nest, max_blocks)
    assert len(sched.blocks) <= max_blocks
    brute = walk(problem, nest, sched.nb, [hp.trigger for hp in sched.hops])
    assert [[b.steps, *b.events] for b in sched.blocks] == brute
    r = simulate_nest(problem, h, nest, a, max_blocks=max_blocks)
    # every word of the action table, moved by the simulation, exactly
    table = {("network" if lv.endswith(".net") else "storage", lv.removesuffix(".net"), role, act): n
             for lv, role, act, n in a.table()}
    assert r.words is not None
    assert {k: v for k, v in r.words.items() if v} == table
    assert r.ideal_cycles == a.cycles
    assert r.cycles >= hierarchy_bound(a, h) - 1e-6
    assert sum(r.stall_cycles.values()) == r.cycles - r.ideal_cycles
    assert all(v >= 0 for v in r.stall_cycles.values())
    assert r == simulate_nest(problem, h, nest, a, max_blocks=max_blocks)
    free = simulate_nest(problem, unlimited_hierarchy(h), nest, a, max_blocks=max_blocks)
    assert free.cycles == a.cycles
    assert set(free.stall_cycles.values()) <= {0}


def _gemm_case(capacity: int | None, n: int = 1) -> tuple[Problem, Hierarchy, LoopNest]:
    """Z[m, n] += A[m, k] * B[k, n], M=2, K=4 (n=1) or M=2, N=2, K=2 (n=2): DRAM at 1 word/cycle
    each way -> buf (free ports; one capacity group for all three) -> MAC. DRAM loop M; buffer
    loops K (n=1) or N then K (n=2). A's rows come in twice, B once, Z's rows go out twice."""
    p = gemm("g", 2, n, 4 if n == 1 else 2)
    cap = () if capacity is None else ((tuple(ROLES), capacity),)
    h = Hierarchy("h", (Storage("dram", ROLES, (), 1.0, 1.0), Storage("buf", ROLES, cap)))
    buf = (("K", 4),) if n == 1 else (("N", 2), ("K", 2))
    nest = LoopNest((LevelMap("dram", (("M", 2),), ("M",), ROLES),
                     LevelMap("buf", buf, tuple(d for d, _ in buf), ROLES)))
    check(p, h, nest)
    return p, h, nest


def _timed(case) -> tuple[int, int, dict]:
    r = simulate_nest(*case)
    return r.cycles, r.ideal_cycles, {k: v for k, v in r.stall_cycles.items() if v}


def test_hand_timed_gemm_double_buffered():
    # 8 blocks of one step. t=0: A's first row + B (8 words) -> 8 stall; blocks 0-3 compute to 12;
    # A's second row prefetched from 11 (during block 3) to 15 -> 3 stall; Z[0] written 12-13
    # behind; blocks 4-7 compute 15-19; Z[1] written 19-20 -> 1 stall. 20 = 8 + 11 + 1.
    assert _timed(_gemm_case(None)) == (20, 8, {"dram.read": 11, "dram.write": 1})
    # N=2, K=2: B (4) + A's row (2) -> 6; compute 6-10; A's 2nd row 9-11 -> 1; Z row 10-12 behind;
    # compute 11-15; Z row 15-17 -> 2. 17 = 8 + 7 + 2.
    assert _timed(_gemm_case(None, 2)) == (17, 8, {"dram.read": 7, "dram.write": 2})


def test_hand_timed_gemm_single_buffered():
    # N=2, K=2, the buffer holds exactly one tile of each (A 2 + B 4 + Z 2 = 8 words). Its outermost
    # loop N indexes B and Z (replaced slice by slice: still overlapped) but not A: A's rows are
    # waited for. B 0-4 (prefetch, 4 stall), A's row 4-6 (2), compute 6-10, Z row 10-12 behind,
    # A's 2nd row 10-12 (2), compute 12-16, Z row 16-18 (2). 18 = 8 + 8 + 2.
    case = _gemm_case(8, 2)
    assert _timed(case) == (18, 8, {"dram.read": 8, "dram.write": 2})
    r = simulate_nest(*case)
    assert not r.prefetched and r.exposed["buf.ifmap"] and not r.exposed["buf.weight"]
    # one free word (capacity 9): half of each 2-word A row arrives early. B 4 + A 1 (0-5), A 1 (5-6),
    # compute 6-10, the 2nd row's early word 9-10, Z row 10-12 behind, its other word 10-11 (1),
    # compute 11-15, Z row 15-17 (2). 17 = 8 + 7 + 2.
    r = simulate_nest(*_gemm_case(9, 2))
    assert (r.cycles, {k: v for k, v in r.stall_cycles.items() if v}) == (17, {"dram.read": 7, "dram.write": 2})
    assert r.exposed["buf.ifmap"] and not r.prefetched
    # M=2, K=4 in 9 words: the loop K indexes A and B (overlapped) but not Z, whose rows are waited
    # for: 20 cycles as double buffered, but 1 more Z write waited (12-13) and 1 less A read (3 -> 2).
    assert _timed(_gemm_case(9)) == (20, 8, {"dram.read": 10, "dram.write": 2})


def test_hand_timed_input_fifo_is_room_for_refills():
    """An input FIFO in front of a level (``input_fifo_words``) holds words of the next refill: the
    single-buffered N=2, K=2 case (capacity 8) with a 1-word ifmap FIFO is timed as the case with one
    free word (17 cycles, hand-timed above); a weight FIFO leaves A's rows waited for (18); a 2-word
    ifmap FIFO holds a whole A row: B 4 + A 2 (0-6), compute 6-10, the 2nd row early 9-11 (1 stall),
    Z row 11-13 behind, compute 11-15, Z row 15-17 (2). 17 = 8 + 7 + 2, the 2nd row no longer exposed."""
    def with_fifo(**words):
        p, h, nest = _gemm_case(8, 2)
        buf = replace(h.levels[1], input_fifo=tuple(words.items()))
        return p, replace(h, levels=(h.levels[0], buf)), nest

    one = simulate_nest(*with_fifo(ifmap=1))
    assert (one.cycles, {k: v for k, v in one.stall_cycles.items() if v}) == (17, {"dram.read": 7, "dram.write": 2})
    assert _timed(with_fifo(weight=4)) == (18, 8, {"dram.read": 8, "dram.write": 2})
    two = simulate_nest(*with_fifo(ifmap=2))
    assert (two.cycles, {k: v for k, v in two.stall_cycles.items() if v}) == (17, {"dram.read": 7, "dram.write": 2})
    assert one.exposed["buf.ifmap"] and not two.exposed["buf.ifmap"]


def test_hand_timed_refill_room_is_per_copy():
    """The room beside a child's tiles is one copy's; a refill's words are compared per copy. The
    single-buffered N=2, K=2 case with one free word, on 4 copies below DRAM (M=8: DRAM loop M2,
    fanout x M4, buffer loops N2 then K2; each copy holds A's row 2 + B 4 + Z's row 2 = 8 of 9 words),
    timed as 2 blocks (``max_blocks=2``: one per DRAM step, 4 compute steps each).
    Each block's refill brings every copy its own 2-word A row (8 DRAM words), B once (multicast, 4).
    One free word per copy holds 1 of its 2 words: half of each A refill arrives early. DRAM at 1 word
    per cycle each way, network and buffer ports free. By hand: B 4 + A 4 (0-8, 8 stall), A 4 (8-12, 4),
    block 1's early A 4 (12-16) beside compute 12-16, Z rows 8 behind (16-24), A 4 (16-20, 4), compute
    20-24, Z rows 8 (24-32, 8). 32 = 8 + 16 + 8. (One copy's free word against all 4 copies' 8 words
    would let 1/8 arrive early: 35 cycles.)"""
    p = gemm("g", 8, 2, 2)
    bus = Fanout(4, 1, "bus", (("words_per_cycle", 1e9),))
    h = Hierarchy("h", (Storage("dram", ROLES, (), 1.0, 1.0, bus), Storage("buf", ROLES, ((tuple(ROLES), 9),))))
    nest = LoopNest((LevelMap("dram", (("M", 2),), ("M",), ROLES, (("M", 4),)),
                     LevelMap("buf", (("N", 2), ("K", 2)), ("N", "K"), ROLES)))
    check(p, h, nest)
    a = count_actions(p, h, nest)
    assert a.storage[("dram", "ifmap", "read")] == 16 and a.storage[("dram", "weight", "read")] == 4
    assert a.storage[("buf", "ifmap", "fill")] == 16       # 2 blocks x 4 copies x 2 words
    r = simulate_nest(p, h, nest, a, max_blocks=2)
    assert (r.blocks, r.cycles, r.ideal_cycles) == (2, 32, 8)
    assert {k: v for k, v in r.stall_cycles.items() if v} == {"dram.read": 16, "dram.write": 8}


def test_input_fifo_words_in_a_level_list():
    """``input_fifo_words`` on a level: operand roles only, one line for anything else; from_arch puts
    the PE's FIFOs (pe_array.input_fifo_words) on the RF level."""
    from accelsim.arch import load_arch
    from accelsim.errors import ConfigError
    from accelsim.hierarchy import from_arch, hierarchy_from_dict

    doc = {"name": "h", "levels": [{"name": "dram", "keeps": list(ROLES)},
                                   {"name": "buf", "keeps": list(ROLES), "input_fifo_words": {"ifmap": 3}}]}
    assert hierarchy_from_dict(doc).levels[1].fifo_words("ifmap") == 3
    doc["levels"][1]["input_fifo_words"] = {"psum": 3}
    with pytest.raises(ConfigError, match=r"levels\[1\]\.input_fifo_words\.psum: unknown key 'psum'; allowed: ifmap, weight"):
        hierarchy_from_dict(doc)
    rf = from_arch(load_arch("eyeriss_v1")).level("rf")
    assert (rf.fifo_words("ifmap"), rf.fifo_words("weight"), rf.fifo_words("psum")) == (4, 4, 0)


def test_hand_timed_pe_adder_cycles_below_a_fanout():
    """Eyeriss v1's PE adder cycle in the general simulator (the NoC model's ``pe_cycles``, as in the
    fixed-shape one): M=2, K=4 with K split over 2 copies (x) below the buffer, every MAC result
    sent up (no RF). 4 steps; each step one copy passes its psum to the other, which adds it:
    up_src 8 - up 4 = 4 psums added by 1 receiving copy, ``accumulate_cycles`` each. Networks and
    ports unlimited otherwise: 4 + 4 x accumulate_cycles cycles, the adds charged to buf.net.psum_out."""
    p = gemm("g", 2, 1, 4)
    nest = LoopNest((LevelMap("dram", (), (), ROLES), LevelMap("buf", (("M", 2), ("K", 2)), ("M", "K"), ROLES,
                                                                x=(("K", 2),))))
    got = {}
    for acc in (0, 1, 2):
        params = (("accumulate_cycles", acc), ("words_per_cycle", 1e9), ("local_words_per_cycle", 1e9),
                  ("latency_cycles", 0))
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("buf", ROLES, fanout=Fanout(2, 1, "eyeriss_v1", params))))
        check(p, h, nest)
        a = count_actions(p, h, nest)
        assert (a.network[("buf", "psum", "up_src")], a.network[("buf", "psum", "up")]) == (8, 4)
        got[acc] = _timed((p, h, nest))
    assert got == {0: (4, 4, {}), 1: (8, 4, {"buf.net.psum_out": 4}), 2: (12, 4, {"buf.net.psum_out": 8})}


def test_network_bandwidth_sets_the_time():
    """A 4-wide bus fanout below the buffer, 1 word/cycle per stream: each of the 4 PEs needs its
    own A row (the bus carries each distinct word once: 16) and all share B (multicast once: 4);
    DRAM and buffer ports are free. The PE tiles arrive once, before the 4 steps (16 cycles on
    the ifmap bus, the weight bus done at 4), and the 4 Z words go up after them (4 cycles on
    the psum bus): 16 + 4 + 4 = 24."""
    p = gemm("g", 4, 1, 4)
    bus = Fanout(4, 1, "bus", (("words_per_cycle", 1.0),))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("buf", ROLES, fanout=bus), Storage("pe", ROLES)))
    nest = LoopNest((LevelMap("dram", (), (), ROLES), LevelMap("buf", (), (), ROLES, (("M", 4),)),
                     LevelMap("pe", (("K", 4),), ("K",), ROLES)))
    check(p, h, nest)
    a = count_actions(p, h, nest)
    assert a.network[("buf", "ifmap", "down")] == 16 and a.network[("buf", "weight", "down")] == 4
    assert a.network[("buf", "psum", "up")] == 4
    r = simulate_nest(p, h, nest, a)
    assert (r.cycles, r.ideal_cycles) == (24, 4)
    assert {k: v for k, v in r.stall_cycles.items() if v} == {"buf.net.ifmap": 16, "buf.net.psum_out": 4}
    assert abs(r.busy["buf.net.weight"] - 4 / 24) < 1e-12


def test_unlimited_keeps_structure():
    p, h, nest = _gemm_case(9)
    u = unlimited_hierarchy(h)
    assert [lv.name for lv in u.levels] == [lv.name for lv in h.levels]
    assert all(lv.read_bandwidth is None and lv.write_bandwidth is None for lv in u.levels)
    assert replace(u, levels=h.levels) == h


def test_fixed_shape_alexnet_against_the_fixed_simulator():
    """eyeriss_v1 converted by ``hierarchy.from_arch``, AlexNet batch 4, the chip's mapping rule
    (the RS named mapping) converted by ``loopnest.from_fixed``: the general simulator times the
    same compute and words as the fixed-shape one; the per-layer gap (printed with -s) comes from
    the timing effects only the fixed one models (docs/simulation.md lists them)."""
    from accelsim.arch import load_arch
    from accelsim.cost.model import evaluate
    from accelsim.hierarchy import from_arch
    from accelsim.loopnest import from_fixed
    from accelsim.problem import from_layer
    from accelsim.sim import simulate_layer
    from dataflows import registry
    from workloads import zoo

    arch = load_arch("eyeriss_v1")
    h = from_arch(arch)
    flow = registry.get(arch.dataflow)
    print("\nlayer   fixed cycles  general cycles  general/fixed")
    for layer in zoo.get("alexnet").layers[:5]:
        layer = replace(layer, N=4)
        m = flow.named(layer, arch)
        counts = evaluate(layer, arch, m).counts
        fixed = simulate_layer(layer, arch, m, counts)
        p, nest = from_layer(layer), from_fixed(m, h)
        a = count_actions(p, h, nest)
        r = simulate_nest(p, h, nest, a)
        print(f"{layer.name:6} {fixed.cycles:>13,} {r.cycles:>15,} {r.cycles / fixed.cycles:>14.3f}")
        assert r.ideal_cycles == fixed.ideal_cycles == counts.cycles
        assert r.cycles >= hierarchy_bound(a, h) - 1e-6
        assert r.words is not None and sum(r.words.values()) == sum(n for *_, n in a.table())


def test_accelsim_run_on_a_hierarchy_reports_simulated_cycles():
    """`accelsim run` on Simba-like (two fanouts) simulates every layer with MACs: cycles >= the
    latency bound, stalls by resource summing to cycles - compute cycles; `--no-sim` gives the bound."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    def run(*extra: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "accelsim", "run", "hierarchy/simba_like", "-w", "resnet50",
                              "--layers", "conv1,conv2_1b", "--json", *extra], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    sim, bound = run(), run("--no-sim")
    assert sim["simulated"] and not bound["simulated"]
    assert sim["cycles_are"].startswith("simulated") and bound["cycles_are"].startswith("latency bound")
    assert [layer["name"] for layer in sim["layers"]] == ["conv1", "conv2_1b"]
    for s, b in zip(sim["layers"], bound["layers"]):
        assert b["cycles"] == max(b["bound_cycles"].values()) and "stall_cycles" not in b
        assert s["cycles"] >= b["cycles"] >= s["ideal_cycles"]
        assert sum(s["stall_cycles"].values()) == s["cycles"] - s["ideal_cycles"]
        assert s["busy"]["compute"] == round(s["ideal_cycles"] / s["cycles"], 6)
    assert sim["totals"]["cycles"] == sum(layer["cycles"] for layer in sim["layers"])


def test_layers_without_macs_keep_their_bound_when_simulated():
    from accelsim.hierarchy import load_architecture
    from accelsim.pipeline_hierarchy import run_hierarchy
    from workloads.problems import load_problem_workload

    wl = load_problem_workload("codl_vgg16")
    wl = replace(wl, layers=tuple(pl for pl in wl.layers if pl.name in ("conv1_1", "pool1")))
    run = run_hierarchy(load_architecture("hierarchy/simba_like"), wl, simulate=True)
    conv, pool = run.layers
    assert conv.sim is not None and conv.cycles == conv.sim.cycles >= max(conv.bound_parts.values())
    assert pool.sim is None and pool.cycles == max(pool.bound_parts.values()) > 0
