"""The cycle-approximate simulator: invariants over random layers and mappings, the traffic it moves
equal to the cost model's counts, a small case computed by hand, determinism, bounded events, the
trace, and what `accelsim run` reports."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import arch_from_dict, load_arch
from accelsim.cli import main
from accelsim.cost.bound import latency_bound
from accelsim.cost.counts import L_DRAM, L_GLB, L_NOC, count
from accelsim.cost.model import evaluate
from accelsim.eyexam import examine
from accelsim.mapping import Mapping
from accelsim.sim import STALL_CAUSES, engine, save_trace, simulate_layer, unlimited
from accelsim.sim.passes import CATEGORIES, schedule
from accelsim.sim.simulate import _fold_sums
from dataflows import registry
from tests.strategies import mappings, small_layers
from workloads.layer import DIMS, Layer
from workloads.loader import load_workload

NOCS = [{"type": "bus", "words_per_cycle": 2}, {"type": "mesh", "words_per_cycle": 1.5},
        {"type": "eyeriss_v1", "words_per_cycle": 1, "gon_words_per_cycle": 2},
        {"type": "eyeriss_v2", "cluster_rows": 2, "cluster_cols": 2}]


def tiny_arch(noc: dict, glb_kb: float = 0.25, rf: dict | None = None, dram_gbs: float = 0.5):
    doc = {"version": 1, "name": "tiny", "clock_mhz": 500, "word_bits": 16, "pe_array": {"rows": 4, "cols": 4},
           "glb": {"size_kb": glb_kb, "bandwidth_words_per_cycle": 3},
           "dram": {"bandwidth_gb_per_s": dram_gbs, "latency_cycles": 7}, "noc": noc}
    doc["rf"] = rf if rf is not None else {"ifmap_words": 8, "weight_words": 8, "psum_words": 8}
    return arch_from_dict(doc, "tiny")


def check_invariants(layer, arch, m):
    c = count(layer, m)
    sim = examine(layer, arch, m, c, arch.dataflow, simulate_layer(layer, arch, m, c))
    ideal = simulate_layer(layer, unlimited(arch), m, c)
    assert ideal.cycles == c.cycles                                   # unlimited bandwidth: exactly ideal
    bound = latency_bound(c, arch)
    assert sim.cycles >= bound * (1 - 1e-9)                           # never below the Eyexam step-6 bound
    # on chip (an ideal DRAM: the processing time the validation compares): no DRAM wait, never slower
    # than with the link, never below its own bound
    on = simulate_layer(layer, arch.on_chip(), m, c)
    assert on.stall_cycles["dram"] == 0
    assert c.cycles <= on.cycles <= sim.cycles
    assert on.cycles >= latency_bound(c, arch.on_chip()) * (1 - 1e-9)
    assert sim.ideal_cycles == c.cycles
    assert set(sim.stall_cycles) == set(STALL_CAUSES)
    assert all(v >= 0 for v in sim.stall_cycles.values())
    assert sum(sim.stall_cycles.values()) == sim.cycles - c.cycles    # every extra cycle has one cause
    assert all(0.0 <= v <= 1.0 for v in sim.busy.values())
    # every DRAM word is on the DRAM channel's timeline (tile fetches, write-backs, bypass words and
    # per-pass GLB tiles' refills): its busy time covers the words at its bandwidth
    dram_words = sum(c.reads[L_DRAM]) + sum(c.writes[L_DRAM])
    if arch.dram_words_per_cycle != float("inf") and sim.cycles:
        assert sim.busy["dram"] >= min(1.0, dram_words / arch.dram_words_per_cycle / sim.cycles) - 1e-9
    assert [s.step for s in sim.eyexam] == list(range(1, 8))
    return sim


@settings(max_examples=60)
@given(st.data())
def test_invariants_random_layers_and_mappings(data):
    layer = data.draw(small_layers())
    m = data.draw(mappings(layer))
    m = replace(m, glb_pass=tuple(k and data.draw(st.booleans()) for k in m.glb_keep))   # per-pass GLB tiles too
    noc = data.draw(st.sampled_from(NOCS))
    glb_kb = data.draw(st.sampled_from([0.05, 0.25, 4.0]))
    check_invariants(layer, tiny_arch(noc, glb_kb), m)


@pytest.mark.parametrize("cfg", ["eyeriss_v1", "eyeriss_v2_flat", "eyeriss_v1_flat192", "isca16/ws", "isca16/nlr",
                                 "isca16/os_moc_mop", "eyeriss_like_65nm"])
def test_invariants_shipped_configs(cfg):
    arch = load_arch(cfg)
    flow = registry.get(arch.dataflow)
    for layer in load_workload("mobilenet_v1", 1).layers[:4] + load_workload("alexnet", 2).layers[4:6]:
        check_invariants(layer, arch, flow.named(layer, arch))


def _brute_passes(layer: Layer, m: Mapping) -> int:
    """Valid iterations of the temporal loops above the RFs, by enumeration (base index < D per dim)."""
    from accelsim.cost.nest import build_nest

    nest = build_nest(m)
    temporal = [lp for lp in nest.loops[:nest.rf_cut] if not lp.spatial]
    total = 0
    for digits in itertools.product(*[range(lp.factor) for lp in temporal]):
        base = [0] * 8
        for lp, dg in zip(temporal, digits):
            base[lp.dim] += dg * lp.span
        total += all(b < D for b, D in zip(base, layer.dims))
    return total


@settings(max_examples=80)
@given(st.data())
def test_pass_traffic_sums_to_the_cost_model(data):
    """The words the simulated passes move, summed over classes, are the analytical counts (per-pass
    GLB tiles included: their refills move inside the tiles)."""
    layer = data.draw(small_layers())
    m = data.draw(mappings(layer))
    m = replace(m, glb_pass=tuple(k and data.draw(st.booleans()) for k in m.glb_keep))
    c = count(layer, m)
    sched = schedule(layer, m, c)
    assert sched.total_passes == sum(sched.passes) == _brute_passes(layer, m)
    total = dict.fromkeys(CATEGORIES, 0)
    for h in sched.hops:
        for cat in CATEGORIES:
            assert all(v >= 0 for v in h.by_class[cat])
            assert sum(h.by_class[cat]) == h.totals[cat]
            total[cat] += h.totals[cat]
    assert total["dram_read"] == sum(c.reads[L_DRAM])
    assert total["dram_write"] == sum(c.writes[L_DRAM])
    assert total["glb"] == sum(c.reads[L_GLB]) + sum(c.writes[L_GLB])
    assert total["delivered_in"] + total["delivered_out"] == sum(c.reads[L_NOC]) + sum(c.writes[L_NOC])
    assert total["unique_in"] + total["unique_out"] == sum(c.noc_transfers)


def test_hand_computed_single_tile():
    """A 1x1 conv, C=K=4 on 4x4 outputs, one GLB tile (no DRAM loops): rows K4, cols Q4, RF C4, GLB P4.
    DRAM 2 GB/s at 1 GHz with 16-bit words = 1 word/cycle, latency 10; GLB 8 words/cycle; bus 4 words/cycle.

    Counts: DRAM reads 64 ifmap + 16 weights = 80, DRAM writes 64 outputs; ideal 4 passes x 4 C steps = 16.
    Unlimited GLB and NoC: fetch 80 + latency 10, compute 16, write back 64 -> 170 cycles.
    Finite: per pass the GLB moves ifmap 16 + psum out 16 + a quarter of the 144 fill/write-back words (36),
    plus the weights 16 in the first pass: 84 / 8 = 10.5 cycles for the first, 68 / 8 = 8.5 for the other
    three, each above its 4 compute cycles (GLB stalls 6.5 + 3 x 4.5 = 20); bus: 16 words / 4 = 4 cycles
    per stream, so the pipeline fill and drain are each 1 latency + min(4 compute, 4 delivery) = 5.
    Total 90 + 10.5 + 3 x 8.5 + 10 + 64 = 200 cycles.
    """
    doc = {"version": 1, "name": "hand", "clock_mhz": 1000, "word_bits": 16, "pe_array": {"rows": 4, "cols": 4},
           "rf": {"ifmap_words": 4, "weight_words": 4, "psum_words": 4},
           "glb": {"size_kb": 64, "bandwidth_words_per_cycle": 8},
           "dram": {"bandwidth_gb_per_s": 2.0, "latency_cycles": 10}, "noc": {"type": "bus", "words_per_cycle": 4}}
    arch = arch_from_dict(doc, "hand")
    layer = Layer("l", N=1, C=4, K=4, H=4, W=4, R=1, S=1)

    def f(**kw):
        v = [1] * 8
        for k, x in kw.items():
            v[DIMS.index(k)] = x
        return tuple(v)

    m = Mapping((f(), f(P=4), f(K=4), f(Q=4), f(C=4)), (tuple(range(8)),) * 3, (True,) * 3, (True,) * 3)
    r = evaluate(layer, arch, m)
    assert (sum(r.counts.reads[L_DRAM]), sum(r.counts.writes[L_DRAM]), r.counts.cycles) == (80, 64, 16)
    fast_chip = replace(arch, glb=replace(arch.glb, bandwidth_words_per_cycle=float("inf")),
                        noc=replace(arch.noc, params=(("latency_cycles", 0), ("words_per_cycle", float("inf")))))
    s = simulate_layer(layer, fast_chip, m, r.counts)
    assert s.cycles == 80 + 10 + 16 + 64
    assert s.stall_cycles == {"dram": 154, "glb": 0, "noc": 0, "fill_drain": 0}
    s = simulate_layer(layer, arch, m, r.counts)
    assert s.cycles == 200
    assert s.stall_cycles == {"dram": 154, "glb": 20, "noc": 0, "fill_drain": 10}


def test_deterministic_and_pure():
    arch = load_arch("eyeriss_v1")
    layer = load_workload("alexnet", 4).layers[2]
    m = registry.get("rs").named(layer, arch)
    c = count(layer, m)
    a = simulate_layer(layer, arch, m, c)
    b = simulate_layer(layer, arch, m, c)
    assert a == b and a.extra_fields() == b.extra_fields()


def test_resnet50_simulates_in_seconds_with_bounded_events():
    arch = load_arch("eyeriss_v1")
    flow = registry.get("rs")
    start = time.perf_counter()
    for layer in load_workload("resnet50", 1).layers:
        m = flow.named(layer, arch)
        sim = simulate_layer(layer, arch, m, count(layer, m))
        # DRAM chunks of the whole layer plus a few events per block
        assert sim.blocks <= engine.MAX_BLOCKS
        assert sim.events <= engine.CHUNKS_PER_LAYER + 4 * engine.MAX_BLOCKS
    assert time.perf_counter() - start < 30


def test_trace_npz(tmp_path):
    arch = load_arch("eyeriss_v1")
    layer = load_workload("alexnet", 1).layers[0]
    m = registry.get("rs").named(layer, arch)
    sim = simulate_layer(layer, arch, m, count(layer, m), trace=True)
    path = save_trace(sim, tmp_path / "trace.npz")
    data = np.load(path)
    res, start, end = data["resource"], data["start"], data["end"]
    assert len(res) == len(start) == len(end) > 0
    assert np.all(end >= start) and start.min() >= 0 and end.max() <= sim.cycles + 1
    dram = np.argsort(start[res != "array"])
    s, e = start[res != "array"][dram], end[res != "array"][dram]
    assert np.all(s[1:] >= e[:-1] - 1e-6)            # one DRAM channel: transfers never overlap
    busy = (e - s).sum() / sim.cycles
    assert busy == pytest.approx(sim.busy["dram"], rel=1e-6)


def test_stats_json_has_stalls_and_eyexam(capsys):
    assert main(["run", "eyeriss_v1", "--layers", "1-2", "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["simulated"] is True
    for layer in doc["layers"]:
        assert set(layer["stall_cycles"]) == {"dram", "glb", "noc", "fill_drain"}
        assert layer["cycles"] == layer["ideal_cycles"] + sum(layer["stall_cycles"].values())
        steps = layer["eyexam"]
        assert [s["step"] for s in steps] == list(range(1, 8))
        assert set(steps[0]) == {"step", "name", "macs_per_cycle", "limited_by"}
        assert steps[-1]["macs_per_cycle"] == pytest.approx(layer["macs"] / layer["cycles"])
    t = doc["totals"]
    assert t["latency_ms"] == pytest.approx(t["cycles"] / (doc["clock_mhz"] * 1e3))
    assert main(["run", "eyeriss_v1", "--layers", "1", "--json", "-q", "--no-sim"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["simulated"] is False and "stall_cycles" not in doc["layers"][0]


def test_fold_sums_count_partial_folds():
    """A 40 x 48 x 100 GEMM on a 32 x 32 output-stationary array folds into 2 x 2 = 4 folds using
    32 + 32 + 8 + 8 = 80 rows and 32 + 16 + 32 + 16 = 96 columns in all."""
    arch = load_arch("systolic_32x32_os")
    from workloads.layer import gemm

    layer = gemm("g", 40, 48, 100)
    m = registry.get("os_moc_mop").named(layer, arch)
    sched = schedule(layer, m, count(layer, m))
    stat = min((h for h in sched.hops if h.kind == "deliver"), key=lambda h: h.trigger)
    assert stat.tensor == "psum"
    assert _fold_sums(sched, stat.trigger) == (4, 80, 96)


def test_on_chip_time_is_not_the_cycles_minus_the_dram_stalls():
    """AlexNet FC6 (batch 4) on eyeriss_v1 with the RS named mapping: on the 0.72 GB/s link it waits for
    DRAM almost all the time, and the cycles minus those DRAM stalls (what the validation once took for
    processing time) leave out that its 9216 x 4096 weights still cross the 64-bit filter GIN (4 words
    per cycle) once: simulated with an ideal DRAM it takes at least 37,748,736 / 4 cycles."""
    arch = load_arch("eyeriss_v1")
    layer = next(x for x in load_workload("alexnet", 4).layers if x.name == "FC6")
    m = registry.get("rs").named(layer, arch)
    c = count(layer, m)
    linked, on = simulate_layer(layer, arch, m, c), simulate_layer(layer, arch.on_chip(), m, c)
    gin = dict(arch.noc.params)["words_per_cycle"]
    assert gin == 4 and layer.weight_elems == 9216 * 4096
    assert on.cycles >= layer.weight_elems / gin
    assert linked.cycles - linked.stall_cycles["dram"] < on.cycles / 5
