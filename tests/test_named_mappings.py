"""Every dataflow's named mapping is legal (covers the layer, fits the buffers, obeys its
dataflow) for every layer of every zoo network, and a run's stats.json is reproducible byte for byte."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelsim.arch import load_arch
from accelsim.cost.model import evaluate
from accelsim.legality import problems_of
from accelsim.mapping import COLS, ROWS
from dataflows import registry
from workloads import zoo

ARCH_FOR = {"rs": "isca16/rs", "ws": "isca16/ws", "os": "isca16/os_soc_mop", "os_moc_mop": "isca16/os_moc_mop",
            "os_moc_sop": "isca16/os_moc_sop", "nlr": "isca16/nlr", "is": "systolic_32x32_is"}


@pytest.mark.parametrize("flow", sorted(ARCH_FOR))
@pytest.mark.parametrize("network", ["alexnet", "vgg16", "mobilenet_v2", "resnet50", "bert_base"])
def test_named_mapping_legal(flow, network):
    if flow not in registry.names():
        pytest.skip("dataflow not registered")
    arch = load_arch(ARCH_FOR[flow])
    df = registry.get(flow)
    for layer in zoo.get(network).layers:
        m = df.named(layer, arch)
        assert problems_of(layer, m, arch) == [], (layer.name, problems_of(layer, m, arch))
        for level, allowed in ((ROWS, df.dim_ids("rows")), (COLS, df.dim_ids("cols"))):
            assert all(f == 1 or d in allowed for d, f in enumerate(m.factors[level])), (layer.name, level)
        r = evaluate(layer, arch, m)
        assert r.macs == layer.macs
        assert 0 < r.utilization <= 1


def test_eyeriss_v1_named_rs_runs_every_zoo_network():
    arch = load_arch("eyeriss_v1")
    df = registry.get("rs")
    for name in zoo.names():
        for layer in zoo.get(name).layers:
            assert problems_of(layer, df.named(layer, arch), arch) == [], (name, layer.name)


def test_stats_json_is_byte_identical_across_runs(tmp_path):
    cmd = [sys.executable, "-m", "accelsim", "run", "--search", "--search-budget", "40", "--seed", "7",
           "--layers", "CONV2,FC7", "--no-sim", "-q"]
    for out in ("a", "b"):
        subprocess.run(cmd + ["--out", str(tmp_path / out)], check=True, capture_output=True, timeout=300)
    a = (tmp_path / "a" / "stats.json").read_bytes()
    assert a == (tmp_path / "b" / "stats.json").read_bytes()
    assert b'"seed": 7' in a
