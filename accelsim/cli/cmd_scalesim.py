"""accelsim scalesim: a SCALE-Sim experiment (.cfg + topology) with SCALE-Sim's numbers and what it lacks.

One run of SCALE-Sim's fixed mapping (the ``scalesim_*`` dataflow the .cfg names, with SCALE-Sim's
double-buffered SRAMs: ``buffers: scalesim``) gives the numbers SCALE-Sim 3.0 prints (Total Cycles,
mapping efficiency, SRAM and DRAM words); on the same run accelsim
adds what SCALE-Sim does not give:

- energy per level (MAC, RF, array NoC, GLB = the SRAMs, DRAM) with the normalized table (the .cfg
  default) and with a shipped pJ table (``--table``, default accelergy_65nm: 65 nm, 8-bit data, as
  SCALE-Sim's 1-byte words);
- EDP = energy (normalized, pJ) x Total Cycles;
- the Eyexam bound: MACs / Eyexam step 6's MACs per cycle (the tightest bound before the simulation
  itself: shape, dataflow, PEs, array dimensions, storage, average bandwidth), and the step that
  last lowered it;
- depthwise layers as one layer (SCALE-Sim's topology splits a ``DP`` layer into one-channel layers);
- the mapper's best mapping on the same array, SRAM and timing convention: a search (objective EDP)
  over mappings of the convolution itself (not its im2col GEMM) in the matching accelsim dataflow
  (OS -> os_moc_mop, WS -> ws, IS -> is), simulated; gain = SCALE-Sim mapping's EDP / the best's.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from itertools import pairwise

from accelsim.cli import Command

# SCALE-Sim dataflow -> the accelsim dataflow that maps the convolution itself the same way round
CONV_DATAFLOW = {"scalesim_os": "os_moc_mop", "scalesim_ws": "ws", "scalesim_is": "is"}
DEFAULT_TABLE = "accelergy_65nm"
PARTS = ("mac", "rf", "noc", "glb", "dram")
BOUND_STEP = 6          # Eyexam steps 1-6 are bounds; step 7 is the simulation itself


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("cfg", help="SCALE-Sim architecture .cfg")
    p.add_argument("--workload", "-w", required=True, help="SCALE-Sim topology .csv (or any workload accelsim reads)")
    p.add_argument("--layers", help="layers to run: names and/or 1-based index ranges")
    p.add_argument("--table", default=DEFAULT_TABLE, help=f"shipped energy table beside the normalized one "
                                                          f"(default {DEFAULT_TABLE})")
    p.add_argument("--search-budget", type=int, default=2000, help="mappings the mapper scores per layer (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--no-search", action="store_true", help="skip the mapper's best mapping")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")


def compare(arch, workload, table: str = DEFAULT_TABLE, budget: int = 2000, seed: int = 0,
            search: bool = True) -> dict:
    """Per layer: SCALE-Sim's numbers (its fixed mapping) and what SCALE-Sim lacks (see module doc)."""
    from accelsim.energy import PRESETS
    from accelsim.errors import ConfigError
    from accelsim.interop.scalesim import (
        ACCESS_COLUMNS,
        access_rows,
        compute_report_rows,
        with_buffers,
    )
    from accelsim.mapper.search import SearchSpec
    from accelsim.pipeline import run

    if arch.dataflow not in CONV_DATAFLOW:
        raise ConfigError(f"arch {arch.name!r} uses dataflow {arch.dataflow!r}; expected a SCALE-Sim .cfg "
                          f"(dataflow one of {', '.join(CONV_DATAFLOW)})")
    if table not in PRESETS:
        raise ConfigError(f"--table: unknown energy table {table!r}; allowed: {', '.join(PRESETS)}")
    search_arch = arch
    arch = with_buffers(arch, "scalesim")          # SCALE-Sim's DRAM traffic for its own mapping
    fixed = run(arch, workload, None, simulate=True)
    shipped_arch = replace(arch, energy_preset=table, energy=PRESETS[table](arch.word_bits, arch.glb.size_kb))
    shipped = run(shipped_arch, workload, None, simulate=False)
    best = None
    if search:
        best = run(search_arch, workload, CONV_DATAFLOW[arch.dataflow], search_spec=SearchSpec("edp", budget, seed),
                   simulate=True)
    layers = []
    rows = compute_report_rows(fixed)
    access = access_rows(fixed)
    for i, (layer, lr) in enumerate(zip(workload.layers, fixed.layers)):
        energy = lr.result.energy_pj
        d = {
            "name": layer.name, "kind": layer.kind.value, "groups": layer.groups,
            "scalesim_layers": layer.groups if layer.kind.value == "depthwise" else 1,
            "cycles": lr.cycles, "mapping_efficiency_pct": rows[i][4],
            **{col: access[i][j + 1] for j, col in enumerate(ACCESS_COLUMNS)},
            "energy_pj": energy,
            "energy_pj_by_level": {p: lr.result.energy_breakdown_pj[p] for p in PARTS},
            f"energy_pj_{table}": shipped.layers[i].result.energy_pj,
            f"energy_pj_by_level_{table}": {p: shipped.layers[i].result.energy_breakdown_pj[p] for p in PARTS},
            "edp": energy * lr.cycles,
        }
        steps = lr.sim.eyexam if lr.sim is not None else None
        if steps and lr.result.macs:
            static = steps[:BOUND_STEP]
            d["eyexam_bound_cycles"] = lr.result.macs / static[-1].macs_per_cycle
            # the step that last lowered the bound names what limits it
            lowered = [s for prev, s in pairwise(static) if s.macs_per_cycle < prev.macs_per_cycle]
            d["eyexam_limited_by"] = lowered[-1].name if lowered else static[0].name
        if best is not None:
            b = best.layers[i]
            mapping = b.result.mapping.compact() if b.result.mapping is not None else "-"
            d["best"] = {"mapping": mapping, "cycles": b.cycles, "energy_pj": b.result.energy_pj,
                         "edp": b.result.energy_pj * b.cycles}
            d["edp_gain"] = d["edp"] / d["best"]["edp"] if d["best"]["edp"] else None
        layers.append(d)
    return {"arch": arch.name, "dataflow": arch.dataflow, "table": table,
            "search": None if best is None else {"dataflow": best.dataflow, "objective": "edp", "budget": budget,
                                                 "seed": seed},
            "layers": layers}


def table_text(doc: dict) -> str:
    t = doc["table"]
    head = ["layer", "cycles", "map eff%", "uJ norm", "mac/rf/noc/glb/dram %", f"uJ {t}", "EDP (pJ x cyc)",
            "eyexam bound", "limited by"]
    if doc["search"]:
        head += ["best cycles", "best uJ norm", "EDP gain"]
    rows = []
    for l in doc["layers"]:
        e = l["energy_pj"]
        split = "/".join(f"{100 * l['energy_pj_by_level'][p] / e:.0f}" for p in PARTS) if e else "-"
        name = l["name"] + (f" (SCALE-Sim: {l['scalesim_layers']} layers)" if l["scalesim_layers"] > 1 else "")
        row = [name, f"{l['cycles']}", f"{l['mapping_efficiency_pct']:.2f}", f"{e / 1e6:.1f}", split,
               f"{l[f'energy_pj_{t}'] / 1e6:.2f}", f"{l['edp']:.3e}",
               f"{l['eyexam_bound_cycles']:.0f}" if "eyexam_bound_cycles" in l else "-", l.get("eyexam_limited_by", "-")]
        if doc["search"]:
            b = l["best"]
            row += [f"{b['cycles']}", f"{b['energy_pj'] / 1e6:.1f}", f"{l['edp_gain']:.2f}x" if l["edp_gain"] else "-"]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines = [f"{doc['arch']} | SCALE-Sim's mapping ({doc['dataflow']}): its cycles and SRAM counts, plus energy "
             f"(normalized and {t}), EDP, Eyexam bound"
             + (f"; the mapper's best ({doc['search']['dataflow']}, EDP, budget {doc['search']['budget']}, "
                f"seed {doc['search']['seed']})" if doc["search"] else ""),
             fmt(head).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [fmt(r).rstrip() for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.arch import load_scalesim_cfg
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    arch = load_scalesim_cfg(args.cfg)
    workload = select_layers(load_workload(args.workload), args.layers)
    doc = compare(arch, workload, args.table, args.search_budget, args.seed, not args.no_search)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        print(table_text(doc))
    return 0


COMMAND = Command("scalesim", "a SCALE-Sim .cfg + topology: SCALE-Sim's numbers and what it lacks "
                              "(energy, EDP, Eyexam bound, the mapper's best)", configure, run)
