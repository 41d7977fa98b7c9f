"""accelsim run: map, cost and simulate a workload on an architecture; print a per-layer table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.cli import Command
from accelsim.errors import ConfigError

DEFAULT_ARCH = "eyeriss_v1"
DEFAULT_WORKLOAD = "alexnet"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", nargs="?", default=DEFAULT_ARCH,
                   help=f"architecture: a shipped config name (see `accelsim list configs`), a YAML file or a "
                        f"SCALE-Sim .cfg (default {DEFAULT_ARCH})")
    p.add_argument("--workload", "-w", default=DEFAULT_WORKLOAD,
                   help=f"zoo network name or a .yaml/.csv/.onnx file (default {DEFAULT_WORKLOAD})")
    p.add_argument("--dataflow", "-d", help="dataflow (default: the arch's); see `accelsim list dataflows`")
    p.add_argument("--batch", "-b", type=int, help="override the batch size N of every layer")
    p.add_argument("--layers", help="layers to run: names and/or 1-based index ranges, e.g. CONV1,CONV3 or 1-5")
    p.add_argument("--search", action="store_true", help="search mappings instead of the dataflow's named mapping")
    p.add_argument("--objective", default="energy", help="search objective: energy, cycles or edp (default energy)")
    p.add_argument("--search-budget", type=int, default=10000, help="mappings scored per layer (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--time-limit", type=float, help="search time limit per layer, seconds")
    p.add_argument("--refine", action="store_true",
                   help="with --search: simulate the mapper's shortlist and keep the best by the objective "
                        "on simulated cycles")
    p.add_argument("--mapping", help="YAML file of hand-written mappings: {LAYER: mapping} (see docs)")
    p.add_argument("--no-sim", action="store_true", help="skip the cycle-approximate simulation")
    p.add_argument("--json", action="store_true", help="print stats.json to stdout instead of the table")
    p.add_argument("--out", help="write stats.json, layers.csv and mapping.txt to this directory")
    p.add_argument("--format", choices=("accelsim", "scalesim"), default="accelsim",
                   help="with --out: also write SCALE-Sim's COMPUTE_REPORT, BANDWIDTH_REPORT and "
                        "DETAILED_ACCESS_REPORT .csv files (scalesim)")
    p.add_argument("--buffers", choices=("tiles", "scalesim"),
                   help="systolic arrays: the GLB's DRAM traffic, overriding the arch's noc.buffers: tiles (the "
                        "mapping's tiles) or scalesim (SCALE-Sim 3.0's double-buffered SRAMs, for its fixed "
                        "scalesim_* mappings; docs/interop.md)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def load_mappings(path: str, workload, arch) -> dict:
    """{layer name: Mapping} from a --mapping file; a mapping without ``rf.registers`` gets the arch's
    operand registers (not all three)."""
    from accelsim.mapping import LEVELS, mapping_from_dict
    from accelsim.yamlio import load_yaml

    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of layer name -> mapping", source=path)
    if set(data) <= set(LEVELS):
        if len(workload.layers) != 1:
            raise ConfigError("a single mapping needs exactly one layer (use --layers) or a {LAYER: mapping} file",
                              source=path)
        return {workload.layers[0].name: mapping_from_dict(data, path, arch.pe_array.operand_registers)}
    names = {layer.name for layer in workload.layers}
    out = {}
    for name, body in data.items():
        if name not in names:
            raise ConfigError(f"no layer {name!r} in workload {workload.name!r}", source=path, key=str(name))
        out[name] = mapping_from_dict(body, f"{path}: {name}", arch.pe_array.operand_registers)
    return out


def run(args: argparse.Namespace) -> int:
    from accelsim import report
    from accelsim.arch import load_arch
    from accelsim.mapper.search import SearchSpec
    from accelsim.pipeline import run as run_pipeline
    from accelsim.progress import Progress
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    arch = load_arch(args.arch)
    if args.buffers:
        from accelsim.interop.scalesim import with_buffers

        arch = with_buffers(arch, args.buffers)
    workload = select_layers(load_workload(args.workload, args.batch), args.layers)
    spec = SearchSpec(args.objective, args.search_budget, args.seed, args.time_limit) if args.search else None
    mappings = load_mappings(args.mapping, workload, arch) if args.mapping else None
    simulate = not args.no_sim and _sim_available()
    if args.refine and not (args.search and simulate):
        raise ConfigError("--refine re-ranks a search by simulation: it needs --search and the simulator "
                          "(not --no-sim)")
    bar = Progress.for_terminal(len(workload.layers), "accelsim run", args.quiet or args.json)
    try:
        result = run_pipeline(arch, workload, args.dataflow, search_spec=spec, mappings=mappings,
                              simulate=simulate, refine=args.refine, on_layer=lambda name: bar.advance(note=name))
    finally:
        bar.close()
    doc = report.stats(result)
    if args.out:
        out = Path(args.out)
        written = report.write_outputs(result, doc, out)
        if args.format == "scalesim":
            from accelsim.interop.scalesim import REPORTS

            for name, make in REPORTS.items():
                report.write_atomic(out / name, make(result))
                written.append(out / name)
    if args.json:
        sys.stdout.write(report.to_json(doc))
    else:
        print(report.table(doc))
        if args.out:
            print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _sim_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("accelsim.sim") is not None


COMMAND = Command("run", "map, cost and simulate a workload on an architecture", configure, run)
