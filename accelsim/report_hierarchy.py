"""A level-list hierarchy run (accelsim.pipeline_hierarchy) as what people read: stats.json (schema
accelsim.stats/2, the fixed shape's fields with level names in place of dram/glb/noc/rf), layers.csv,
mapping.txt and the terminal table.

Every number is read from the layer's action table (``actions``), never counted again:
``accesses[LEVEL][role]`` = {reads: read + drain, writes: fill + update} for each storage level, and
for the network below LEVEL, ``accesses["LEVEL.net"][role]`` = {reads: down_dest, writes: up_src}
(words delivered to / sent by the children); ``noc_transfers["LEVEL.net"][role]`` = down + up
(distinct words at the parent). ``energy_breakdown_pj`` is keyed ``mac``, each level and each
``LEVEL.net``. ``cycles`` are simulated (accelsim.sim.general; ``stall_cycles`` and ``busy`` keyed
by resource) or, with ``--no-sim`` and for layers without MACs, the latency bound (``cycles_are``
says which). ``area_mm2``: the hierarchy's area (``energy.area_mm2`` per instance x instances,
summed), null when the file gives none.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from accelsim import __version__
from accelsim.cost.energy import MAC_PART
from accelsim.energy_table import area_mm2
from accelsim.errors import ConfigError
from accelsim.loopnest import loop_nest_text, nest_to_dict
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, READ, ROLES, UP, UP_SRC, UPDATE
from accelsim.pipeline_hierarchy import HierarchyLayerRun, HierarchyRun
from accelsim.report import (
    SCHEMA,
    _human,
    _sparse_dict,
    _sparse_totals,
    backing_words,
    capacity_note,
    dense_note,
    fit_footer,
    fit_suffix,
    sparse_csv,
    sparse_detail,
)

CYCLES_ARE = "latency bound (accelsim.cost.bound)"
CYCLES_SIMULATED = "simulated cycles (accelsim.sim.general); layers without MACs: their latency bound"


def top_stall(layer: dict) -> str:
    """The resource with the most stall cycles of a simulated layer and its share of the cycles."""
    st = layer.get("stall_cycles") or {}
    if not st or not layer["cycles"] or not max(st.values()):
        return "-"
    res = max(st, key=lambda k: (st[k], k))
    return f"{res} {100 * st[res] / layer['cycles']:.0f}%"


def parts_of(run: HierarchyRun) -> list[str]:
    """The energy parts in hierarchy order: mac, then each level and the network below it."""
    out = [MAC_PART]
    for lv in run.hierarchy.levels:
        out.append(lv.name)
        if lv.fanout is not None:
            out.append(f"{lv.name}.net")
    return out


def accesses(lr: HierarchyLayerRun, run: HierarchyRun) -> dict:
    s, n = lr.actions.storage, lr.actions.network
    out: dict = {}
    for lv in run.hierarchy.levels:
        out[lv.name] = {r: {"reads": s.get((lv.name, r, READ), 0) + s.get((lv.name, r, DRAIN), 0),
                            "writes": s.get((lv.name, r, FILL), 0) + s.get((lv.name, r, UPDATE), 0)} for r in ROLES}
        if lv.fanout is not None:
            out[f"{lv.name}.net"] = {r: {"reads": n.get((lv.name, r, DOWN_DEST), 0),
                                         "writes": n.get((lv.name, r, UP_SRC), 0)} for r in ROLES}
    return out


def compact(lr: HierarchyLayerRun) -> str | None:
    """One line: each level's temporal factors and its fanout's spatial ones."""
    if lr.nest is None:
        return None
    parts = []
    for lm in lr.nest.levels:
        t = " ".join(f"{d}{f}" for d, f in lm.factors if f > 1)
        sp = " ".join(f"{ax}:{d}{f}" for ax, pairs in (("x", lm.x), ("y", lm.y)) for d, f in pairs if f > 1)
        parts.append(f"{lm.level}[{t}{' | ' + sp if sp else ''}]")
    return " ".join(parts)


def _shape(lr: HierarchyLayerRun) -> dict:
    layer = lr.item.layer
    if layer is not None:
        return {"N": layer.N, "C": layer.C, "K": layer.K, "H": layer.H, "W": layer.W, "R": layer.R, "S": layer.S,
                "P": layer.P, "Q": layer.Q, "stride": [layer.stride_h, layer.stride_w],
                "padding": [layer.pad_h, layer.pad_w], "dilation": [layer.dil_h, layer.dil_w], "groups": layer.groups}
    assert lr.item.problem is not None
    return dict(lr.item.problem.dims)


def _layer_dict(lr: HierarchyLayerRun, run: HierarchyRun, units: int) -> dict:
    a = lr.actions
    cycles = lr.cycles
    e = lr.energy_pj
    d = {
        "name": lr.item.name,
        "kind": lr.item.kind,
        "shape": _shape(lr),
        "macs": a.macs,
        "cycles": cycles,
        "ideal_cycles": a.cycles,
        "active_pes": a.active,
        "utilization": a.macs / (cycles * units) if cycles and a.macs else 0.0,
        "spatial_utilization": a.active / units,
        "energy_pj": e,
        "energy_breakdown_pj": dict(lr.energy_parts_pj),
        "energy_by_tensor_pj": dict(lr.energy_by_tensor_pj),
        "accesses": accesses(lr, run),
        "noc_transfers": {f"{lv.name}.net": {r: a.network.get((lv.name, r, DOWN), 0) + a.network.get((lv.name, r, UP), 0)
                                             for r in ROLES}
                          for lv in run.hierarchy.levels if lv.fanout is not None},
        "mapping": compact(lr),
        "mapping_nest": nest_to_dict(lr.nest) if lr.nest is not None else None,
        "mapping_source": lr.mapping_source,
        "actions": [{"level": lv, "tensor": t, "action": act, "words": n} for lv, t, act, n in a.table()],
        "bound_cycles": dict(lr.bound_parts),
        "eyexam": [s.as_dict() for s in lr.steps],
    }
    if lr.sim is not None:
        d["stall_cycles"] = dict(lr.sim.stall_cycles)
        d["busy"] = {k: round(v, 6) for k, v in lr.sim.busy.items()}
        d["sim"] = {"blocks": lr.sim.blocks, "tiles": lr.sim.tiles, "events": lr.sim.events,
                    "prefetched": lr.sim.prefetched, "exposed": sorted(k for k, e in lr.sim.exposed.items() if e)}
    if lr.search is not None:
        search: dict = {"evaluated": lr.search.evaluated, "proposed": lr.search.proposed,
                        "stopped_by": lr.search.stopped_by}
        if lr.search.sparse:          # as the fixed shape's stats (report.py): how sparsity entered the search
            search["sparse"] = lr.search.sparse
        d["search"] = search
    if lr.sparse is not None:       # the fixed shape's sparse keys, plus the sparse latency bound per part
        sp = {**_sparse_dict(lr.sparse), "bound_cycles": lr.sparse.bound_cycles,
              "bound_parts": dict(lr.sparse.bound_parts)}
        if lr.sparse_sim is not None:
            sp["sim_cycles"] = lr.sparse_sim.cycles
            sp["sim_stall_cycles"] = dict(lr.sparse_sim.stall_cycles)
        d["sparse"] = sp
    return d


def stats(run: HierarchyRun) -> dict:
    h = run.hierarchy
    units = h.instances
    layers = [_layer_dict(lr, run, units) for lr in run.layers]
    parts = parts_of(run)
    macs = sum(l["macs"] for l in layers)
    cycles = sum(l["cycles"] for l in layers)
    energy = sum(l["energy_pj"] for l in layers)
    top = h.levels[0].name
    backing = sum(backing_words(l, top) for l in layers)
    spec = run.search
    simulated = any(lr.sim is not None for lr in run.layers)
    batch = next((lr.item.layer.N for lr in run.layers if lr.item.layer is not None), 1)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "accelsim_version": __version__,
        "arch": h.name,
        "arch_file": Path(h.source).name,
        "core": "hierarchy",
        "hierarchy": h.describe(),
        "workload": run.workload.name,
        "dataflow": run.dataflow,
        "batch": batch,
        "clock_mhz": h.clock_mhz,
        "pes": units,
        "energy_preset": run.energy_preset,
        "energy_parts": parts,
        "area_mm2": area_mm2(h),
        "simulated": simulated,
        "cycles_are": CYCLES_SIMULATED if simulated else CYCLES_ARE,
        "search": None if spec is None else {"objective": spec.objective, "budget": spec.budget, "seed": spec.seed,
                                              "time_limit_s": spec.time_limit_s, "refined_by_simulation": run.refined,
                                              "searcher": "general mapper (accelsim.mapper.nest_search)"},
        "seed": None if spec is None else spec.seed,
        "hand_written_mappings": list(run.hand_written),
        "totals": {
            "macs": macs,
            "cycles": cycles,
            "ideal_cycles": sum(l["ideal_cycles"] for l in layers),
            "latency_ms": cycles / (h.clock_mhz * 1e3) if h.clock_mhz else None,
            "energy_pj": energy,
            "energy_per_mac_pj": energy / macs if macs else None,
            "utilization": macs / (cycles * units) if cycles else 0.0,
            "energy_breakdown_pj": {p: sum(l["energy_breakdown_pj"].get(p, 0.0) for l in layers) for p in parts},
            "dram_accesses_per_mac": backing / macs if macs else None,
        },
        "layers": layers,
    }
    sparse = _sparse_totals(layers)
    if sparse is not None:
        # a layer without a sparse view runs dense: its own latency bound (the max of its parts)
        sparse["bound_cycles"] = sum(l["sparse"]["bound_cycles"] if "sparse" in l
                                     else max(l["bound_cycles"].values(), default=0.0) for l in layers)
        doc["totals"]["sparse"] = sparse
        doc["sparse_spec"] = run.sparsity.spec.describe()
        doc["sparse_capacity"] = run.sparsity.spec.capacity
    return doc


def table(doc: dict) -> str:
    """The per-layer table ``accelsim run`` prints for a hierarchy run."""
    parts = doc["energy_parts"]
    top = next(iter(doc["layers"][0]["accesses"])) if doc["layers"] else "dram"
    head = ["layer", "MACs", "cycles", "util", "energy uJ", "pJ/MAC", *(f"{p}%" for p in parts), f"{top}/MAC"]
    sim = bool(doc.get("simulated"))
    if sim:
        head.append("top stall")
    sparse = "sparse" in doc["totals"]
    sparse_sim = sparse and "sim_cycles" in doc["totals"]["sparse"]
    if sparse:
        head += ["effMAC%", "sparse cycles"] + (["sparse sim"] if sparse_sim else []) + ["sparse uJ", f"sparse {top}/MAC"]
    rows = []
    for l in doc["layers"]:
        e = l["energy_pj"]
        words = backing_words(l, top)
        rows.append([l["name"], _human(l["macs"]), _human(l["cycles"]), f"{l['utilization']:.2f}", f"{e / 1e6:.1f}",
                     f"{e / l['macs']:.2f}" if l["macs"] else "-",
                     *(f"{100 * l['energy_breakdown_pj'].get(p, 0.0) / e:.0f}" if e else "-" for p in parts),
                     f"{words / l['macs']:.4f}" if l["macs"] else "-"] + ([top_stall(l)] if sim else [])
                    + (_sparse_cells(l, top, sparse_sim) if sparse else []))
    t = doc["totals"]
    rows.append(["total", _human(t["macs"]), _human(t["cycles"]), f"{t['utilization']:.2f}", f"{t['energy_pj'] / 1e6:.1f}",
                 f"{t['energy_per_mac_pj']:.2f}" if t["macs"] else "-",
                 *(f"{100 * t['energy_breakdown_pj'][p] / t['energy_pj']:.0f}" if t["energy_pj"] else "-" for p in parts),
                 f"{t['dram_accesses_per_mac']:.4f}" if t["macs"] else "-"] + (["-"] if sim else [])
                + (_sparse_total_cells(t, top, sparse_sim) if sparse else []))
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]

    def fmt(r: list) -> str:
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    given = doc.get("hand_written_mappings") or []
    if doc["search"]:
        search = doc["search"]
        how = (f"search {search['objective']} budget {search['budget']} seed {search['seed']} (general mapper)"
               + (", refined by simulation" if search.get("refined_by_simulation") else ""))
    elif given:
        every = len(given) == sum(1 for l in doc["layers"] if l["macs"])
        how = "hand-written mapping" if every else (f"hand-written mapping for {', '.join(given)}, named for the rest"
                                                    + fit_suffix(doc["layers"]))
    else:
        how = "named mapping" + fit_suffix(doc["layers"])
    clock = f"{doc['clock_mhz']:g} MHz | " if doc["clock_mhz"] else ""
    dataflow = f"dataflow {doc['dataflow']}" if doc["dataflow"] is not None else "no dataflow"
    lines = [f"{doc['arch']} (level list) | {doc['workload']} | {dataflow} | {clock}"
             f"{doc['pes']} compute units | energy {doc['energy_preset']} | {how}",
             doc["hierarchy"], fmt(head), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows[:-1]]
    lines.append("  ".join("-" * w for w in widths))
    lines.append(fmt(rows[-1]))
    lat = f"latency {t['latency_ms']:.3f} ms at {doc['clock_mhz']:g} MHz" if t["latency_ms"] is not None else \
        f"latency {t['cycles']:,.0f} cycles (no clock_mhz given)"
    lines.append(f"{lat}: cycles are the {doc['cycles_are']}")
    if sparse:
        sim_def = "sparse sim = simulated cycles of the same nest on those words and cycles; " if sparse_sim else ""
        lines.append(f"sparse: {doc['sparse_spec']}; {capacity_note(doc)}; effMAC% = MACs neither gated nor skipped; "
                     f"sparse cycles = the "
                     f"latency bound of the compressed words (data + metadata + gated) with skipped MACs' cycles and "
                     f"load imbalance; {sim_def}sparse uJ = data, metadata and gated actions priced by the energy table; "
                     f"sparse {top}/MAC = compressed {top} words (data + metadata) per dense MAC" + dense_note(t["sparse"]))
        lines += sparse_detail(doc["layers"])
    lines += fit_footer(doc["layers"])
    return "\n".join(lines)


def _sparse_cells(l: dict, top: str, sim: bool) -> list[str]:
    sp = l.get("sparse")
    if sp is None:
        return ["-"] * (5 if sim else 4)
    return [f"{100 * sp['effective_macs'] / l['macs']:.1f}", _human(sp["bound_cycles"]),
            *([_human(sp["sim_cycles"])] if sim else []), f"{sp['energy_pj'] / 1e6:.1f}",
            f"{(sp['levels'][top]['data'] + sp['levels'][top]['metadata']) / l['macs']:.4f}"]


def _sparse_total_cells(t: dict, top: str, sim: bool) -> list[str]:
    ts = t["sparse"]
    per_mac = ts.get(f"{top}_accesses_per_mac")
    return [f"{100 * ts['effective_macs'] / t['macs']:.1f}" if t["macs"] else "-", _human(ts["bound_cycles"]),
            *([_human(ts["sim_cycles"])] if sim else []),
            f"{ts['energy_pj'] / 1e6:.1f}", f"{per_mac:.4f}" if per_mac is not None else "-"]


def layers_csv(doc: dict) -> str:
    parts = doc["energy_parts"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    sp_head, sp_rows = sparse_csv(doc["layers"])
    w.writerow(["name", "kind", "macs", "cycles", "ideal_cycles", "active_pes", "utilization", "energy_pj",
                "energy_per_mac_pj", *(f"energy_{p}_pj" for p in parts), "mapping", *sp_head])
    for l, sp_row in zip(doc["layers"], sp_rows):
        w.writerow([l["name"], l["kind"], l["macs"], f"{l['cycles']:.6g}", l["ideal_cycles"], l["active_pes"],
                    f"{l['utilization']:.6f}", f"{l['energy_pj']:.6g}",
                    f"{l['energy_pj'] / l['macs']:.6g}" if l["macs"] else "",
                    *(f"{l['energy_breakdown_pj'].get(p, 0.0):.6g}" for p in parts), l["mapping"] or "", *sp_row])
    return buf.getvalue()


LAYER_HEADER = "# layer "             # mapping.txt: each layer's section starts "# layer NAME (SOURCE): PROBLEM"
_HEADER = re.compile(r"^# layer (?P<name>.+?) \((?P<source>[a-z, -]+)\): (?P<rest>.*)$")
NO_MAPPING = "bandwidth-only layer: no mapping"


def mapping_text(run: HierarchyRun) -> str:
    """mapping.txt: per layer a header line and its nest's Timeloop-style print (read back by
    :func:`read_mapping_text`, so a run's mapping.txt can be given to ``--mapping``)."""
    parts = []
    for lr in run.layers:
        p = lr.item.problem
        parts.append(f"{LAYER_HEADER}{lr.item.name} ({lr.mapping_source}): "
                     + (p.describe() if p is not None else NO_MAPPING))
        if p is not None and lr.nest is not None:
            parts.append(loop_nest_text(p, lr.nest))
        parts.append("")
    return "\n".join(parts)


def is_mapping_text(text: str) -> bool:
    """Whether ``text`` is a mapping.txt (some line is a layer header), not a YAML nest file."""
    return any(_HEADER.match(line) for line in text.splitlines() if line.startswith(LAYER_HEADER))


def read_mapping_text(text: str, source: str) -> dict[str, str]:
    """{layer name: its nest's printed text} from a mapping.txt (:func:`mapping_text`); layers
    without MACs are left out. Text before the first header is an error naming the line."""
    out: dict[str, str] = {}
    name: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line) if line.startswith(LAYER_HEADER) else None
        if m is not None:
            name = m.group("name")
            if name in out:
                raise ConfigError(f"layer {name!r} appears twice", source=source, key=f"line {n}")
            if m.group("rest") != NO_MAPPING:
                out[name] = ""
            continue
        if name is None:
            if line.strip():
                raise ConfigError(f"expected a '{LAYER_HEADER}NAME (SOURCE): ...' line first, got {line.strip()!r}",
                                  source=source, key=f"line {n}")
            continue
        if name in out:
            out[name] += line + "\n"
    return out


def write_outputs(run: HierarchyRun, doc: dict, out_dir: Path) -> list[Path]:
    """stats.json, layers.csv, mapping.txt in ``out_dir``, as one set (accelsim.atomic.write_all)."""
    from accelsim.atomic import write_all
    from accelsim.report import to_json

    files = {"stats.json": to_json(doc), "layers.csv": layers_csv(doc), "mapping.txt": mapping_text(run)}
    return write_all({Path(out_dir) / name: text for name, text in files.items()})


__all__ = ["CYCLES_ARE", "CYCLES_SIMULATED", "top_stall", "accesses", "compact", "layers_csv", "mapping_text", "parts_of", "stats", "table",
           "write_outputs"]
