"""Where the time goes: cProfile of `accelsim run` and of the mapper, and `-X importtime` of startup.

    python benchmarks/hotspots.py [--top 15] [--budget 300]

Prints, per scenario, the functions with the most own time (tottime) and the import-time tree's
heaviest modules for `python -X importtime -m accelsim --help` and for a named-dataflow run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def profile_call(fn, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total = sum(v[2] for v in stats.stats.values())        # tottime summed = the profiled time
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    body = text[text.find("   ncalls"):] if "   ncalls" in text else text
    return f"profiled {total:.2f} s\n" + body.rstrip()


def scenario_run(simulate: bool, workload: str = "alexnet"):
    def go() -> None:
        from accelsim import report
        from accelsim.arch import load_arch
        from accelsim.pipeline import run
        from workloads.loader import load_workload

        result = run(load_arch("eyeriss_v1"), load_workload(workload), "rs", simulate=simulate)
        report.table(report.stats(result))
    return go


def scenario_search(budget: int):
    def go() -> None:
        from accelsim.arch import load_arch
        from accelsim.mapper.search import SearchSpec, search
        from dataflows import registry
        from workloads.loader import load_workload

        arch = load_arch("isca16/rs")
        flow = registry.get("rs")
        for layer in load_workload("alexnet").select(["CONV1", "CONV2", "CONV3", "CONV4", "CONV5"]).layers:
            search(layer, arch, flow, SearchSpec("energy", budget, 0))
    return go


def warm_imports() -> None:
    """Import what the scenarios use first, so the profiles show the work, not the imports."""
    import importlib

    for name in ("accelsim.report", "accelsim.arch", "accelsim.pipeline", "accelsim.mapper.search",
                 "dataflows.registry", "workloads.loader", "accelsim.sim"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_times(args: list[str], top: int) -> str:
    """`python -X importtime ARGS`: total and the top-level packages by cumulative microseconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    # top-level entries (indent 1) partition the whole import time
    top_level = [(cum, name) for _self, cum, indent, name in rows if indent == 1]
    total = sum(c for c, _ in top_level)
    lines = [f"python -X importtime {' '.join(args)}: {total / 1e3:.0f} ms of imports"]
    for cum, name in sorted(top_level, reverse=True)[:top]:
        lines.append(f"  {cum / 1e3:8.1f} ms  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--budget", type=int, default=300, help="search budget per layer for the mapper profile")
    a = p.parse_args(argv)
    print(import_times(["-m", "accelsim", "--help"], a.top))
    print()
    print(import_times(["-m", "accelsim", "run", "eyeriss_v1", "-w", "alexnet", "-d", "rs", "--no-sim", "-q"], a.top))
    warm_imports()
    for title, fn in (("accelsim run alexnet rs --no-sim (in-process)", scenario_run(False)),
                      ("accelsim run alexnet rs with simulation (in-process)", scenario_run(True)),
                      (f"mapper search alexnet CONV1-5 rs, budget {a.budget}", scenario_search(a.budget))):
        print(f"\n== {title}")
        print(profile_call(fn, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
