"""Sweeps end to end: the same results on every engine, results equal to direct runs, failing points
recorded while the sweep goes on, {times: k} resolved against each point's arch."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import yaml

from accelsim import report
from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.mapper.search import SearchSpec
from accelsim.pipeline import run
from accelsim.sweep import load_results, load_sweep, run_sweep
from accelsim.sweep.engines import dask_client
from workloads.loader import load_workload

SMALL = {
    "version": 1,
    "name": "small",
    "base": {"arch": "isca16/rs", "workload": "alexnet", "search": {"objective": "energy", "budget": 12, "seed": 5}},
    "axes": [
        {"zip": {"arch": ["isca16/rs", "isca16/ws"], "dataflow": ["rs", "ws"]}},
        {"batch": [1, 2]},
        {"layers": ["CONV5", "FC8"]},
    ],
}


def write(tmp_path, doc, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_same_results_csv_on_every_engine(tmp_path):
    """-j 1 (in process), -j 2 (process pool) and --dask local give byte-identical results.csv."""
    spec = load_sweep(write(tmp_path, SMALL))
    outs = {}
    for name, kwargs in {"serial": {"jobs": 1}, "pool": {"jobs": 2},
                         "dask": {"jobs": 2, "dask": "local"}}.items():
        summary = run_sweep(spec, tmp_path / name, **kwargs)
        assert (summary.total, summary.ok, summary.failed, summary.ran) == (8, 8, 0, 8), name
        outs[name] = (tmp_path / name / "results.csv").read_bytes()
    assert outs["serial"] == outs["pool"] == outs["dask"]


def test_results_equal_a_direct_run_of_each_point(tmp_path):
    """Each row's totals are what `accelsim run` computes for that point's settings."""
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "out")
    table = rows(tmp_path / "out" / "results.csv")
    assert [int(r["point"]) for r in table] == list(range(8))
    for r in table:
        arch = load_arch(r["arch"])
        workload = load_workload("alexnet", int(r["batch"])).select([r["layers"]])
        doc = report.stats(run(arch, workload, None, search_spec=SearchSpec("energy", 12, 5)))
        t = doc["totals"]
        assert r["dataflow"] == doc["dataflow"]
        assert int(r["macs"]) == t["macs"] and int(r["cycles"]) == t["cycles"]
        assert float(r["energy_pj"]) == t["energy_pj"]
        assert float(r["energy_per_mac_pj"]) == t["energy_per_mac_pj"]
        for part in ("mac", "rf", "noc", "glb", "dram"):
            assert float(r[f"energy_{part}_pj"]) == t["energy_breakdown_pj"][part]
        # the by-tensor columns add up to the data-movement energy (everything but the MACs)
        moved = sum(float(r[f"energy_{x}_pj"]) for x in ("ifmap", "weight", "psum"))
        assert moved == pytest.approx(t["energy_pj"] - t["energy_breakdown_pj"]["mac"], rel=1e-12)


def test_times_is_resolved_against_each_points_arch(tmp_path):
    doc = {"version": 1, "name": "times", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"},
           "axes": [{"arch": ["isca16/rs", "isca16/ws"]}, {"glb.size_kb": [{"times": 1}, {"times": 2}]}]}
    run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "out")
    got = [(r["arch"], r["glb.size_kb"]) for r in rows(tmp_path / "out" / "results.csv")]
    # configs/isca16: RS 128 kB, WS 334 kB (reference/eyeriss.md); x2 doubles them
    assert got == [("isca16/rs", "128"), ("isca16/rs", "256"), ("isca16/ws", "334"), ("isca16/ws", "668")]


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    doc = {"version": 1, "name": "fails", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"},
           "axes": [{"pe_array.rows": [16, 0, 8]}, {"batch": [1, 2]}]}
    summary = run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "out")
    assert (summary.total, summary.ok, summary.failed) == (6, 4, 2)
    assert len(summary.reasons) == 1 and summary.reasons[0][1] == 2
    assert "pe_array.rows" in summary.reasons[0][0] and ">= 1" in summary.reasons[0][0]
    table = rows(tmp_path / "out" / "results.csv")
    assert [r["status"] for r in table] == ["ok", "ok", "error", "error", "ok", "ok"]
    bad = table[2]
    assert bad["energy_pj"] == "" and "pe_array.rows" in bad["error"] and "rs.yaml + sweep settings" in bad["error"]
    assert any("2 x " in line for line in summary.lines())


def test_unresolvable_names_fail_before_any_point_runs(tmp_path):
    doc = {**SMALL, "axes": [{"zip": {"arch": ["isca16/rs", "isca16/wss"], "dataflow": ["rs", "ws"]}}]}
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError, match=r"sweep\.yaml.*isca16/wss.*no such architecture"):
        run_sweep(load_sweep(path), tmp_path / "out")
    assert not (tmp_path / "out" / "points.jsonl").exists()
    doc = {**SMALL, "axes": [{"dataflow": ["rs", "rss"]}]}
    with pytest.raises(ConfigError, match=r"unknown dataflow 'rss'"):
        run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "out2")


def test_dask_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)     # `import distributed` -> ImportError
    with pytest.raises(ConfigError, match=r"pip install accelsim\[dask\]"):
        dask_client("local", 1)


def test_results_object_and_records(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "out")
    res = load_results(tmp_path / "out")
    assert res.groups == (("arch", "dataflow"), ("batch",), ("layers",)) and res.sizes == (2, 2, 2)
    ws16 = res.where(dataflow="ws", batch=2)
    assert [r["layers"] for r in ws16.records()] == ["CONV5", "FC8"]
    assert [res.coords(r) for r in ws16.rows] == [(1, 1, 0), (1, 1, 1)]
    first = json.loads((tmp_path / "out" / "points.jsonl").read_text().splitlines()[0])
    assert set(first) == {"point", "key", "status", "axes", "totals", "error", "elapsed_s"}


def test_search_refine_and_constraint_axes(tmp_path):
    """search.refine: true gives the rows `run(..., refine=True)` gives; an arch's constraints can be
    swept like any other key; refine without simulation is a one-line error recorded per point."""
    doc = {"version": 1, "name": "refine",
           "base": {"arch": "eyeriss_v1", "workload": "alexnet", "layers": "CONV3", "simulate": True,
                    "search": {"objective": "edp", "budget": 300, "seed": 1, "refine": True}},
           "axes": [{"constraints.unsplit.dram": [["Q", "R", "S"], ["R", "S"]]}]}    # shipped, then rows may split
    run_sweep(load_sweep(write(tmp_path, doc)), tmp_path / "out")
    table = rows(tmp_path / "out" / "results.csv")
    assert [r["status"] for r in table] == ["ok", "ok"]
    assert [json.loads(r["constraints.unsplit.dram"]) for r in table] == [["Q", "R", "S"], ["R", "S"]]
    workload = load_workload("alexnet", 1).select(["CONV3"])
    direct = report.stats(run(load_arch("eyeriss_v1"), workload, None, search_spec=SearchSpec("edp", 300, 1),
                              simulate=True, refine=True))["totals"]
    assert int(table[0]["cycles"]) == direct["cycles"] and float(table[0]["energy_pj"]) == direct["energy_pj"]
    doc["base"]["simulate"] = False
    run_sweep(load_sweep(write(tmp_path, doc, "s2.yaml")), tmp_path / "out2")
    bad = rows(tmp_path / "out2" / "results.csv")
    assert {r["status"] for r in bad} == {"error"}
    assert all("search.refine re-ranks the search by simulation" in r["error"] for r in bad)
