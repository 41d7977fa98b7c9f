"""Sweeps survive being killed: SIGKILL at a random moment then --resume ends with every point exactly
once; a half-written last line is cut off and its point re-run; damage elsewhere, a changed sweep
file and a second writer are refused; the parent's memory does not grow with the number of points."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc

import pytest
import yaml

from accelsim import report
from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.pipeline import run
from accelsim.sweep import load_sweep, run_sweep
from accelsim.sweep.store import Store
from tests.conftest import REPO
from workloads.loader import load_workload


def write(tmp_path, doc, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def csv_rows(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


SLOW = {  # 40 simulated points of ~0.1 s each (pure Python: no JIT warm-up in the workers): seconds of work
    "version": 1, "name": "slow",
    "base": {"arch": "isca16/rs", "workload": "resnet50", "layers": "1-12", "simulate": True},
    "axes": [{"clock_mhz": [100 + i for i in range(20)]}, {"glb.size_kb": [128, 256]}],
}


def test_sigkill_at_a_random_moment_then_resume_gives_every_point_once(tmp_path):
    path = write(tmp_path, SLOW)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(path), "-j", "2", "--out", str(out), "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    points = out / "points.jsonl"
    # the moment: after a seeded random number of finished points (so it lands mid-sweep on a fast
    # or a slow machine alike), wherever the workers and the writer happen to be at that instant
    target = random.Random(20240611).randint(2, 15)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if points.exists() and points.read_bytes().count(b"\n") >= target:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)                             # the parent and its pool workers
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    before = points.read_bytes().count(b"\n")
    assert target <= before < 40, f"the kill after {target} points should land mid-sweep; {before} were done"

    resumed = subprocess.run(cmd + ["--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({before} finished by an earlier run)" in resumed.stdout or "cut off" in resumed.stdout

    records = jsonl(points)
    assert sorted(r["point"] for r in records) == list(range(40))     # each point exactly once
    assert all(r["status"] == "ok" for r in records)
    table = csv_rows(out / "results.csv")
    assert [int(r["point"]) for r in table] == list(range(40)) and all(r["status"] == "ok" for r in table)
    # spot-check three points against a direct, simulated run of their settings
    from dataclasses import replace

    base = load_arch("isca16/rs")
    workload = load_workload("resnet50").select([layer.name for layer in load_workload("resnet50").layers[:12]])
    for r in (table[0], table[23], table[39]):
        arch = replace(base, clock_mhz=float(r["clock_mhz"]), glb=replace(base.glb, size_kb=float(r["glb.size_kb"])))
        doc = report.stats(run(arch, workload, None, simulate=True))
        assert int(r["cycles"]) == doc["totals"]["cycles"] and float(r["energy_pj"]) == doc["totals"]["energy_pj"]


SMALL = {"version": 1, "name": "small", "base": {"arch": "isca16/rs", "workload": "alexnet"},
         "axes": [{"batch": [1, 2, 3]}, {"layers": ["CONV5", "FC7", "FC8"]}]}


def test_half_written_last_line_is_cut_off_and_its_point_rerun(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "done")
    complete = (tmp_path / "done" / "points.jsonl").read_bytes()
    lines = complete.splitlines(keepends=True)
    assert len(lines) == 9
    # a kill during the 7th write: 6 whole lines and 40 bytes of the 7th, no newline
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sweep.json").write_bytes((tmp_path / "done" / "sweep.json").read_bytes())
    (tmp_path / "out" / "points.jsonl").write_bytes(b"".join(lines[:6]) + lines[6][:40])
    summary = run_sweep(spec, tmp_path / "out", resume=True)
    assert summary.cut_partial_line and summary.previously_done == 6 and summary.ran == 3
    records = jsonl(tmp_path / "out" / "points.jsonl")                # every line parses again
    assert sorted(r["point"] for r in records) == list(range(9))
    assert (tmp_path / "out" / "results.csv").read_bytes() == (tmp_path / "done" / "results.csv").read_bytes()


def test_a_complete_but_newline_less_last_line_also_reruns(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "out")
    p = tmp_path / "out" / "points.jsonl"
    p.write_bytes(p.read_bytes()[:-1])                                # the final "\n" never made it
    summary = run_sweep(spec, tmp_path / "out", resume=True)
    assert summary.cut_partial_line and summary.ran == 1
    assert sorted(r["point"] for r in jsonl(p)) == list(range(9))


def test_damage_before_the_last_line_is_refused(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "out")
    p = tmp_path / "out" / "points.jsonl"
    lines = p.read_bytes().splitlines(keepends=True)
    p.write_bytes(b"".join(lines[:3]) + b"{not json\n" + b"".join(lines[3:]))
    with pytest.raises(ConfigError, match=r"points\.jsonl: line 4 is not a JSON record"):
        run_sweep(spec, tmp_path / "out", resume=True)


def test_resume_refuses_a_changed_sweep_and_fresh_runs_refuse_a_used_dir(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    run_sweep(spec, tmp_path / "out")
    with pytest.raises(ConfigError, match="already holds a sweep; use --resume"):
        run_sweep(spec, tmp_path / "out")
    changed = load_sweep(write(tmp_path, {**SMALL, "axes": [{"batch": [1, 2, 4]}]}, "changed.yaml"))
    with pytest.raises(ConfigError, match="holds a different sweep"):
        run_sweep(changed, tmp_path / "out", resume=True)


def test_a_second_writer_is_locked_out(tmp_path):
    spec = load_sweep(write(tmp_path, SMALL))
    with Store(tmp_path / "out") as first:
        first.open(spec, resume=False)
        with pytest.raises(ConfigError, match="another sweep is writing this directory"):
            run_sweep(spec, tmp_path / "out", resume=True)
    run_sweep(spec, tmp_path / "out", resume=True)                   # released: now it runs
    assert len(jsonl(tmp_path / "out" / "points.jsonl")) == 9


BLOB = 32 * 1024     # bytes of padding per record: a record far bigger than any bookkeeping per point


def _fake_evaluate(p):
    """A stand-in for evaluate_point: a full-width record plus 32 kB of payload, no cost model, so the
    core's caches do not blur the measurement of what the parent keeps."""
    from accelsim.sweep.points import label
    from accelsim.sweep.worker import TOTAL_COLUMNS

    return {"point": p.index, "key": p.key, "status": "ok", "axes": {k: label(v) for k, v in p.axes},
            "totals": {c: p.index + 0.5 for c in TOTAL_COLUMNS}, "error": None, "elapsed_s": 0.0,
            "blob": "x" * BLOB}


def _peak(tmp_path, n: int, tag: str) -> int:
    doc = {"version": 1, "name": f"mem{n}", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"},
           "axes": [{"batch": list(range(1, n + 1))}]}
    spec = load_sweep(write(tmp_path, doc, f"{tag}.yaml"))
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    summary = run_sweep(spec, tmp_path / tag)
    _, peak = tracemalloc.get_traced_memory()
    assert summary.ok == n and len(jsonl(tmp_path / tag / "points.jsonl")) == n
    return peak - base


def test_parent_memory_does_not_grow_with_the_number_of_points(tmp_path, monkeypatch):
    """Results stream to disk: a 200-point sweep peaks within 10 records of a 20-point one.

    Each record carries 32 kB, so a parent that kept the records (or the stats behind them) would
    peak 180 x 32 kB = 5.8 MB higher on the larger sweep; the bound allows 10 x 32 kB for the
    per-point bookkeeping (a set of done points, one file offset per point)."""
    import accelsim.sweep.engines as engines

    monkeypatch.setattr(engines, "evaluate_point", _fake_evaluate)
    tracemalloc.start()
    try:
        _peak(tmp_path, 20, "warm")
        small = _peak(tmp_path, 20, "small")
        large = _peak(tmp_path, 200, "large")
    finally:
        tracemalloc.stop()
    assert large - small < 10 * BLOB, (small, large)
    table = csv_rows(tmp_path / "large" / "results.csv")
    assert [int(r["point"]) for r in table] == list(range(200))
    assert [float(r["energy_pj"]) for r in table] == [i + 0.5 for i in range(200)]
