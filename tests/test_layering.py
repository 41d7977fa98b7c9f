"""Imports flow one way: spec -> cost -> {mapper, sim} -> eyexam -> pipeline -> report -> cli.

Every module of the shipped packages is parsed (ast, no import executed); every ``import`` and
``from ... import`` in it, at module level or inside a function, is an edge. A module's layer comes
from LAYERS below (longest matching prefix). An edge is allowed when it goes to a lower rank, or
stays inside its own group; two groups of the same rank (mapper and sim, the cost model and the
side models) may not import each other. Separately, the static import graph has no cycle (a
function-level import does not make a cycle acceptable).

Plugin registries load their plugins with importlib (DYNAMIC below); those edges are checked for
direction too, but not for cycles: a plugin importing its registry's helpers is the pattern.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("accelsim", "configs", "dataflows", "noc", "workloads")

# (rank, group, module prefixes). A prefix matches the module itself and everything under it.
LAYERS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    # helpers every layer may use: errors, YAML and field validation, atomic writes, size limits, progress,
    # the shipped-config finder, the package's version, a frozen spec object's kept hash
    (0, "base", ("accelsim.__init__", "accelsim.errors", "accelsim.fields", "accelsim.yamlio",
                 "accelsim.atomic", "accelsim.limits", "accelsim.progress", "accelsim.halo", "accelsim.names", "configs",
                 "accelsim.frozen_hash")),
    # the three specs and what reads or checks them: layers and workloads, the arch (with the NoC
    # models and dataflows it names), mappings, tile sizes, legality, arch constraints, energy
    # tables, SCALE-Sim's .cfg reader. dataflows/ are mapping constraints plus a named mapping built
    # from tile sizes (spec); noc/ models are parameters and closed-form per-stream formulas over a
    # mapping (spec), which the cost model and the simulator ask.
    (1, "spec", ("workloads", "dataflows", "noc", "accelsim.arch", "accelsim.mapping", "accelsim.tiles",
                 "accelsim.legality", "accelsim.constraints", "accelsim.energy", "accelsim.energy_table", "accelsim.energy_keys",
                 "accelsim.interop",
                 "accelsim.problem", "accelsim.hierarchy", "accelsim.loopnest", "accelsim.vector_ops", "accelsim.fused",
                 "accelsim.sparse.density", "accelsim.sparse.formats", "accelsim.sparse.spec",
                 # transformer workloads: the attention shape and cascade, BERT/GPT-2 blocks (the zoo's bert_base)
                 "accelsim.attention.cascade", "accelsim.attention.transformer")),
    # the pure cost model and its two ground truths (the brute-force interpreter, functional mode)
    (2, "cost", ("accelsim.cost", "accelsim.interpreter", "accelsim.functional", "accelsim.interp_general",
                 "accelsim.functional_general", "accelsim.attention",
                 "accelsim.interp_fused", "accelsim.functional_fused", "accelsim.sparse")),
    # side models on the workload/arch specs, independent of the cost model
    (2, "side models", ("accelsim.roofline", "accelsim.training", "accelsim.partition")),
    (3, "mapper", ("accelsim.mapper",)),
    (3, "sim", ("accelsim.sim",)),
    (4, "eyexam", ("accelsim.eyexam",)),
    # runs a workload: mapper, simulator, eyexam; refine re-ranks the mapper's shortlist by simulation
    (5, "pipeline", ("accelsim.pipeline", "accelsim.pipeline_hierarchy", "accelsim.refine",
                     "accelsim.attention.block")),      # a transformer run: maps (named or searched), counts, prices
    (6, "report", ("accelsim.report", "accelsim.report_hierarchy", "accelsim.fusion_report")),
    # graded labs: questions whose answers come from the pipeline, Eyexam and the side models
    (6, "labs", ("accelsim.labs",)),
    # sweeps run the pipeline over a grid and store report records
    (7, "sweep", ("accelsim.sweep",)),
    # plots read reports and sweep results
    (8, "plots", ("accelsim.plots",)),
    (9, "cli", ("accelsim.cli", "accelsim.__main__")),
)

# importlib-loaded plugins: registry module -> package whose every module it may load
DYNAMIC: dict[str, str] = {
    "dataflows.registry": "dataflows",
    "workloads.zoo": "workloads.zoo",
    "accelsim.plots.registry": "accelsim.plots",
    "accelsim.cli": "accelsim.cli",
}

def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            parts = p.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts)
            if parts[-1] == "__init__":
                name = ".".join(parts[:-1])
            out[name] = p
    return out


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> project modules it imports (``from pkg import sub`` is an edge to ``pkg.sub``)."""
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else subs + [module]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def _layer(module: str) -> tuple[int, str]:
    """(rank, group) of a module: the longest prefix in LAYERS that matches it (``pkg.__init__``
    matches the package module alone, not what is under it)."""
    best = None
    for rank, group, prefixes in LAYERS:
        for p in prefixes:
            if p.endswith(".__init__"):
                hit = module == p.removesuffix(".__init__")
            else:
                hit = module == p or module.startswith(p + ".")
            if hit and (best is None or len(p) > best[0]):
                best = (len(p), rank, group)
    assert best is not None, f"module {module} has no layer: add it to LAYERS in tests/test_layering.py"
    return best[1], best[2]


def _allowed(src: str, dst: str) -> bool:
    (rs, gs), (rd, gd) = _layer(src), _layer(dst)
    return gs == gd or rd < rs


def test_every_module_has_a_layer():
    mods = _modules()
    assert len(mods) > 100
    for m in mods:
        _layer(m)


def test_imports_flow_one_way():
    mods = _modules()
    graph = _edges(mods)
    for registry, package in DYNAMIC.items():
        assert registry in mods, registry
        graph[registry] |= {m for m in mods if m.startswith(package + ".") and m != registry}
    bad = sorted(f"{src} ({'/'.join(map(str, _layer(src)))}) imports {dst} ({'/'.join(map(str, _layer(dst)))})"
                 for src, deps in graph.items() for dst in deps
                 if not _allowed(src, dst))
    assert not bad, "upward imports:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles():
    assert _cycles(_edges(_modules())) == []


def test_the_checks_catch_what_they_should():
    """The two checks on made-up graphs: an upward edge and a cycle are found, a clean one passes."""
    assert not _allowed("accelsim.sim.simulate", "accelsim.eyexam.steps")      # sim below eyexam
    assert not _allowed("accelsim.mapper.search", "accelsim.sim")              # siblings
    assert not _allowed("accelsim.tiles", "accelsim.cost.counts")              # spec below cost
    assert _allowed("accelsim.eyexam.steps", "accelsim.mapper.score")
    assert _allowed("accelsim.cost.counts", "accelsim.tiles")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
