"""``fuse:`` in sweeps: the network mapper's plan as columns of every point."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.mapper.network import plan_network
from accelsim.sweep.points import points
from accelsim.sweep.spec import sweep_from_dict
from accelsim.sweep.worker import evaluate_point
from workloads.loader import load_workload

WORKLOAD = str(Path(__file__).parent / "data" / "workloads" / "residual_block.yaml")


def test_fuse_columns_equal_the_plan_and_stay_empty_without_fuse():
    spec = sweep_from_dict({"version": 1, "name": "f", "base": {"arch": "eyeriss_v1", "workload": WORKLOAD},
                            "axes": [{"fuse.objective": ["energy", "latency"]}]})
    records = [evaluate_point(p) for p in points(spec)]
    assert [r["status"] for r in records] == ["ok", "ok"]
    arch, w = load_arch("eyeriss_v1"), load_workload(WORKLOAD)
    for r, objective in zip(records, ("energy", "latency")):
        plan = plan_network(w, arch, objective=objective).as_dict()
        t = r["totals"]
        assert (t["fuse_dram_words"], t["fuse_energy_pj"], t["fuse_cycles"]) == (
            plan["dram_words"], plan["energy_pj"], plan["cycles"])
        assert t["fuse_groups"] == sum(g["fused"] for g in plan["groups"]) >= 1
    plain = sweep_from_dict({"version": 1, "name": "p", "base": {"arch": "eyeriss_v1", "workload": WORKLOAD},
                             "axes": [{"batch": [1]}]})
    t = evaluate_point(next(iter(points(plain))))["totals"]
    assert "fuse_dram_words" not in t        # the CSV cell stays empty


def test_fuse_base_section_and_bad_keys():
    spec = sweep_from_dict({"version": 1, "name": "f", "base": {"arch": "eyeriss_v1", "workload": WORKLOAD,
                                                                "fuse": {}}, "axes": [{"batch": [1]}]})
    assert ("fuse.objective", "energy") in next(iter(points(spec))).settings
    with pytest.raises(ConfigError, match=r"unknown sweep key 'fuse.budgett'.*fuse.objective, fuse.budget, fuse.seed"):
        sweep_from_dict({"version": 1, "name": "f", "base": {"arch": "eyeriss_v1", "workload": WORKLOAD},
                         "axes": [{"fuse.budgett": [1]}]})
    no_graph = str(Path(WORKLOAD).parent / "three_layers.yaml")     # no inputs: no graph
    bad = sweep_from_dict({"version": 1, "name": "f", "base": {"arch": "eyeriss_v1", "workload": no_graph,
                                                               "layers": ["conv1"]},
                           "axes": [{"fuse.objective": ["energy"]}]})
    record = evaluate_point(next(iter(points(bad))))
    assert record["status"] == "error" and "carries no graph" in record["error"]
