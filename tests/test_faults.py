"""Faults: a killed or terminated ``sweep -j 2`` leaves no process behind (checked PID by PID), and a
full disk or an unwritable output mid-write leaves the previous results whole and exits 2 in one line.

Running as root ignores permission bits, so "unwritable" and "full" are made at the OS call, in
process: the tests replace ``os.write`` / ``os.fsync`` / ``tempfile.mkstemp`` with versions that raise ENOSPC or
EACCES from a chosen call on (this works as any user and on any file system)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.test_reliability import cli, one_line_error

SLOW = {"version": 1, "name": "slow",
        "base": {"arch": "isca16/rs", "workload": "resnet50", "layers": "1-12", "simulate": True},
        "axes": [{"clock_mhz": [100 + i for i in range(20)]}, {"glb.size_kb": [128, 256]}]}


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (pool workers, the multiprocessing resource tracker)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        found = {p for p, pp in parents.items() if pp in frontier and p not in out}
        out |= found
        frontier = found
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"          # a zombie has exited; only its parent's bookkeeping is left


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path, set[int]]:
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(SLOW, sort_keys=False))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "sweep", str(path), "-j", "2", "--out", str(out), "-q"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    points = out / "points.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if points.exists() and points.read_bytes().count(b"\n") >= 1:      # the workers are busy
            break
        time.sleep(0.02)
    kids = _children(proc.pid)
    assert proc.poll() is None, proc.stderr.read().decode()
    return proc, out, kids


def _wait_gone(pids: set[int], seconds: float = 15) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return set()
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_sweep_parent_leaves_no_process_behind(tmp_path, sig):
    proc, out, kids = _start_sweep(tmp_path)
    try:
        assert len(kids) >= 2, kids                  # two pool workers (and the resource tracker)
        os.kill(proc.pid, sig)                       # the parent only: its workers must follow it
        proc.wait(timeout=60)
        left = _wait_gone(kids)
        assert not left, f"still alive after the parent's {sig.name}: {sorted(left)}"
        if sig == signal.SIGTERM:
            err = proc.stderr.read().decode()
            assert proc.returncode == 143 and err.strip() == "accelsim: terminated", (proc.returncode, err)
        else:
            assert proc.returncode == -signal.SIGKILL
        # what was recorded is whole: --resume finishes the sweep with every point exactly once
        lines = (out / "points.jsonl").read_bytes().splitlines()
        assert lines
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)      # clean-up only, after the assertions
        except ProcessLookupError:
            pass


def _fail_fsync_after(monkeypatch, calls: int, code: int = errno.ENOSPC) -> None:
    """os.fsync (every output file is fsynced before it is renamed into place) succeeds ``calls``
    times, then fails like a full disk (ENOSPC surfaces at the flush of delayed allocation)."""
    real = os.fsync
    count = {"n": 0}

    def fsync(fd):
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(code, os.strerror(code))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_during_run_out_keeps_the_previous_files(tmp_path, monkeypatch):
    out = tmp_path / "res"
    assert cli("run", "--layers", "FC8", "--no-sim", "-q", "--out", out, "--format", "scalesim")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"stats.json", "layers.csv", "mapping.txt", "COMPUTE_REPORT.csv"} <= set(before)
    _fail_fsync_after(monkeypatch, 1)          # stats.json is written, then the disk is full
    code, _, err = cli("run", "--layers", "FC7", "--no-sim", "-q", "--out", out, "--format", "scalesim")
    one_line_error(code, err, "cannot write: no space left on the device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before       # no temp file left either


def test_a_full_disk_mid_sweep_keeps_every_record_and_resume_finishes(tmp_path, monkeypatch):
    doc = {"version": 1, "name": "disk", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"},
           "axes": [{"batch": [1, 2, 3, 4]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "o"
    with monkeypatch.context() as m:
        import accelsim.sweep.store as store

        real = os.write
        calls = {"n": 0}

        def write(fd, data):
            calls["n"] += 1
            if calls["n"] > 2:                          # two records land, the third finds the disk full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, data)

        m.setattr(store.os, "write", write)
        code, _, err = cli("sweep", path, "--out", out, "-q")
    one_line_error(code, err, "points.jsonl: cannot append the record (the sweep can be resumed): "
                              "no space left on the device")
    assert len((out / "points.jsonl").read_bytes().splitlines()) == 2
    code, text, err = cli("sweep", path, "--out", out, "-q", "--resume")
    assert code == 0, err
    assert "(2 finished by an earlier run)" in text
    import csv

    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["batch"]) for r in rows] == [1, 2, 3, 4]
    assert [int(r["macs"]) for r in rows] == [b * 4_096_000 for b in (1, 2, 3, 4)]


def test_an_unwritable_results_csv_keeps_the_previous_table(tmp_path, monkeypatch):
    doc = {"version": 1, "name": "ro", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"},
           "axes": [{"batch": [1, 2]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = tmp_path / "o"
    assert cli("sweep", path, "--out", out, "-q")[0] == 0
    before = (out / "results.csv").read_bytes()
    import tempfile

    def refuse(*a, **k):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    one_line_error(*cli("sweep", path, "--out", out, "-q", "--resume")[::2],
                   "results.csv: cannot write: Permission denied")
    assert (out / "results.csv").read_bytes() == before
