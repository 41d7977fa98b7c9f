"""accelsim train-scale: speedup and efficiency of data/model-parallel training on 1..p workers."""

from __future__ import annotations

import argparse
import json

from accelsim.atomic import output_file
from accelsim.cli import Command
from accelsim.errors import ConfigError

DEFAULT_WORKERS = "1,2,4,8,16,32,64,128"
DEFAULT_STRATEGIES = "ps,sharded_ps,tree,async"


def parse_workers(text: str) -> list[int]:
    out = []
    for part in (s.strip() for s in text.split(",")):
        if not part:
            raise ConfigError(f"--workers: empty item in {text!r}; give a comma-separated list such as "
                              f"{DEFAULT_WORKERS}")
        if not part.isdigit() or int(part) < 1 or int(part) > 1_000_000:
            raise ConfigError(f"--workers: {part!r} is not a worker count (an integer 1..1000000); "
                              f"give a comma-separated list such as {DEFAULT_WORKERS}")
        out.append(int(part))
    if not out:
        raise ConfigError(f"--workers: no worker counts in {text!r}")
    return out


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", "-w", required=True, help="zoo network name (googlenet, nin, ...) or a workload file")
    p.add_argument("--workers", default=DEFAULT_WORKERS, help=f"worker counts (default {DEFAULT_WORKERS})")
    p.add_argument("--strategy", default=DEFAULT_STRATEGIES,
                   help="comma-separated strategies: ps, sharded_ps, tree, ring, async, model "
                        f"(default {DEFAULT_STRATEGIES})")
    p.add_argument("--hw", default="k20", help="worker hardware preset or arch (default k20)")
    p.add_argument("--interconnect", default="gemini", help="interconnect preset or YAML file (default gemini)")
    p.add_argument("--batch", type=int, default=1024, help="global batch per iteration (default 1024, FireCaffe's)")
    p.add_argument("--shards", type=int, default=4, help="parameter-server shards for sharded_ps (default 4)")
    p.add_argument("--compute-s", type=float,
                   help="given single-worker compute time per iteration, seconds (default: from the hardware roofline)")
    p.add_argument("--no-staging", action="store_true",
                   help="ignore the interconnect's host link (GPU<->host copies): the plain alpha-beta model")
    p.add_argument("--plot", help="write speedup and efficiency curves to this PNG file")
    p.add_argument("--json", action="store_true", help="print the accelsim.trainscale/1 JSON document")


def _table(result) -> str:
    from accelsim.roofline.hardware import flops_text
    from accelsim.training.compute import parameters, training_macs
    from accelsim.training.strategies import STRATEGIES

    s = result.setup
    net = s.net
    staged = s.staged and net.host_bandwidth is not None
    lines = [
        f"Training scale-out of {s.workload.name}: {parameters(s.workload):,} weights "
        f"({s.gradient_bytes / 1e6:,.1f} MB of fp32 gradient), {2 * training_macs(s.workload) / 1e9:,.2f} GFLOP "
        f"per training image, global batch {s.global_batch}",
    ]
    if s.compute_s is not None:
        lines.append(f"compute: given, {s.compute_s:g} s per iteration on one worker")
    else:
        lines.append(f"compute: {s.hw.name} roofline, training rate {flops_text(s.hw.peak_flops)} "
                     f"= {100 * result.achieved_fraction:.1f}% of its peak, {s.hw.bandwidth / 1e9:g} GB/s"
                     if s.hw.bandwidth else f"compute: {s.hw.name}, bandwidth unlimited")
    lines.append(f"network: {net.name}, {net.bandwidth / 1e9:g} GB/s per link, {net.latency_s * 1e6:g} us latency"
                 + (f", messages staged over {net.host_link} ({net.host_bandwidth / 1e9:g} GB/s) at both ends"
                    if staged else ", no host staging"))
    lines.append("")
    header = ["strategy", "workers", "compute s", "comm s", "iteration s", "speedup", "efficiency", "note"]
    rows = []
    for p in result.points:
        note = (f"stale by up to {p.stale_updates} update{'s' if p.stale_updates > 1 else ''}"
                if p.stale_updates else "")
        if p.strategy == "sharded_ps" and p.workers > 1:
            note = f"{s.shards} shards"
        rows.append([p.strategy, str(p.workers), f"{p.compute_s:.4g}", f"{p.comm_s:.4g}", f"{p.iteration_s:.4g}",
                     f"{p.speedup:.2f}", f"{p.efficiency:.3f}", note])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    lines += [fmt(header), fmt(["-" * w for w in widths])]
    previous = None
    for r in rows:
        if previous is not None and r[0] != previous:
            lines.append("")
        lines.append(fmt(r))
        previous = r[0]
    lines.append("")
    lines += [f"  {name}: {STRATEGIES[name].description}" for name in result.strategies]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.roofline.hardware import load_hardware
    from accelsim.training.interconnect import load_interconnect
    from accelsim.training.scaleout import check_strategies, scale_out, to_dict
    from workloads.loader import load_workload

    workers = parse_workers(args.workers)
    strategies = check_strategies([s.strip() for s in args.strategy.split(",") if s.strip()])
    if args.batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {args.batch}")
    if args.shards < 1:
        raise ConfigError(f"--shards must be >= 1, got {args.shards}")
    if args.compute_s is not None and not args.compute_s > 0:
        raise ConfigError(f"--compute-s must be > 0 seconds, got {args.compute_s:g}")
    if args.plot:
        output_file(args.plot, "--plot")
    workload = load_workload(args.workload)
    hw = load_hardware(args.hw)
    net = load_interconnect(args.interconnect)
    result = scale_out(workload, hw, net, workers, strategies, global_batch=args.batch, shards=args.shards,
                       staged=not args.no_staging, compute_s=args.compute_s)
    if args.plot:
        from accelsim.plots.scaleout import plot_scaleout

        plot_scaleout(result, args.plot)
    if args.json:
        print(json.dumps(to_dict(result), indent=2))
    else:
        print(_table(result))
        if args.plot:
            print(f"\nplot: {args.plot}")
    return 0


COMMAND = Command("train-scale", "speedup of data/model-parallel training on 1..p workers per communication "
                                 "strategy (parameter server, reduction tree, ...)", configure, run)
