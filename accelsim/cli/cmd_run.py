"""accelsim run: map, cost and simulate a workload on an architecture; print a per-layer table.

A fixed-shape arch runs through accelsim.pipeline (simulator, Eyexam's seven steps); a level-list
hierarchy (``levels:``) through accelsim.pipeline_hierarchy (the general core; the simulator over
any hierarchy, accelsim.sim.general; ``--no-sim``: cycles are the latency bound)."""

from __future__ import annotations

import argparse
import sys
from typing import cast

from accelsim.atomic import os_error, output_dir
from accelsim.cli import Command
from accelsim.errors import ConfigError

DEFAULT_ARCH = "eyeriss_v1"
DEFAULT_WORKLOAD = "alexnet"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", nargs="?", default=DEFAULT_ARCH,
                   help=f"architecture: a shipped config name (see `accelsim list configs`), a YAML file (fixed "
                        f"shape, or a level list with `levels:`, e.g. hierarchy/simba_like: docs/core.md) or a "
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
    p.add_argument("--fuse", action="store_true",
                   help="also plan fused layer groups over the workload's graph (network mapper, "
                        "docs/fusion.md): groups, tiles and overlap modes for --objective; printed after the "
                        "table and stored in stats.json under 'fusion'")
    p.add_argument("--fuse-budget", type=int, default=20000,
                   help="with --fuse: fused groups scored in all (default 20000)")
    p.add_argument("--counts", choices=("accelsim", "timeloop"), default="accelsim",
                   help="timeloop (level-list hierarchies): also report per-level reads / fills / updates in "
                        "Timeloop's conventions (docs/interop.md)")
    p.add_argument("--sparse", help="sparse features of the design: a shipped preset (configs/sparse: eyeriss_v1, "
                                    "eyeriss_v2, stc_2_4) or a YAML file (docs/sparsity.md)")
    p.add_argument("--density", help="tensor densities over the workload's, e.g. ifmap=0.4,weight=0.35 or weight=2:4 "
                                     "(needs --sparse)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    t = p.add_argument_group("transformers (with --dataflow unfused, flat or fusemax; docs/attention.md)")
    t.add_argument("--seq", type=int, help="sequence length (prefill; default the model's)")
    t.add_argument("--decode", action="store_true", help="decode: one query token per sequence against a KV cache")
    t.add_argument("--cache-len", type=int, help="with --decode: the KV cache length L")
    t.add_argument("--heads", type=int, help="attention heads (default the model's)")
    t.add_argument("--head-size", type=int, help="head size E = F (heads x head size must equal the width)")
    t.add_argument("--width", type=int, help="model width (default the model's)")
    t.add_argument("--ffn", type=int, help="FFN size (default the model's)")


def check_layer_name(path: str, name, workload, full=None) -> None:
    """A --mapping file's key must name a selected layer (``full``: the workload before --layers)."""
    by_name = [layer.name for layer in workload.layers]
    if name not in by_name:
        why = ("is not selected by --layers" if name in {layer.name for layer in (full or workload).layers}
               else f"is not a layer of workload {workload.name!r}")
        raise ConfigError(f"layer {name!r} {why}; selected: {', '.join(by_name)}", source=path, key=str(name))


def load_mappings(path: str, workload, arch, full=None) -> dict:
    """{layer name: Mapping} from a --mapping file for the selected layers of ``workload``; a mapping
    without ``rf.registers`` gets the arch's operand registers (not all three). ``full``: the
    workload before --layers (a layer there but not selected is named as such)."""
    from accelsim.mapping import LEVELS, mapping_from_dict
    from accelsim.yamlio import load_yaml

    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of layer name -> mapping", source=path)
    if set(data) <= set(LEVELS):
        if len(workload.layers) != 1:
            raise ConfigError("a single mapping needs exactly one layer (use --layers) or a {LAYER: mapping} file",
                              source=path)
        data = {workload.layers[0].name: data}
    out = {}
    for name, body in data.items():
        check_layer_name(path, name, workload, full)
        out[name] = mapping_from_dict(body, f"{path}: {name}", arch.pe_array.operand_registers)
    return out


def check_mappings(path: str, mappings: dict, workload, arch) -> None:
    """Each hand-written mapping must run its layer on ``arch``; an error names the file and layer key."""
    from accelsim.legality import check

    for layer in workload.layers:
        if layer.name in mappings:
            check(layer, mappings[layer.name], arch, source=f"{path}: {layer.name}")


def run(args: argparse.Namespace) -> int:
    from accelsim import report
    from accelsim.arch import load_arch
    from accelsim.hierarchy import level_list
    from accelsim.pipeline import run as run_pipeline
    from accelsim.progress import Progress
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    if args.dataflow is not None and _attention_dataflow(args.dataflow):
        from accelsim.cli.run_attention import run_attention

        if args.fuse:
            raise ConfigError(f"--fuse plans fused CNN layer groups; the attention dataflow {args.dataflow!r} "
                              "fuses the attention itself (docs/attention.md)")
        if args.counts == "timeloop":
            raise ConfigError(f"--counts timeloop counts one nest per layer; the attention dataflow {args.dataflow!r} "
                              "runs cascades of them (docs/attention.md)")
        return run_attention(args)
    if args.decode or any(v is not None for v in (args.seq, args.cache_len, args.heads, args.head_size, args.width,
                                                   args.ffn)):
        raise ConfigError("--seq, --decode, --cache-len, --heads, --head-size, --width and --ffn run transformers: "
                          "give --dataflow unfused, flat or "
                          "fusemax")
    hierarchy = level_list(args.arch)
    if hierarchy is not None:
        return run_hierarchy_cli(args, hierarchy)
    if args.counts == "timeloop":
        raise ConfigError(f"--counts timeloop runs on level-list hierarchies; {args.arch!r} is a fixed-shape arch "
                          "(accelsim count converts it: accelsim count ARCH -m NEST.yaml ... --counts timeloop)")
    out = output_dir(args.out) if args.out else None
    arch = load_arch(args.arch)
    if args.buffers:
        from accelsim.interop.scalesim import with_buffers

        arch = with_buffers(arch, args.buffers)
    full = load_workload(args.workload, args.batch)
    workload = select_layers(full, args.layers)
    spec = _search_spec(args)
    mappings = load_mappings(args.mapping, workload, arch, full) if args.mapping else None
    if mappings:
        check_mappings(args.mapping, mappings, workload, arch)
    if spec is not None and mappings and all(layer.name in mappings for layer in workload.layers
                                             if layer.kind.has_macs):
        raise ConfigError("--search has nothing to search: --mapping gives every selected layer's mapping; "
                          "drop --search, or select more layers with --layers")
    simulate = not args.no_sim and _sim_available()
    if args.refine and not (args.search and simulate):
        raise ConfigError("--refine re-ranks a search by simulation: it needs --search and the simulator "
                          "(not --no-sim)")
    sparsity = _sparsity(args)
    bar = Progress.for_terminal(len(workload.layers), "accelsim run", args.quiet or args.json)
    try:
        result = run_pipeline(arch, workload, args.dataflow, search_spec=spec, mappings=mappings,
                              simulate=simulate, refine=args.refine, on_layer=lambda name: bar.advance(note=name),
                              sparsity=sparsity, mapping_file=args.mapping)
    finally:
        bar.close()
    doc = report.stats(result)
    if args.fuse:
        doc["fusion"] = _fusion(args, full, arch)
    removed = []
    if out is not None:
        extra = {}
        if args.format == "scalesim":
            from accelsim.interop.scalesim import REPORTS

            extra = {name: make(result) for name, make in REPORTS.items()}
        written = report.write_outputs(result, doc, out, extra)
        if args.format != "scalesim":   # an earlier scalesim run's reports would not match these results
            from accelsim.interop.scalesim import REPORTS

            for name in REPORTS:
                stale = out / name
                if stale.is_file():
                    try:
                        stale.unlink()
                    except OSError as exc:
                        raise os_error(exc, stale, "cannot remove the stale file") from None
                    removed.append(stale)
    if args.json:
        sys.stdout.write(report.to_json(doc))
    else:
        print(report.table(doc))
        if args.fuse:
            from accelsim.fusion_report import fusion_table

            print()
            print(fusion_table(doc["fusion"]))
        if out is not None:
            print(f"wrote {', '.join(str(p) for p in written)}"
                  + "".join(f"; removed {p} (an earlier --format scalesim run's)" for p in removed))
    return 0


def load_nests(path: str, workload, hierarchy, full=None) -> dict:
    """{layer name: LoopNest} from a --mapping file for a level-list hierarchy: ``{LAYER: [levels]}``,
    or one nest (a list of levels) when exactly one selected layer has MACs, or a run's mapping.txt
    (the Timeloop-style print, read back by ``loopnest.nest_from_text``); each must map its layer on
    ``hierarchy`` (an error names the file and the layer key)."""
    from accelsim.loopnest import check, nest_from_dict, nest_from_text
    from accelsim.report_hierarchy import is_mapping_text, read_mapping_text
    from accelsim.yamlio import load_yaml, read_text

    by_name = {pl.name: pl for pl in workload.layers}
    text = read_text(path)
    if is_mapping_text(text):                            # a run's mapping.txt
        printed = {}
        for name, body in read_mapping_text(text, path).items():
            check_layer_name(path, name, workload, full)
            problem = by_name[name].problem
            if problem is None:
                raise ConfigError(f"layer {name!r} has no MACs: nothing to map", source=path, key=str(name))
            printed[name] = nest_from_text(body, problem, hierarchy, f"{path}: {name}")
            check(problem, hierarchy, printed[name], source=f"{path}: {name}")
        if not printed:
            raise ConfigError("no layer with a loop nest in this mapping.txt", source=path)
        return printed
    data = load_yaml(path)
    if isinstance(data, list):
        mac_layers = [pl.name for pl in workload.layers if pl.problem is not None]
        if len(mac_layers) != 1:
            raise ConfigError(f"a single loop nest needs exactly one layer with MACs (use --layers; selected: "
                              f"{', '.join(mac_layers)}) or a {{LAYER: nest}} file", source=path)
        data = {mac_layers[0]: data}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of layer name -> loop nest (a list of levels)", source=path)
    out = {}
    for name, body in data.items():
        check_layer_name(path, name, workload, full)
        if by_name[name].problem is None:
            raise ConfigError(f"layer {name!r} has no MACs: nothing to map", source=path, key=str(name))
        out[name] = nest_from_dict(body, hierarchy, f"{path}: {name}")
        check(by_name[name].problem, hierarchy, out[name], source=f"{path}: {name}")
    return out


def run_hierarchy_cli(args: argparse.Namespace, hierarchy) -> int:
    """`accelsim run` on a level-list hierarchy (accelsim.pipeline_hierarchy)."""
    from accelsim import report_hierarchy
    from accelsim.pipeline_hierarchy import run_hierarchy
    from accelsim.progress import Progress
    from workloads.layer import Workload
    from workloads.problems import ProblemWorkload, load_problem_workload
    from workloads.selection import select_layers

    for flag, given in (("--buffers", args.buffers),
                        ("--format scalesim", args.format == "scalesim")):
        if given:
            raise ConfigError(f"{flag} runs on fixed-shape archs only; {args.arch!r} is a level-list hierarchy "
                              "(no SCALE-Sim buffers on hierarchies yet)")
    sparsity = _sparsity(args)
    out = output_dir(args.out) if args.out else None
    full = load_problem_workload(args.workload, args.batch)
    workload = cast(ProblemWorkload, select_layers(cast(Workload, full), args.layers))  # the same names/select()
    spec = _search_spec(args)
    nests = load_nests(args.mapping, workload, hierarchy, full) if args.mapping else None
    if spec is not None and nests and all(pl.name in nests for pl in workload.layers if pl.problem is not None):
        raise ConfigError("--search has nothing to search: --mapping gives every selected layer's mapping; "
                          "drop --search, or select more layers with --layers")
    bar = Progress.for_terminal(len(workload.layers), "accelsim run", args.quiet or args.json)
    try:
        result = run_hierarchy(hierarchy, workload, args.dataflow, nests=nests, search_spec=spec,
                               simulate=not args.no_sim and _sim_available(), refine=args.refine,
                               on_layer=lambda name: bar.advance(note=name), sparsity=sparsity,
                               mapping_file=args.mapping)
    finally:
        bar.close()
    doc = report_hierarchy.stats(result)
    if args.fuse:
        from workloads.loader import load_workload

        doc["fusion"] = _fusion(args, load_workload(args.workload, args.batch), hierarchy)
    tl_tables = _timeloop_counts(result, doc) if args.counts == "timeloop" else []
    written = report_hierarchy.write_outputs(result, doc, out) if out is not None else []
    if args.json:
        from accelsim.report import to_json

        sys.stdout.write(to_json(doc))
    else:
        print(report_hierarchy.table(doc))
        for text in tl_tables:
            print(text)
        if args.fuse:
            from accelsim.fusion_report import fusion_table

            print()
            print(fusion_table(doc["fusion"]))
        if out is not None:
            print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _fusion(args: argparse.Namespace, workload, arch) -> dict:
    """The network mapper's plan over the whole graph (``--objective`` cycles is its latency);
    ``arch``: a fixed-shape arch or a level-list hierarchy."""
    from accelsim.mapper.network import plan_network

    if args.layers:
        raise ConfigError("--fuse plans the whole network graph; drop --layers")
    if isinstance(args.fuse_budget, bool) or args.fuse_budget < 1:
        raise ConfigError(f"--fuse-budget must be a positive integer, got {args.fuse_budget}")
    objective = "latency" if args.objective == "cycles" else args.objective
    plan = plan_network(workload, arch, objective=objective, budget=args.fuse_budget, seed=args.seed,
                        dataflow=args.dataflow)
    return plan.as_dict()


def _timeloop_counts(result, doc: dict) -> list[str]:
    """Add each layer's counts in Timeloop's conventions to stats.json (``layers[].timeloop``); the
    printed tables, one per layer with MACs."""
    from accelsim.cost.timeloop_view import timeloop_text, timeloop_view

    texts = []
    entries = {entry["name"]: entry for entry in doc["layers"]}
    for lr in result.layers:
        if lr.nest is None or lr.item.problem is None:
            continue
        rows = timeloop_view(lr.item.problem, result.hierarchy, lr.nest, lr.actions)
        entries[lr.item.name]["timeloop"] = [{"level": r.level, "tensor": r.tensor, "reads": r.reads,
                                              "fills": r.fills, "updates": r.updates} for r in rows]
        texts.append(f"{lr.item.name}: " + timeloop_text(rows, lr.actions.macs, lr.actions.cycles))
    return texts


def _sparsity(args: argparse.Namespace):
    """--sparse / --density as an accelsim.sparse.layer.Sparsity (None: a dense run)."""
    if args.sparse is None:
        if args.density is not None:
            raise ConfigError("--density needs --sparse (the design's formats and gating/skipping: e.g. "
                              "--sparse eyeriss_v1)")
        return None
    from accelsim.sparse.density import parse_cli
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec

    override = tuple(parse_cli(args.density).items()) if args.density is not None else ()
    return Sparsity(load_spec(args.sparse), override)


def _attention_dataflow(name: str) -> bool:
    """An attention dataflow (accelsim.attention.model), imported only when a dataflow is named."""
    from accelsim.attention.model import ATTENTION_DATAFLOWS

    return name in ATTENTION_DATAFLOWS


def _search_spec(args: argparse.Namespace):
    """The SearchSpec of --search (the mapper is imported only when searching), else None."""
    if not args.search:
        return None
    from accelsim.mapper.search import SearchSpec

    return SearchSpec(args.objective, args.search_budget, args.seed, args.time_limit)


def _sim_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("accelsim.sim") is not None


COMMAND = Command("run", "map, cost and simulate a workload on an architecture", configure, run)
