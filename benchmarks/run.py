"""Speed and memory benchmarks of accelsim: ``python benchmarks/run.py [--quick]``.

Every case runs in a fresh process several times; the table gives the median, min and max of the
timed seconds, the median CPU seconds and the peak RSS; benchmarks/results.json holds the same
(schema in benchmarks/harness.py). Peers (SCALE-Sim, ZigZag) are compared by benchmarks/peers.py;
pass --peer-python (or set ACCELSIM_PEER_PYTHON) to run them from here too.

Before timing, the packages' bytecode is written (``compileall``), as a user's install has it after
its first run: with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared machine) and no ``__pycache__``,
every process would compile every module it imports again (about 0.12 s CPU of a named run), a cost
no user pays twice. ``--cold`` leaves the bytecode as it is; ``meta.bytecode`` says which.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cases  # noqa: E402
import harness  # noqa: E402
import peers  # noqa: E402

PACKAGES = ("accelsim", "dataflows", "noc", "workloads", "configs")    # pyproject's packages


def compile_sources(root: Path) -> str:
    """Write the bytecode of every package module under ``root`` (what ``meta.bytecode`` reports)."""
    ok = all(compileall.compile_dir(str(root / pkg), quiet=1) for pkg in PACKAGES if (root / pkg).is_dir())
    if not ok:
        raise SystemExit("compileall failed on the accelsim sources")
    return "compiled before timing (compileall)"


def machine_meta(mode: str, wall_s: float, load_before: tuple, load_after: tuple, bytecode: str = "") -> dict:
    return {
        "mode": mode,
        "bytecode": bytecode,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "total_wall_s": round(wall_s, 1),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="accelsim speed and memory benchmarks")
    p.add_argument("--quick", action="store_true",
                   help="fewer repetitions and smaller search budgets (under 3 minutes)")
    p.add_argument("--reps", type=int, help="override the repetitions of every case")
    p.add_argument("--only", help=f"comma-separated case groups: {', '.join(cases.GROUPS)}")
    p.add_argument("--out", default=str(HERE / "results.json"), help="results JSON (default benchmarks/results.json)")
    p.add_argument("--peer-python", default=os.environ.get("ACCELSIM_PEER_PYTHON"),
                   help="python of a separate venv with scalesim / zigzag-dse: also run benchmarks/peers.py "
                        "(default: $ACCELSIM_PEER_PYTHON)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every run")
    p.add_argument("--cold", action="store_true",
                   help="do not write the packages' bytecode first (with PYTHONDONTWRITEBYTECODE set, every "
                        "process then compiles what it imports)")
    a = p.parse_args(argv)
    only = [g.strip() for g in a.only.split(",")] if a.only else None
    if only:
        unknown = [g for g in only if g not in cases.GROUPS]
        if unknown:
            p.error(f"--only: unknown group(s) {unknown}; allowed: {', '.join(cases.GROUPS)}")
    if a.reps is not None and a.reps < 1:
        p.error("--reps must be >= 1")

    mode = "quick" if a.quick else "full"
    plan = cases.PLANS[mode]
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if a.verbose else None
    cwd = HERE.parent
    bytecode = (f"as found (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})" if a.cold
                else compile_sources(cwd))
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows = []
    for group, case, reps, reason in cases.planned(plan, only):
        if case is None:
            rows.append(harness.skipped(group, reason))
            continue
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        rows.extend(harness.run_case(case, a.reps or reps, cwd, log))
    wall = time.perf_counter() - start
    doc = harness.results_doc(rows, machine_meta(mode, wall, load_before, os.getloadavg(), bytecode))
    if a.peer_python:
        doc["peers"] = run_peers(a.peer_python, a.quick)
    else:
        doc["peers"] = {"skipped": ["peers (SCALE-Sim, ZigZag): no --peer-python and no $ACCELSIM_PEER_PYTHON; "
                                    "see docs/performance.md"]}
    harness.write_results(Path(a.out), doc)
    print(harness.table(doc))
    if "error" in doc["peers"]:
        print(f"peers: {doc['peers']['error']}")
    else:
        print(peers.table(doc["peers"]))
    print(f"({mode}; load average before/after: {doc['meta']['loadavg_before'][0]:.2f}/"
          f"{doc['meta']['loadavg_after'][0]:.2f} on {doc['meta']['cpus']} CPUs; {wall:.0f} s; wrote {a.out})")
    return 0


def run_peers(peer_python: str, quick: bool) -> dict:
    """benchmarks/peers.py in this process's environment, its JSON merged into results.json."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peers.json"
        cmd = [sys.executable, str(HERE / "peers.py"), "--peer-python", peer_python, "--json-out", str(out)]
        if quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, text=True, capture_output=True)
        if proc.returncode != 0 or not out.exists():
            return {"error": (proc.stderr.strip().splitlines() or ["peers.py failed"])[-1]}
        return json.loads(out.read_text())


if __name__ == "__main__":
    sys.exit(main())
