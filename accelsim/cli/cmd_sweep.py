"""accelsim sweep: run a sweep file's points (locally or on Dask), streaming each result to disk."""

from __future__ import annotations

import argparse
import os
import sys

from accelsim.cli import Command
from accelsim.errors import ConfigError
from accelsim.limits import max_jobs


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="a sweep YAML file, or a shipped sweep name (isca16_dataflows, array_shape)")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="worker processes (default 1: in this process); with --dask local, the cluster's workers")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the points on a dask.distributed scheduler at ADDRESS (tcp://host:8786), or `local` "
                        "to start a LocalCluster of -j workers (needs: pip install accelsim[dask])")
    p.add_argument("--out", help="output directory (default out/sweeps/<sweep name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted sweep in --out: skip every point already recorded")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from accelsim.progress import Progress
    from accelsim.sweep import load_sweep, run_sweep

    limit = max_jobs()
    if not 1 <= args.jobs <= limit:
        raise ConfigError(f"-j/--jobs must be 1..{limit} (this machine's {os.cpu_count() or 1} CPUs, at least 2), "
                          f"got {args.jobs}")
    spec = load_sweep(args.sweep)
    out = Path(args.out) if args.out else Path("out") / "sweeps" / spec.name
    bar: list[Progress] = []

    def on_start(todo: int) -> None:
        bar.append(Progress.for_terminal(todo, f"sweep {spec.name}", args.quiet))

    def on_record(record: dict) -> None:
        bar[0].advance(note=f"point {record['point']} {record['status']}")

    try:
        summary = run_sweep(spec, out, jobs=args.jobs, dask=args.dask, resume=args.resume,
                            on_start=on_start, on_record=on_record)
    finally:
        if bar:
            bar[0].close()
    for line in summary.lines():
        print(line)
    sys.stdout.flush()
    if summary.failed:
        # a point fails only on a bad value of a swept key (names and key paths were checked up front):
        # bad input, so status 2 and one stderr line; the sweep still ran every other point
        print(f"accelsim: error: {args.sweep}: {summary.failed} point(s) failed on their settings; the error "
              f"column of {out / 'results.csv'} says why", file=sys.stderr)
        return 2
    return 0


COMMAND = Command("sweep", "run a sweep over architectures, dataflows, workloads and batch sizes", configure, run)
