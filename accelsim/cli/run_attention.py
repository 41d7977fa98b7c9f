"""`accelsim run ARCH -w TRANSFORMER --dataflow unfused|flat|fusemax [--search]`: a transformer, node by
node, with a named attention dataflow (accelsim.attention.block); the GEMMs under the named mapping or,
with --search, the general mapper's. Called by cmd_run."""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.errors import ConfigError


def transformer_spec(args: argparse.Namespace):
    from accelsim.attention.transformer import DECODE, PREFILL, PRESETS, preset

    mode = DECODE if args.decode else PREFILL
    if args.cache_len is not None and not args.decode:
        raise ConfigError("--cache-len is the KV cache of a decode run: add --decode")
    name = args.workload
    if name not in PRESETS:
        raise ConfigError(f"--dataflow {args.dataflow} is an attention dataflow: it runs a transformer "
                          f"({', '.join(PRESETS)} or a transformer .onnx), got workload {name!r}")
    return preset(name, seq=args.seq, batch=args.batch, mode=mode, cache=args.cache_len, heads=args.heads,
                  head_size=args.head_size, width=args.width, ffn=args.ffn)


def summary(result) -> dict:
    """Totals and per-node-kind rows (summed over layers) of a BlockResult; energy: the run's one
    energy sum (``result.energy``, every node's action table priced once) per component and per
    (component, tensor, action), and per node row."""
    m = result.machine
    rows: dict[str, dict] = {}
    for n in result.nodes:
        key = n.name.split("_", 1)[1] if result.spec is not None else n.name
        r = rows.setdefault(key, {"node": key, "kind": n.kind, "macs": 0, "ops": 0, "dram_words": 0,
                                  "cycles": 0, "ideal_cycles": 0, "energy_pj": 0.0, "limit": n.limit})
        r["macs"] += n.macs
        r["ops"] += sum(v for (_, op), v in n.ops.items() if op != "mac")
        r["dram_words"] += n.dram_words
        r["cycles"] += n.cycles
        r["ideal_cycles"] += n.ideal_cycles
        r["energy_pj"] += n.energy_pj
        if n.plan is not None:
            r["plan"] = n.plan.describe()
    sp = result.spec
    doc = {"schema": "accelsim.transformer/1", "arch": m.name, "workload": result.name,
           "dataflow": result.dataflow, "gemm_mapping": result.mapping}
    if sp is not None:
        doc.update({"mode": sp.mode, "layers": sp.layers, "batch": sp.batch, "queries": sp.queries, "keys": sp.keys})
    doc.update({"macs": result.macs, "dram_words": result.dram_words, "cycles": result.cycles,
                "ideal_gemm_cycles": result.ideal_cycles, "array_utilization": result.utilization,
                "ops": {f"{u}.{op}": v for (u, op), v in sorted(result.ops().items())},
                "nodes": list(rows.values())})
    e = result.energy
    if e is not None:
        doc["energy_pj"] = e.total_pj
        doc["energy_pj_by_component"] = e.by_component()
        doc["energy_pj_by_action"] = {f"{c}.{r}.{a}": pj for c, r, a, n, _, pj in e.rows if n}
        doc["action_counts"] = {f"{c}.{r}.{a}": n for c, r, a, n, _, _ in e.rows if n}
    if m.clock_mhz is not None:
        doc["latency_ms"] = result.cycles / (m.clock_mhz * 1e3)
    return doc


def table(doc: dict, word_bits: int) -> str:
    shape = (f" ({doc['mode']}, {doc['layers']} layers, batch {doc['batch']}, M={doc['queries']} queries x "
             f"L={doc['keys']} keys)" if "mode" in doc else "")
    lines = [f"{doc['workload']}{shape} on {doc['arch']}, attention dataflow {doc['dataflow']}, GEMMs mapped: "
             f"{doc['gemm_mapping']}",
             f"{'node':12} {'kind':20} {'MACs':>14} {'non-MAC ops':>13} {'DRAM MB':>9} {'cycles':>11} "
             f"{'energy uJ':>11} limit"]
    for r in doc["nodes"]:
        lines.append(f"{r['node']:12} {r['kind']:20} {r['macs']:>14,} {r['ops']:>13,} "
                     f"{r['dram_words'] * word_bits / 8e6:9.2f} {r['cycles']:>11,} {r['energy_pj'] / 1e6:11,.2f} "
                     f"{r['limit']}")
    for r in doc["nodes"]:
        if "plan" in r:
            lines.append(plan_line(r["node"], r["plan"]))
    tail = f"total: {doc['macs']:,} MACs, {doc['dram_words'] * word_bits / 8e9:.4f} GB DRAM, {doc['cycles']:,} cycles"
    if "latency_ms" in doc:
        tail += f" = {doc['latency_ms']:.4f} ms"
    lines.append(tail + f", array utilization {doc['array_utilization']:.1%}")
    ideal = doc["ideal_gemm_cycles"]
    lines.append(f"with every GEMM at its ideal cost (compulsory DRAM words, all units busy): {ideal:,} cycles; "
                 f"the mapped GEMMs add {doc['cycles'] / ideal - 1:+.1%}")
    if "energy_pj" in doc:
        parts = ", ".join(f"{c} {pj / 1e6:,.2f}" for c, pj in doc["energy_pj_by_component"].items())
        lines.append(f"energy: {doc['energy_pj'] / 1e6:,.3f} uJ ({parts} uJ)")
    return "\n".join(lines)


def plan_line(node: str, p: dict) -> str:
    """One line: the tiling an attention node's dataflow used (``model.Plan.describe``) and, when it is
    not what the FLAT setting asked, why."""
    on = ", ".join(p["onchip"]) or "none"
    kv = ("off chip (streamed per array pass)" if not {"K", "V"} & set(p["onchip"]) else
          "resident per head" if p["kv_resident"] else "streamed per row tile")
    line = (f"{node} plan: granularity {p['granularity']}, {p['rows_per_tile']:,} query rows per tile, key tile "
            f"{p['key_tile']:,}, K/V {kv}, "
            f"on chip: {on} (+ the scores), {p['buffer_words']:,} words")
    if len(p["onchip"]) < 4:            # the off-chip tensors stream once per array pass
        line += f", array passes {p['pass_rows']:,} x {p['pass_cols']:,}"
    return line + (f"; fallback: {p['fallback']}" if p["fallback"] else "")


def run_attention(args: argparse.Namespace) -> int:
    from accelsim.attention.block import run_network
    from accelsim.hierarchy import load_architecture

    for flag, given in (("--mapping", args.mapping), ("--layers", args.layers),
                        ("--refine", args.refine), ("--buffers", args.buffers)):
        if given:
            raise ConfigError(f"{flag} is not available with an attention dataflow ({args.dataflow}): the "
                              "transformer runs its named dataflow node by node")
    h = load_architecture(args.arch)
    search = None
    if args.search:
        from accelsim.mapper.search import SearchSpec

        search = SearchSpec(args.objective, args.search_budget, args.seed, args.time_limit)
    if args.workload.lower().endswith(".onnx"):
        from pathlib import Path

        from accelsim.attention.block import run_nodes
        from accelsim.attention.onnx_import import nodes_from_onnx

        for flag, given in (("--seq", args.seq), ("--decode", args.decode), ("--cache-len", args.cache_len),
                            ("--batch", args.batch), ("--heads", args.heads), ("--head-size", args.head_size),
                            ("--width", args.width), ("--ffn", args.ffn)):
            if given:
                raise ConfigError(f"{flag} cannot change an ONNX transformer: its shapes fix batch, M, L, heads and "
                                  "widths",
                                  source=args.workload)
        result = run_nodes(h, nodes_from_onnx(args.workload), args.dataflow, Path(args.workload).stem,
                           search=search)
    else:
        result = run_network(h, transformer_spec(args), args.dataflow, search)
    doc = summary(result)
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        from accelsim.atomic import output_dir, write_all

        out = output_dir(args.out)
        write_all({out / "stats.json": text})
    if args.json:
        sys.stdout.write(text)
    else:
        print(table(doc, h.word_bits))
    return 0
