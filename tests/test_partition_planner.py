"""CoDL's search and the baselines: chains never lose to the per-operator plan, the ideal split with
free sharing is max(CPU, GPU) balanced, sharing is paid only at chain ends, and the baselines are what
they say they are."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.partition.planner import plan_codl, plan_cpu_only, plan_gpu_only, plan_mulayer, plan_per_op
from accelsim.partition.report import run, to_dict
from accelsim.partition.segment import Device, chain_segment, op_segment
from accelsim.partition.soc import load_soc, soc_from_dict
from accelsim.partition.timeline import events
from workloads.layer import Layer, LayerKind, Workload, conv, fc
from workloads.loader import load_workload

SOCS = ("sd855", "sd865", "sd888", "kirin990")


def _device(name: str) -> Device:
    return Device.of(load_soc(name))


def _random_stack(seed: int) -> Workload:
    """A seeded stack of convolutions and pools that chain along H, with a few FC layers at the end."""
    rng = np.random.default_rng(seed)
    H = int(rng.choice([56, 80, 112, 160]))
    C = 3
    layers = []
    for i in range(int(rng.integers(6, 14))):
        if H > 8 and rng.random() < 0.2:
            layers.append(Layer(f"pool{i}", kind=LayerKind.POOL, C=C, K=C, H=H, W=H, R=2, S=2,
                                stride_h=2, stride_w=2))
            H //= 2
            continue
        K = int(rng.choice([16, 32, 64, 128, 256]))
        R = int(rng.choice([1, 3, 3, 5]))
        stride = 2 if (H > 16 and rng.random() < 0.15) else 1
        layer = conv(f"conv{i}", C=C, K=K, H=H, R=R, stride=stride, pad=R // 2)
        layers.append(layer)
        C, H = K, layer.P
    layers.append(fc("fc", C=C, K=int(rng.choice([10, 1000])), H=H))
    return Workload(f"stack{seed}", tuple(layers))


@pytest.mark.parametrize("soc", SOCS)
@pytest.mark.parametrize("seed", range(6))
def test_chain_search_never_slower_than_best_per_operator_plan(soc, seed):
    device = _device(soc)
    workload = _random_stack(seed)
    chained = plan_codl(device, workload)
    per_op = plan_per_op(device, workload)
    assert chained.latency_ms <= per_op.latency_ms + 1e-9
    assert [op.layer for s in chained.segments for op in s.ops] == [l.name for l in workload.layers]


@pytest.mark.parametrize("soc", SOCS)
def test_codl_beats_or_ties_every_single_processor_and_mulayer_on_alexnet(soc):
    result = run(load_soc(soc), load_workload("alexnet"))
    lat = result.latency_ms()
    assert lat["codl"] <= lat["codl_no_chains"] + 1e-9
    assert lat["codl"] <= lat["gpu_only"] + 1e-9          # GPU-only is in CoDL's search space
    assert lat["codl"] <= lat["cpu_only"] + 1e-9          # so is the whole network on the CPU
    assert lat["codl"] <= lat["mulayer"] + 1e-9           # and every OC split muLayer can pick


@pytest.mark.parametrize("soc", SOCS)
@pytest.mark.parametrize("network", ["mobilenet_v2", "googlenet", "shufflenet_1x_g3", "mobilenet_v1_05_128"])
def test_codl_never_slower_than_either_processor_alone(soc, network):
    """Networks of small operators, where per-operator data sharing costs more than co-execution wins:
    before the whole-network CPU fallback, CoDL planned Kirin 990's MobileNet v2 at 31.74 ms against 16.36 ms
    on the CPU alone."""
    result = run(load_soc(soc), load_workload(network))
    lat = result.latency_ms()
    assert lat["codl"] <= min(lat["cpu_only"], lat["gpu_only"]) + 1e-9
    assert lat["codl"] <= lat["codl_no_chains"] + 1e-9


def test_the_cpu_alone_fallback_is_the_cpu_only_plan_where_the_cpu_wins():
    """On Kirin 990 the Mali runs MobileNet v2 2.3x slower than the CPU and every co-executed operator pays
    its sharing: the plan is the CPU-only plan, operator by operator, with nothing shared."""
    device = _device("kirin990")
    w = load_workload("mobilenet_v2")
    codl, cpu = plan_codl(device, w), plan_cpu_only(device, w)
    assert codl.segments == cpu.segments and codl.name == "codl"
    assert codl.sharing_ms == 0.0
    assert all(op.tenths == 10 for seg in codl.segments for op in seg.ops)
    assert plan_gpu_only(device, w).latency_ms > 2 * codl.latency_ms
    assert run(load_soc("kirin990"), w).cpu_alone
    assert not run(load_soc("sd855"), w).cpu_alone       # on the SD855 the GPU alone is fastest (14.50 ms)


def _toy_soc(cpu_ns: float, gpu_ns: float, sharing_ms: float = 0.0):
    """Single-core processors whose item is one output element, 1 item per block and unit, and whose
    basic unit costs ``ns * red``: the time of a part is exactly (outputs * red * ns)."""
    one = {"item": {"oc": 1, "h": 1, "w": 1}, "block": 1, "unit": 1}
    cpu_k = {k: {**one, "t_unit_ns": {"red": cpu_ns}} for k in
             ("direct", "general", "gemm", "depthwise", "gemv", "pool", "eltwise")}
    cpu_k["winograd_f2"] = {"item": {"oc": 1, "h": 2, "w": 2}, "t_unit_ns": {"red": cpu_ns}}
    cpu_k["winograd_f6"] = {"item": {"oc": 1, "h": 6, "w": 6}, "t_unit_ns": {"red": cpu_ns}}
    gpu_k = {k: {**one, "t_unit_ns": {"red": gpu_ns}} for k in ("direct", "depthwise", "gemv", "pool", "eltwise")}
    doc = {
        "name": "toy",
        "cpu": {"name": "c", "cores": 1, "freq_ghz": 1.0, "simd_width": 1, "fma_pipes": 1, "kernels": cpu_k},
        "gpu": {"name": "g", "compute_units": 1, "wave_size": 1, "max_work_group_size": 1, "freq_ghz": 1.0,
                "fp32_lanes": 1, "kernels": gpu_k},
        "memory": {"bandwidth_gbs": 10.0},
        "sharing": {"transform": {"intercept_ms": sharing_ms, "ms_per_mb": 0.0},
                    "map": {"intercept_ms": 0.0, "ms_per_mb": 0.0}, "presync_ms": 0.0},
    }
    return soc_from_dict(doc, "toy.yaml")


def test_zero_sharing_coexecution_is_max_of_the_ideal_split():
    """CPU 3 ns, GPU 2 ns per output per reduction element. A 3x3 conv with 10 output channels and
    10 output rows (C=2, 12x12 input, no padding -> 10x10 output): red = 18, so CPU-only = 100*10*18*3 ns
    = 54 us and GPU-only = 36 us. The ideal continuous CPU share r solves 54 r = 36 (1 - r): r = 0.4,
    on CoDL's 0.1 grid and exact on 10 channels or rows, so co-execution takes max(0.4*54, 0.6*36) us
    = 21.6 us = 54*36/(54+36), whichever dimension is chosen."""
    device = Device.of(_toy_soc(3.0, 2.0))
    layer = conv("c", C=2, K=10, H=12, R=3)
    assert (layer.P, layer.Q) == (10, 10)
    workload = Workload("one", (layer,))
    assert plan_cpu_only(device, workload).latency_ms == pytest.approx(0.054)
    assert plan_gpu_only(device, workload).latency_ms == pytest.approx(0.036)
    plan = plan_codl(device, workload)
    op = plan.segments[0].ops[0]
    assert op.tenths == 4
    assert op.cpu_ms == pytest.approx(0.4 * 0.054) and op.gpu_ms == pytest.approx(0.6 * 0.036)
    assert plan.latency_ms == pytest.approx(max(op.cpu_ms, op.gpu_ms)) == pytest.approx(0.0216)
    assert plan.sharing_ms == 0.0


def test_sharing_cost_moves_work_back_to_the_gpu():
    """Same toy SoC, but every transform costs 1 ms: co-executing saves 36 - 21.6 = 14.4 us, far less
    than the 2 ms of sharing in and out, so the plan runs on the GPU alone."""
    device = Device.of(_toy_soc(3.0, 2.0, sharing_ms=1.0))
    plan = plan_codl(device, Workload("one", (conv("c", C=2, K=10, H=12, R=3),)))
    assert plan.segments[0].ops[0].tenths == 0
    assert plan.latency_ms == pytest.approx(0.036)


def test_chain_shares_only_at_its_head_and_tail():
    """Three 3x3 pad-1 convs on 14x11 maps, tail split 0.5 on sd855: the CPU's bands are rows
    [0, 9), [0, 8), [0, 7) (test_partition_split). Shared in: the head's input rows [0, 10) (its halo
    row 9 included) x 3 channels x 11 columns x 4 B = 1320 B; shared out: the tail's rows [0, 7) x 3
    channels x 11 x 4 B = 924 B; one pre-sync for the whole chain instead of three."""
    device = _device("sd855")
    layers = [conv("a", C=3, K=4, H=14, W=11, R=3, pad=1), conv("b", C=4, K=5, H=14, W=11, R=3, pad=1),
              conv("c", C=5, K=3, H=14, W=11, R=3, pad=1)]
    seg = chain_segment(device, layers, 5)
    assert (seg.share_in_bytes, seg.share_out_bytes) == (1320, 924)
    s = device.sharing
    assert seg.sharing_ms == pytest.approx(s.presync_ms + s.share_ms(1320) + s.share_ms(924))
    singles = [op_segment(device, l, "H", 5) for l in layers]
    assert sum(x.presync_ms for x in singles) == pytest.approx(3 * s.presync_ms)
    assert seg.compute_ms == pytest.approx(max(seg.cpu_ms, seg.gpu_ms))
    assert [op.redundant_rows for op in seg.ops] == [4, 2, 0]    # overlaps [5,9), [6,8), none


def test_memory_bound_operator_cannot_beat_the_shared_bus():
    """FC 4096 -> 4096 at batch 1 on sd855's spec priors (uncalibrated: each GEMV at the bandwidth
    roofline), split OC 0.5: each processor alone streams its 2048 x 4096
    fp32 weights (33.5 MB) in ~0.98 ms on its bandwidth share, but both together move 4096 x 4096 x 4 B
    of weights + 2 x 16 KiB of input (each part reads all of it) + 2 x 8 KiB of output =
    67,158,016 B over one 34.1 GB/s bus: 1.9694 ms, so the operator takes that long."""
    device = Device.of(load_soc("sd855"), calibrated=False)
    seg = op_segment(device, fc("fc", C=4096, K=4096), "OC", 5)
    op = seg.ops[0]
    assert op.cpu_ms < 1.0 and op.gpu_ms < 1.0
    assert op.dram_ms == pytest.approx(67_158_016 / 34.1e9 * 1e3)
    assert seg.compute_ms == pytest.approx(1.96944, rel=1e-5)
    # a compute-bound convolution has no such floor
    assert op_segment(device, conv("c", C=64, K=64, H=56, R=3, pad=1), "H", 5).ops[0].dram_ms == 0.0


def test_baselines_are_single_processor_or_oc_only():
    device = _device("sd855")
    workload = _random_stack(3)
    cpu = plan_cpu_only(device, workload)
    gpu = plan_gpu_only(device, workload)
    assert cpu.sharing_ms == gpu.sharing_ms == 0.0
    assert cpu.latency_ms == pytest.approx(sum(s.ops[0].cpu_ms for s in cpu.segments))
    assert all(s.ops[0].gpu_ms == 0 for s in cpu.segments) and all(s.ops[0].cpu_ms == 0 for s in gpu.segments)
    mu = plan_mulayer(device, workload)
    assert all(len(s.ops) == 1 for s in mu.segments)                     # a sync after every operator
    assert {s.ops[0].dim for s in mu.segments} <= {"OC", "none"}         # never along H


def test_timeline_is_the_plan_laid_out():
    result = run(load_soc("sd855"), _random_stack(1))
    for plan in result.plans:
        evs = events(plan)
        assert max(e.end_ms for e in evs) == pytest.approx(plan.latency_ms)
        for proc in ("CPU", "GPU"):
            mine = sorted((e for e in evs if e.processor == proc), key=lambda e: e.start_ms)
            assert all(a.end_ms <= b.start_ms + 1e-9 for a, b in zip(mine, mine[1:]))   # no overlap


def test_json_document_has_the_schema():
    doc = to_dict(run(load_soc("sd855"), load_workload("alexnet")), "sd855")
    assert doc["schema"] == "accelsim.partition/1"
    assert set(doc["latency_ms"]) >= {"codl", "cpu_only", "gpu_only", "mulayer"}
    assert [r["layer"] for r in doc["plan"]] == [l.name for l in load_workload("alexnet").layers]
    assert all(set(r) >= {"layer", "dim", "ratio", "chain", "latency_ms"} for r in doc["plan"])
    assert all(0.0 <= r["ratio"] <= 1.0 and r["dim"] in ("OC", "H", "none") for r in doc["plan"])


def test_operators_on_the_gpu_alone_are_not_a_chain():
    """RetinaFace on the SD855: two segments of two operators each run on the GPU alone (p6_down, head_p6_1
    and head_p6_4, head_p6_5): nothing is shared, so no chain is reported for them; Kirin 990's VGG-16 runs
    conv5_1..pool5 on the CPU alone as one segment, which shares data at its ends: a chain."""
    from accelsim.partition.report import plan_rows

    result = run(load_soc("sd855"), load_workload("codl_retinaface"))
    gpu_alone = [s for s in result.codl.segments if len(s.ops) > 1 and all(op.tenths == 0 for op in s.ops)]
    assert [[op.layer for op in s.ops] for s in gpu_alone] == [["p6_down", "head_p6_1"], ["head_p6_4", "head_p6_5"]]
    assert all(s.sharing_ms == 0.0 and not s.is_chain for s in gpu_alone)
    rows = {r["layer"]: r for r in plan_rows(result.codl)}
    assert all(rows[name]["chain"] is None for name in ("p6_down", "head_p6_1", "head_p6_4", "head_p6_5"))
    assert len(result.chains) == sum(1 for s in result.codl.segments if len(s.ops) > 1) - 2
    vgg = run(load_soc("kirin990"), load_workload("codl_vgg16"))
    cpu_alone = [s for s in vgg.codl.segments if len(s.ops) > 1 and all(op.tenths == 10 for op in s.ops)]
    assert [s.ops[0].layer for s in cpu_alone] == ["conv5_1"] and cpu_alone[0].is_chain
    assert cpu_alone[0].presync_ms == 1.0 and cpu_alone[0].share_in_bytes > 0
