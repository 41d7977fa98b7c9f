"""accelsim explain: the seven Eyexam steps per layer, MACs/cycle and the reason for each loss."""

from __future__ import annotations

import argparse
from pathlib import Path

from accelsim.atomic import output_file
from accelsim.cli import Command
from accelsim.errors import ConfigError

DEFAULT_WORKLOAD = "alexnet"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="architecture: a shipped config name (see `accelsim list configs`) or a YAML file")
    p.add_argument("--workload", "-w", default=DEFAULT_WORKLOAD,
                   help=f"zoo network name or a .yaml/.csv/.onnx file (default {DEFAULT_WORKLOAD})")
    p.add_argument("--layer", "-l", help="layers: names and/or 1-based index ranges, e.g. CONV1,CONV3 or 1-5 "
                                         "(default: every layer with MACs)")
    p.add_argument("--dataflow", "-d", help="dataflow (default: the arch's); see `accelsim list dataflows`")
    p.add_argument("--batch", "-b", type=int, help="override the batch size N of every layer")
    p.add_argument("--search", action="store_true", help="search mappings instead of the dataflow's named mapping")
    p.add_argument("--objective", default="energy", help="search objective: energy, cycles or edp (default energy)")
    p.add_argument("--search-budget", type=int, default=1500, help="mappings scored per layer (default 1500)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--plot", help="write the waterfall plot(s) to this file (.png or .svg)")
    p.add_argument("--sparse", help="also show what the design's sparse features save at each step (a preset in "
                                    "configs/sparse or a YAML file; docs/sparsity.md)")
    p.add_argument("--density", help="with --sparse: densities over the workload's, e.g. ifmap=0.4,weight=0.35")


def explain(arch, workload, dataflow: str, spec=None, sparsity=None) -> list[tuple]:
    """(layer, LayerResult, SimResult) per MAC layer, simulated with the Eyexam steps. With
    ``sparsity``, the mapping is the one ``accelsim run --sparse`` takes: fit by compressed size
    (a named one: ``mapper.sparse_fit``; a searched one: the search with sparsity)."""
    from accelsim.cost.model import evaluate
    from accelsim.eyexam import examine
    from accelsim.mapper.search import search
    from accelsim.sim import simulate_layer
    from dataflows import registry

    flow = registry.get(dataflow)
    out = []
    for layer in workload.layers:
        if not layer.kind.has_macs:
            continue
        if flow.view is not None:          # the layer as the dataflow's array computes it (SCALE-Sim: im2col)
            layer = flow.view(layer)
        models = None if sparsity is None else sparsity.models(workload, layer.name)
        if spec is not None:
            if models is not None:
                from accelsim.mapper.sparse_rank import search_sparse

                found = search_sparse(layer, arch, flow, spec, sparsity.spec, models)
            else:
                found = search(layer, arch, flow, spec)
            m, result = found.mapping, found.result
        else:
            m = flow.named(layer, arch)
            if models is not None:
                from accelsim.mapper.sparse_fit import fit_fixed

                m = fit_fixed(layer, arch, m, sparsity.spec, models, flow.name)
            result = evaluate(layer, arch, m)
        sim = examine(layer, arch, m, result.counts, flow.name, simulate_layer(layer, arch, m, result.counts))
        out.append((layer, result, sim))
    return out


def sparse_steps(layer, arch, result, sim, sl, sparse_sim) -> list[tuple[float, str] | None]:
    """(dense MACs per cycle, what limits it) at each Eyexam step with the sparse view ``sl``: steps 1-4
    (shape) are unchanged (None: no reason of their own); step 5 divides by the sparse ideal cycles
    (skipping: it may exceed step 4, which counts one dense MAC per PE per cycle); step 6 is the latency
    bound over the compressed words (``accelsim.sparse.layer.bandwidth_counts``), limited by the largest
    of the sparse bound's parts (``eyexam.steps.bandwidth_reason`` on the sparse counts; "no loss" when
    it is the compute part); step 7 the same schedule simulated on those counts (``sparse_sim``,
    ``sim.simulate_sparse``, as ``accelsim run --sparse`` simulates it). Each step is at most the
    one before, as the dense steps."""
    from accelsim.cost.bound import latency_bound
    from accelsim.eyexam.steps import bandwidth_reason, sim_reason
    from accelsim.sparse.layer import bandwidth_counts

    out: list[tuple[float, str] | None] = [None] * 4
    macs = result.macs
    v5 = macs / sl.actions.cycles if sl.actions.cycles else 0.0    # skipping may beat step 4's dense bound
    out.append((v5, f"{sl.actions.cycles:,.0f} ideal cycles with skipping and load imbalance"))
    counts = bandwidth_counts(sl)
    bound = latency_bound(counts, arch)
    v6 = macs / bound if bound else 0.0
    step6 = (v6, bandwidth_reason(counts, arch)) if v6 < v5 * (1 - 1e-12) else (v5, "no loss")
    v7 = macs / sparse_sim.cycles if sparse_sim.cycles else 0.0
    out += [step6, (v7, sim_reason(sparse_sim)) if v7 < step6[0] * (1 - 1e-12) else (step6[0], "no loss")]
    return out


def sparse_saved(result, sl) -> str:
    """One line: what the sparse view ``sl`` saved on the layer beyond throughput (MACs, energy, DRAM
    words, ideal cycles), against the dense figures of the same mapping."""
    a = sl.actions
    dram = a.totals("dram")
    dense_dram = sum(sum(v.values()) for v in result.counts.as_dict()["dram"].values())
    sparse_dram = dram["data"] + dram["metadata"]

    def pct(new: float, old: float) -> str:
        return f"{new / old - 1:+.1%}" if old else "-"

    return (f"  sparsity saved: effective MACs {a.effective_macs:,.0f} of {a.macs:,} (gated {a.gated_macs:,.0f}, "
            f"skipped {a.skipped_macs:,.0f}); energy {sl.dense_energy_pj / 1e6:,.1f} -> {sl.energy_pj / 1e6:,.1f} uJ "
            f"({pct(sl.energy_pj, sl.dense_energy_pj)}); DRAM words {dense_dram:,.0f} -> {sparse_dram:,.0f} "
            f"({pct(sparse_dram, dense_dram)}, metadata {dram['metadata']:,.0f}); ideal cycles "
            f"{a.dense_cycles:,} -> {a.cycles:,.0f} ({pct(a.cycles, a.dense_cycles)})")


def format_layer(layer, result, sim, pes: int, describe=None, sparse: list | None = None) -> str:
    """The layer's step table; with ``sparse`` (:func:`sparse_steps`) the sparse MACs per cycle, the factor
    saved, and after the dense reason what limits the sparse value where it has its own (steps 5-7)."""
    lines = [f"{layer.name}: {layer.describe()}  |  {result.macs:,} MACs, mapping {result.mapping.compact()}"]
    head: tuple[str, ...] = ("step", "constraint", "MACs/cycle", "% of PEs", "limited by")
    if sparse is not None:
        head = head[:4] + ("sparse", "saved") + head[4:]
    rows = []
    for i, s in enumerate(sim.eyexam):
        row: tuple[str, ...] = (str(s.step), s.name, f"{s.macs_per_cycle:,.1f}",
                                f"{100 * s.macs_per_cycle / pes:.1f}" if s.macs_per_cycle <= 10 * pes else ">999")
        why = s.limited_by
        if sparse is not None:
            own = sparse[i]
            v = own[0] if own is not None else s.macs_per_cycle       # steps 1-4: the shape, unchanged
            row += (f"{v:,.1f}", f"{v / s.macs_per_cycle:.2f}x" if s.macs_per_cycle else "-")
            if own is not None:
                why += f" | sparse: {own[1]}"
        rows.append(row + (why,))
    n = len(head) - 1
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(n)]
    fmt = lambda r: "  ".join([r[0].rjust(widths[0]), r[1].ljust(widths[1])]
                              + [r[i].rjust(widths[i]) for i in range(2, n)] + [r[n]])
    lines.append("  " + fmt(head))
    lines += ["  " + fmt(r) for r in rows]
    own = describe(layer, result.mapping) if describe is not None else None
    if own:
        lines.append(f"  {own}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.arch import load_arch
    from accelsim.mapper.search import SearchSpec
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    if args.plot:
        output_file(args.plot, "--plot")
        if Path(args.plot).suffix.lower() not in ("", ".png", ".svg"):
            raise ConfigError(f"--plot {args.plot}: unknown file type {Path(args.plot).suffix!r}; allowed: .png, "
                              f".svg (none: both)")
    arch = load_arch(args.arch)
    workload = select_layers(load_workload(args.workload, args.batch), args.layer)
    spec = SearchSpec(args.objective, args.search_budget, args.seed) if args.search else None
    dataflow = args.dataflow or arch.dataflow
    from accelsim.cli.cmd_run import _sparsity

    sparsity = _sparsity(args)
    found = explain(arch, workload, dataflow, spec, sparsity)
    print(f"Eyexam | {arch.name} ({arch.pe_array.rows}x{arch.pe_array.cols} = {arch.pes} PEs, "
          f"{arch.clock_mhz:g} MHz) | {workload.name} batch {workload.layers[0].N} | dataflow {dataflow} | "
          + ("searched" if spec else "named") + " mappings")
    from dataflows import registry

    describe = registry.get(dataflow).describe_mapping
    if sparsity is not None:
        from accelsim.sim import simulate_sparse
        from accelsim.sparse.layer import sparse_layer

        print(f"sparse: {sparsity.spec.describe()}; 'sparse' = dense MACs per cycle with it (steps 1-4: the "
              f"shape, unchanged; 5: skipping; 6: compressed traffic; 7: the same schedule simulated on the "
              f"sparse counts), 'limited by' after '| sparse:' what limits it")
    for layer, result, sim in found:
        sp = None
        if sparsity is not None:
            models = sparsity.models(workload, layer.name)
            sl = sparse_layer(layer, arch, result.mapping, sparsity.spec, models)
            sparse_sim = simulate_sparse(layer, arch, result.mapping, sl, sparsity.spec, models)
            sp = sparse_steps(layer, arch, result, sim, sl, sparse_sim)
        print()
        print(format_layer(layer, result, sim, arch.pes, describe, sp))
        if sparsity is not None:
            print(sparse_saved(result, sl))
    if args.plot:
        from accelsim.plots.waterfall import save_waterfall

        title = f"Eyexam | {arch.name} ({arch.pes} PEs) | {workload.name} batch {workload.layers[0].N} | {dataflow}"
        written = save_waterfall([(layer.name, sim.eyexam) for layer, _, sim in found], arch.pes, title, args.plot)
        print()
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


COMMAND = Command("explain", "the seven Eyexam steps per layer: MACs/cycle and what limits each", configure, run)
