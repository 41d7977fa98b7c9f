"""Fusion plots: the traffic-per-layer data and `accelsim plot` on a `run --fuse --out` directory."""

from __future__ import annotations

import json
import subprocess
import sys

from accelsim.arch import load_arch
from accelsim.mapper.network import plan_network, tradeoff
from accelsim.plots.fusion import plot_capacity_tradeoff, plot_fusion_traffic, traffic_per_layer
from workloads import zoo


def test_traffic_per_layer_sums_to_the_plan(tmp_path):
    plan = plan_network(zoo.get("mobilenet_v1"), load_arch("eyeriss_v1"), budget=2000).as_dict()
    rows = traffic_per_layer(plan)
    assert [n for n, _, _ in rows] == [n.name for n in zoo.get("mobilenet_v1").graph.nodes]
    assert sum(f for _, _, f in rows) == plan["dram_words"]
    assert sum(a for _, a, _ in rows) == plan["layer_by_layer"]["dram_words"]
    for g in plan["groups"]:
        if not g["fused"]:        # a lone node: the same traffic as alone
            (n,) = g["layers"]
            assert dict((r[0], r[1:]) for r in rows)[n] == (g["dram_words"],) * 2
    assert plot_fusion_traffic(plan, tmp_path / "t.svg").read_text().startswith("<?xml")


def test_tradeoff_curve_keep_never_rereads(tmp_path):
    graph = zoo.get("vgg16").graph
    points = tradeoff(("conv1_1", "conv1_2", "pool1"), graph)
    keep = [p for p in points if p["mode"] == "keep"]
    # keep: block input + output once at every tile: 3x224x224 + 64x112x112
    assert {p["feature_map_words"] for p in keep} == {3 * 224 * 224 + 64 * 112 * 112}
    rec = sorted((p["rows"], p["feature_map_words"]) for p in points if p["mode"] == "recompute" and p["cols"] == 0)
    assert all(a[1] >= b[1] for a, b in zip(rec, rec[1:]))          # bigger tiles re-read less
    assert plot_capacity_tradeoff(points, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_plot_draws_the_fusion_traffic(tmp_path):
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "accelsim", "run", "eyeriss_v1", "-w", "mobilenet_v1", "--no-sim",
                          "-q", "--fuse", "--fuse-budget", "2000", "--out", str(out)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "fusion" in json.loads((out / "stats.json").read_text())
    proc = subprocess.run([sys.executable, "-m", "accelsim", "plot", str(out), "--format", "png"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "plots" / "fusion_traffic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
