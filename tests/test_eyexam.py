"""Eyexam: seven non-increasing bounds per layer, each step computed as reference/eyexam.md says, a
hand-computed array-shape step, and `accelsim explain` printing every step for every layer."""

from __future__ import annotations

import pytest

from accelsim.arch import load_arch
from accelsim.cli import main
from accelsim.cost.bound import latency_bound
from accelsim.cost.model import evaluate
from accelsim.eyexam import STEP_NAMES, examine
from accelsim.eyexam.steps import best_shape
from accelsim.sim import simulate_layer
from dataflows import registry
from workloads.layer import conv
from workloads.loader import load_workload


@pytest.mark.parametrize("cfg", ["eyeriss_v1", "eyeriss_v2_flat"])
def test_seven_steps_follow_their_definitions(cfg):
    arch = load_arch(cfg)
    flow = registry.get(arch.dataflow)
    for layer in load_workload("alexnet", 1).layers:
        r = evaluate(layer, arch, flow.named(layer, arch))
        sim = examine(layer, arch, r.mapping, r.counts, flow.name, simulate_layer(layer, arch, r.mapping, r.counts))
        v = [s.macs_per_cycle for s in sim.eyexam]
        assert [s.step for s in sim.eyexam] == list(range(1, 8))
        assert [s.name for s in sim.eyexam] == list(STEP_NAMES)
        assert all(a >= b for a, b in zip(v, v[1:]))                 # each step only lowers the bound
        assert v[0] == layer.macs                                      # all MACs at once
        spread = 1
        for d in set(flow.dim_ids("rows")) | set(flow.dim_ids("cols")):
            spread *= layer.dims[d]
        assert v[1] == min(layer.macs, spread)
        assert v[2] == pytest.approx(min(v[1], spread / -(-spread // arch.pes)))
        assert v[2] <= arch.pes
        assert v[4] == pytest.approx(min(v[3], layer.macs / r.counts.cycles))
        assert v[5] == pytest.approx(min(v[4], layer.macs / latency_bound(r.counts, arch)))
        assert v[6] == pytest.approx(min(v[5], layer.macs / sim.cycles))
        assert all(s.limited_by for s in sim.eyexam)


def test_array_shape_step_by_hand():
    """Depthwise 3x3 over 112x112 with 32 channels (one per group). RS may spread R/K/C/N on rows and
    P/N/K/Q on columns: on 12 x 14 PEs only R=3 rows fill (K = C = N = 1), and the 14 columns take 14 of
    the 112 output rows (8 folds): 3 x 14 = 42 MACs/cycle. RS+ also spreads groups on the rows:
    R3 x G4 = 12 rows (32 groups in 8 folds), so 12 x 14 = 168."""
    layer = conv("dw", C=32, K=32, H=112, R=3, pad=1, groups=32)
    rs, plus = registry.get("rs"), registry.get("rs_plus")
    v, _, _ = best_shape(layer.dims, rs.dim_ids("rows"), rs.dim_ids("cols"), 12, 14)
    assert v == pytest.approx(42)
    v, _, _ = best_shape(layer.dims, plus.dim_ids("rows"), plus.dim_ids("cols"), 12, 14)
    assert v == pytest.approx(168)


@pytest.mark.parametrize("cfg, flow", [("eyeriss_v1", "rs"), ("eyeriss_v2_flat", "rs_plus")])
def test_explain_prints_seven_steps_for_every_alexnet_layer(cfg, flow, capsys, tmp_path):
    plot = tmp_path / "waterfall.png"
    assert main(["explain", cfg, "-w", "alexnet", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert f"dataflow {flow}" in out
    names = [layer.name for layer in load_workload("alexnet", 1).layers]
    blocks = out.split("\n\n")[1:]
    assert [b.split(":")[0] for b in blocks[:len(names)]] == names
    for block in blocks[:len(names)]:
        lines = block.splitlines()
        steps = [line.split()[0] for line in lines[2:9]]
        assert steps == [str(i) for i in range(1, 8)]
        for name in STEP_NAMES:
            assert name in block
    assert plot.is_file() and plot.stat().st_size > 10_000


def test_explain_bad_layer_is_one_line_error(capsys):
    assert main(["explain", "eyeriss_v1", "-w", "alexnet", "--layer", "CONV9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CONV9" in err
