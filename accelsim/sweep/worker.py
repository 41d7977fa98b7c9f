"""Evaluate one sweep point: settings -> arch, workload, search -> run -> one flat record.

``evaluate_point`` runs in a worker process (local pool or Dask) and never raises for a bad point:
any ``Exception`` becomes a record with ``status: error`` and a one-line message, so the sweep goes
on. It returns plain JSON-able data (small: the totals, never per-layer stats).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from accelsim.errors import ConfigError
from accelsim.sweep.points import Point, label
from accelsim.sweep.spec import Times, key_kind

ENERGY_PARTS = ("mac", "rf", "noc", "glb", "dram")
TENSORS = ("ifmap", "weight", "psum")
STALLS = ("dram", "glb", "noc", "fill_drain")
# the stats totals, flattened: the results table's columns after the axes
TOTAL_COLUMNS: tuple[str, ...] = (
    "n_layers", "pes", "energy_preset", "macs", "cycles", "ideal_cycles", "latency_ms", "utilization",
    "energy_pj", "energy_per_mac_pj", *(f"energy_{p}_pj" for p in ENERGY_PARTS),
    *(f"energy_{t}_pj" for t in TENSORS), "dram_accesses_per_mac",
    *(f"stall_{c}_cycles" for c in STALLS),
    # with fuse.*: the network mapper's plan (docs/fusion.md); empty otherwise
    "fuse_groups", "fuse_dram_words", "fuse_energy_pj", "fuse_cycles",
)
MAX_ERROR_CHARS = 400
# a sweep that sets one of these removes the other (a file gives words or bytes, not both)
_UNIT_TWINS = {"_bytes": "_words", "_words": "_bytes"}


# parsed architecture files of this process: (path, mtime_ns, size) -> document (never handed out:
# callers get a deep copy). A worker evaluates many points of a few archs; parsing their YAML again
# at every point was about a fifth of a named sweep's CPU time.
_PARSED: dict[tuple[str, int, int], dict] = {}


def arch_document(name_or_path: str) -> tuple[dict, str]:
    """The architecture document a point starts from (as written in its file; a fresh copy the
    caller may change) and its source path."""
    from accelsim.arch import resolve_arch_path
    from accelsim.yamlio import load_yaml

    if str(name_or_path).lower().endswith(".cfg"):
        from accelsim.interop.scalesim import cfg_document

        return cfg_document(name_or_path), str(name_or_path)
    path = resolve_arch_path(name_or_path)
    try:
        st = path.stat()
        key: tuple[str, int, int] | None = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None                       # load_yaml names the file and the problem
    doc = _PARSED.get(key) if key else None
    if doc is None:
        doc = load_yaml(path)
        if not isinstance(doc, dict):
            raise ConfigError(f"expected a mapping, got {type(doc).__name__}", source=str(path))
        if key:
            _PARSED[key] = doc
    return copy.deepcopy(doc), str(path)


def _set(doc: dict, path: str, value: Any, source: str) -> Any:
    """Set ``path`` in the nested ``doc``; returns the value set (``Times`` resolved)."""
    parts = path.split(".")
    node = doc
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {path}: {'.'.join(parts[:depth + 1])} is {child!r}, not a mapping",
                              source=source, key=path)
        node = child
    leaf = parts[-1]
    if isinstance(value, Times):
        old = node.get(leaf)
        if isinstance(old, bool) or not isinstance(old, (int, float)):
            raise ConfigError(f"{{times: {value.factor:g}}} needs a number to scale, but the arch has {old!r}",
                              source=source, key=path)
        value = old * value.factor
        if isinstance(value, float) and value.is_integer() and isinstance(old, int):
            value = int(value)
    if isinstance(value, tuple):
        value = list(value)
    for suffix, twin in _UNIT_TWINS.items():
        if leaf.endswith(suffix):
            node.pop(leaf[: -len(suffix)] + twin, None)
    node[leaf] = value
    return value


def _get(doc: dict, path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def build(p: Point):
    """(arch, workload, search spec or None, simulate, refine, resolved axis values) for one point."""
    from accelsim.arch import arch_from_dict
    from accelsim.mapper.search import SearchSpec
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    settings = dict(p.settings)              # later settings (the axes) win over the base
    doc, source = arch_document(settings["arch"])
    for key, value in settings.items():
        if key_kind(key) == "arch":
            _set(doc, key, value, source)
    arch = arch_from_dict(doc, f"{source} + sweep settings")
    batch = settings.get("batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ConfigError(f"batch must be a positive integer, got {batch!r}", key="batch")
    workload = select_layers(load_workload(str(settings["workload"]), batch), settings.get("layers"))
    search = {k.split(".", 1)[1]: v for k, v in settings.items() if k.startswith("search.")}
    searching = bool(search)                  # any search.* key turns the search on
    refine = search.pop("refine", False)
    spec = SearchSpec(**search) if searching else None
    simulate = settings.get("simulate", False)
    if not isinstance(simulate, bool):
        raise ConfigError(f"simulate must be true or false, got {simulate!r}", key="simulate")
    if not isinstance(refine, bool):
        raise ConfigError(f"search.refine must be true or false, got {refine!r}", key="search.refine")
    if refine and not simulate:
        raise ConfigError("search.refine re-ranks the search by simulation: it needs simulate: true",
                          key="search.refine")
    resolved = {k: (_get(doc, k) if key_kind(k) == "arch" else v) for k, v in p.axes}
    return arch, workload, spec, simulate, refine, resolved


def totals_of(doc: dict) -> dict:
    """One flat row (TOTAL_COLUMNS) from a stats.json document."""
    t = doc["totals"]
    row: dict[str, Any] = {
        "n_layers": len(doc["layers"]), "pes": doc["pes"], "energy_preset": doc["energy_preset"], "macs": t["macs"], "cycles": t["cycles"],
        "ideal_cycles": t["ideal_cycles"], "latency_ms": t["latency_ms"], "utilization": t["utilization"],
        "energy_pj": t["energy_pj"], "energy_per_mac_pj": t["energy_per_mac_pj"],
    }
    for part in ENERGY_PARTS:
        row[f"energy_{part}_pj"] = t["energy_breakdown_pj"][part]
    for tensor in TENSORS:
        row[f"energy_{tensor}_pj"] = sum(layer["energy_by_tensor_pj"][tensor] for layer in doc["layers"])
    row["dram_accesses_per_mac"] = t["dram_accesses_per_mac"]
    stalls = t.get("stall_cycles") or {}
    for cause in STALLS:
        row[f"stall_{cause}_cycles"] = stalls.get(cause) if stalls else None
    return row


def fuse_totals(workload, arch, fuse: dict) -> dict:
    """The fused-layer plan's columns: groups fused, DRAM words, energy and cycles of the plan."""
    from accelsim.mapper.network import plan_network

    objective = fuse.get("objective", "energy")
    objective = "latency" if objective == "cycles" else objective
    for key in ("budget", "seed"):
        value = fuse.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < (key == "budget")):
            raise ConfigError(f"fuse.{key} must be a {'positive' if key == 'budget' else 'non-negative'} integer, "
                              f"got {value!r}", key=f"fuse.{key}")
    plan = plan_network(workload, arch, objective=objective, budget=fuse.get("budget", 20000),
                        seed=fuse.get("seed", 0)).as_dict()
    return {"fuse_groups": sum(g["fused"] for g in plan["groups"]), "fuse_dram_words": plan["dram_words"],
            "fuse_energy_pj": plan["energy_pj"], "fuse_cycles": plan["cycles"]}


def one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def evaluate_point(p: Point) -> dict:
    """The record of one point (status ok with totals, or status error with the message)."""
    from accelsim import report
    from accelsim.pipeline import run

    start = time.perf_counter()
    record: dict[str, Any] = {"point": p.index, "key": p.key, "status": "ok",
                              "axes": {k: label(v) for k, v in p.axes}, "totals": None, "error": None}
    try:
        arch, workload, spec, simulate, refine, resolved = build(p)
        record["axes"] = resolved
        if simulate:
            import importlib.util

            if importlib.util.find_spec("accelsim.sim") is None:
                raise ConfigError("simulate: true needs the simulator (accelsim.sim), which is not installed")
        result = run(arch, workload, None, search_spec=spec, simulate=simulate, refine=refine)
        record["totals"] = totals_of(report.stats(result))
        fuse = {k.split(".", 1)[1]: v for k, v in dict(p.settings).items() if key_kind(k) == "fuse"}
        if fuse:
            record["totals"].update(fuse_totals(workload, arch, fuse))
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, the sweep goes on
        record["status"] = "error"
        record["error"] = one_line(exc)
    record["elapsed_s"] = round(time.perf_counter() - start, 4)
    return record

