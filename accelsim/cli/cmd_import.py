"""accelsim import timeloop: Timeloop specs in (accelsim.interop.timeloop, docs/interop.md).

``accelsim import timeloop FILES... --out DIR`` reads Timeloop architecture / problem / mapping /
constraint YAML files and writes, to DIR, what they describe in accelsim's formats (docs/core.md):
``hierarchy.yaml`` (level list), ``problem.yaml`` (einsum), ``workload.yaml`` (a one-layer workload:
a conv for CNN-Layer problems, else an einsum) and ``mapping.yaml`` (loop nest), each only if its
source was given; ``accelsim count`` and ``accelsim run`` take them. It
prints the files written, the hierarchy, the Timeloop-style loop nest and every note on what has no
counterpart. Bad input: one line naming the file and key, exit 2.
"""

from __future__ import annotations

import argparse

from accelsim.cli import Command

HEADER = "# Imported from Timeloop by `accelsim import timeloop` from: {sources}\n"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=("timeloop",), help="the source format")
    p.add_argument("files", nargs="+", help="Timeloop YAML files (architecture, problem, mapping, constraints)")
    p.add_argument("--out", required=True, help="directory for hierarchy.yaml, problem.yaml, workload.yaml, mapping.yaml")


def run(args: argparse.Namespace) -> int:
    import yaml

    from accelsim.atomic import output_dir, write_all
    from accelsim.hierarchy import hierarchy_from_dict
    from accelsim.interop.timeloop import import_timeloop
    from accelsim.loopnest import loop_nest_text, nest_from_dict
    from accelsim.problem import problem_from_dict

    imported = import_timeloop(list(args.files))
    out = output_dir(args.out)
    header = HEADER.format(sources=", ".join(args.files))
    docs = {"hierarchy.yaml": imported.hierarchy, "problem.yaml": imported.problem,
            "workload.yaml": imported.workload, "mapping.yaml": imported.mapping}
    files = {out / name: header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
             for name, doc in docs.items() if doc is not None}
    hierarchy = hierarchy_from_dict(imported.hierarchy, str(out / "hierarchy.yaml")) if imported.hierarchy else None
    problem = problem_from_dict(imported.problem, str(out / "problem.yaml")) if imported.problem else None
    write_all(files)
    for path in files:
        print(f"wrote {path}")
    if hierarchy is not None:
        print(hierarchy.describe())
    if problem is not None:
        print(problem.describe())
    if hierarchy is not None and problem is not None and imported.mapping is not None:
        print(loop_nest_text(problem, nest_from_dict(imported.mapping, hierarchy, str(out / "mapping.yaml"))))
    for note in imported.notes:
        print(f"note: {note}")
    return 0


COMMAND = Command("import", "read another tool's specs (Timeloop architecture, problem, mapping, constraints) "
                            "into accelsim's hierarchy, problem and loop-nest files", configure, run)
