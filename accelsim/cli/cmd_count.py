"""accelsim count: the general core's action table for one problem on a level-list hierarchy.

``accelsim count HIERARCHY --mapping NEST.yaml (--problem P.yaml | -w WORKLOAD -l LAYER) [--json] [--energy]``
prints the hierarchy, the Timeloop-style loop nest and every nonzero (level, tensor, action) count; with
``--energy`` also each action priced by the hierarchy's energy table (accelsim.cost.energy.energy_of)
(docs/core.md). HIERARCHY is a level-list YAML file or a shipped one (``eyeriss_v2``, ``hierarchy/simba_like``), or
any fixed-shape arch, converted on load (``accelsim.hierarchy.load_architecture``).
Bad input of any spec is one line naming the file and key, exit 2 (accelsim.cli.main).
"""

from __future__ import annotations

import argparse
import json
import sys

from accelsim.cli import Command
from accelsim.errors import ConfigError


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("hierarchy", help="a level-list YAML file or shipped name (eyeriss_v2, hierarchy/simba_like), or any "
                                     "fixed-shape arch (converted: dram, glb, rf, reg levels)")
    p.add_argument("--mapping", "-m", required=True, help="loop nest YAML: a list of {level, factors, order, keeps, "
                                                          "spatial} (docs/core.md)")
    p.add_argument("--problem", "-p", help="problem YAML (dims, tensors with coordinate expressions)")
    p.add_argument("--workload", "-w", help="instead of --problem: a zoo network or workload file ...")
    p.add_argument("--layer", "-l", help="... and the one layer of it to count")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--counts", choices=("accelsim", "timeloop"), default="accelsim",
                   help="timeloop: also report per-level reads / fills / updates in Timeloop's conventions "
                        "(docs/interop.md)")
    p.add_argument("--energy", action="store_true", help="also price every action with the hierarchy's energy "
                                                         "table (its energy: section; docs/core.md)")


def run(args: argparse.Namespace) -> int:
    from accelsim.cost.actions import count_actions
    from accelsim.hierarchy import load_architecture
    from accelsim.loopnest import check, loop_nest_text, nest_from_dict
    from accelsim.problem import from_layer, load_problem
    from accelsim.yamlio import load_yaml

    hierarchy = load_architecture(args.hierarchy)
    if (args.problem is None) == (args.workload is None):
        raise ConfigError("accelsim count: give --problem FILE or --workload W --layer L (one of them)")
    if args.problem is not None:
        problem = load_problem(args.problem)
    else:
        from workloads.loader import load_workload

        if not args.layer:
            raise ConfigError("accelsim count: --workload needs --layer (one layer name)")
        layers = load_workload(args.workload).select([args.layer]).layers
        problem = from_layer(layers[0])
    nest = nest_from_dict(load_yaml(args.mapping), hierarchy, args.mapping)
    check(problem, hierarchy, nest, args.mapping)
    actions = count_actions(problem, hierarchy, nest)
    tl_rows = None
    if args.counts == "timeloop":
        from accelsim.cost.timeloop_view import timeloop_view

        tl_rows = timeloop_view(problem, hierarchy, nest, actions)
    energy = None
    if args.energy:
        from accelsim.cost.energy import energy_of
        from accelsim.energy_table import table_for

        table = table_for(hierarchy)
        energy = energy_of(actions, hierarchy, table)
    if args.json:
        doc = {"hierarchy": hierarchy.name, "problem": problem.name, "macs": actions.macs, "cycles": actions.cycles,
               "active": actions.active,
               "actions": [{"level": lv, "tensor": t, "action": a, "words": n} for lv, t, a, n in actions.table()]}
        if tl_rows is not None:
            doc["timeloop"] = [{"level": r.level, "tensor": r.tensor, "reads": r.reads, "fills": r.fills,
                                "updates": r.updates} for r in tl_rows]
        if energy is not None:
            doc["energy"] = {"table": table.name, "total_pj": energy.total_pj, "by_component_pj": energy.by_component(),
                             "rows": [{"component": c, "tensor": r, "action": a, "count": n, "pj_each": e, "pj": pj}
                                      for c, r, a, n, e, pj in energy.rows if n]}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0
    print(hierarchy.describe())
    print(problem.describe())
    print(loop_nest_text(problem, nest))
    print(f"MACs {actions.macs}  ideal cycles {actions.cycles}  active compute units {actions.active}")
    rows = [("level", "tensor", "action", "words")] + [(lv, t, a, f"{n:,}") for lv, t, a, n in actions.table()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    if tl_rows is not None:
        from accelsim.cost.timeloop_view import timeloop_text

        print(timeloop_text(tl_rows, actions.macs, actions.cycles))
    if energy is not None:
        print(f"energy table {table.name}: {'; '.join(table.sources)}")
        print(energy.table())
        print(f"{energy.total_pj / actions.macs:.4g} pJ/MAC" if actions.macs else "no MACs")
    return 0


COMMAND = Command("count", "the general core's action table: one problem on a level-list hierarchy (docs/core.md)",
                  configure, run)
