"""Turning a Run into what people read: stats.json (schema accelsim.stats/2), layers.csv,
mapping.txt and the terminal table. Files are written atomically (temp file + rename)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from accelsim import __version__
from accelsim.atomic import atomic_writer
from accelsim.cost.model import ENERGY_PARTS
from accelsim.names import FIT_SOURCE, ROLES
from accelsim.pipeline import LayerRun, Run

SCHEMA = "accelsim.stats/2"
READABLE_SCHEMAS = (SCHEMA, "accelsim.stats/1")   # /2 = /1 plus layers[].actions and hand_written_mappings
STALL_CAUSES = ("dram", "glb", "noc", "fill_drain")


def _layer_dict(lr: LayerRun, arch) -> dict:
    r = lr.result
    layer = r.layer
    d = {
        "name": layer.name,
        "kind": layer.kind.value,
        "shape": {"N": layer.N, "C": layer.C, "K": layer.K, "H": layer.H, "W": layer.W, "R": layer.R, "S": layer.S,
                  "P": layer.P, "Q": layer.Q, "stride": [layer.stride_h, layer.stride_w],
                  "padding": [layer.pad_h, layer.pad_w], "dilation": [layer.dil_h, layer.dil_w],
                  "groups": layer.groups},
        "macs": r.macs,
        "cycles": lr.cycles,
        "ideal_cycles": r.ideal_cycles,
        "mapping_source": lr.mapping_source,
        "active_pes": r.counts.active_pes,
        "utilization": r.macs / (lr.cycles * r.pes) if lr.cycles and r.macs else 0.0,
        "spatial_utilization": r.spatial_utilization,
        "energy_pj": r.energy_pj,
        "energy_breakdown_pj": {p: r.energy_breakdown_pj[p] for p in ENERGY_PARTS},
        "energy_by_tensor_pj": dict(r.energy_by_tensor_pj),
        "accesses": r.counts.as_dict(),
        "noc_transfers": dict(zip(("ifmap", "weight", "psum"), r.counts.noc_transfers)),
        "mapping": r.mapping.compact() if r.mapping is not None else None,
        "mapping_nest": r.mapping.to_dict() if r.mapping is not None else None,
        "actions": _actions(r),
    }
    if lr.sim is not None:
        d["stall_cycles"] = {c: int(lr.sim.stall_cycles.get(c, 0)) for c in STALL_CAUSES}
        d.update(lr.sim.extra_fields() if hasattr(lr.sim, "extra_fields") else {})
    if lr.search is not None:
        found = {"evaluated": lr.search.evaluated, "proposed": lr.search.proposed, "stopped_by": lr.search.stopped_by}
        d["search"] = {**found, "sparse": lr.search.sparse} if lr.search.sparse else found
    if lr.sparse is not None:
        sp = _sparse_dict(lr.sparse)
        if lr.sparse_sim is not None:
            sp["sim_cycles"] = lr.sparse_sim.cycles
            sp["sim_stall_cycles"] = dict(lr.sparse_sim.stall_cycles)
        d["sparse"] = sp
    return d


def _sparse_dict(sl) -> dict:
    """A layer's sparse view (accelsim.sparse): expectations (floats), beside the exact dense counts.
    ``levels``: per storage level, words of data, metadata (data-word equivalents), gated and skipped."""
    a = sl.actions
    levels = list(dict.fromkeys(lv for lv, _, _ in a.data.storage))
    return {"densities": dict(a.densities), "formats": {f"{lv}.{r}": t for (lv, r), t in a.formats.items()},
            "effective_macs": a.effective_macs, "gated_macs": a.gated_macs, "skipped_macs": a.skipped_macs,
            "ideal_cycles": a.cycles, "dense_ideal_cycles": a.dense_cycles,
            "lockstep": a.lockstep, "ideal_cycles_se": a.cycles_se,
            "energy_pj": sl.energy_pj, "dense_energy_pj": sl.dense_energy_pj,
            "energy_breakdown_pj": dict(sl.energy_breakdown_pj),
            "levels": {lv: a.totals(lv) for lv in levels}}


def backing_words(layer: dict, level: str) -> float:
    """A layer's dense words at ``level`` (reads + writes of every tensor), from its ``accesses``."""
    return sum(v["reads"] + v["writes"] for v in layer["accesses"][level].values())


def _sparse_totals(layers: list[dict]) -> dict | None:
    """``totals.sparse``: the network as the sparse run runs it. A layer without a sparse view (no MACs:
    a pool, an eltwise; listed in ``dense_layers``) runs dense, so it adds its dense energy (to
    ``energy_pj`` and ``dense_energy_pj`` alike), ideal cycles, simulated cycles and backing-store
    words; the MAC counts are the sparse views' (such a layer has none)."""
    sp = [l["sparse"] for l in layers if "sparse" in l]
    if not sp:
        return None
    macs = sum(l["macs"] for l in layers)
    first = next(iter(sp[0]["levels"]))      # the backing store (DRAM)

    def words(l: dict) -> float:
        if "sparse" not in l:
            return backing_words(l, first)
        lv = l["sparse"]["levels"][first]
        return lv["data"] + lv["metadata"]

    def total(key: str, dense_key: str) -> float:
        return sum(l["sparse"][key] if "sparse" in l else l[dense_key] for l in layers)

    out = {"effective_macs": sum(s["effective_macs"] for s in sp), "gated_macs": sum(s["gated_macs"] for s in sp),
           "skipped_macs": sum(s["skipped_macs"] for s in sp), "ideal_cycles": total("ideal_cycles", "ideal_cycles"),
           "ideal_cycles_se": math.sqrt(sum(s["ideal_cycles_se"] ** 2 for s in sp)),   # the layers' draws independent
           "energy_pj": total("energy_pj", "energy_pj"), "dense_energy_pj": total("dense_energy_pj", "energy_pj"),
           f"{first}_words": sum(words(l) for l in layers)}
    out[f"{first}_accesses_per_mac"] = out[f"{first}_words"] / macs if macs else None
    if all("sim_cycles" in s for s in sp):
        out["sim_cycles"] = total("sim_cycles", "cycles")
    out["dense_layers"] = [l["name"] for l in layers if "sparse" not in l]
    return out


def capacity_note(doc: dict) -> str:
    """The sparse footer's words on which compressed size the capacity checks took (``sparse_capacity``:
    the spec's ``capacity``, ``expected`` or ``worst``)."""
    from accelsim.sparse.spec import WORST

    mode = doc["sparse_capacity"]
    return "capacity by the " + ("worst-case compressed size (every element nonzero)" if mode == WORST
                                 else f"{mode} compressed size")


def dense_note(ts: dict) -> str:
    """The sparse footer's note on the layers without a sparse view ("" when every layer has one)."""
    n = len(ts.get("dense_layers", ()))
    return (f"; the total's sparse columns count the {n} layer{'s' if n > 1 else ''} without a sparse view "
            f"(no MACs, '-') dense") if n else ""


def _actions(r) -> list[dict]:
    """The layer's labelled action table (docs/core.md), nonzero entries sorted; none for
    bandwidth-only layers (no mapping)."""
    if r.mapping is None:
        return []
    from accelsim.cost.counts import fixed_actions

    a = fixed_actions(r.layer, r.mapping)
    return [{"level": lv, "tensor": t, "action": act, "words": n} for lv, t, act, n in a.table()]


def stats(run: Run) -> dict:
    arch = run.arch
    layers = [_layer_dict(lr, arch) for lr in run.layers]
    macs = sum(l["macs"] for l in layers)
    cycles = sum(l["cycles"] for l in layers)
    energy = sum(l["energy_pj"] for l in layers)
    breakdown = {p: sum(l["energy_breakdown_pj"][p] for l in layers) for p in ENERGY_PARTS}
    totals = {
        "macs": macs,
        "cycles": cycles,
        "ideal_cycles": sum(l["ideal_cycles"] for l in layers),
        "latency_ms": cycles / (arch.clock_mhz * 1e3),
        "energy_pj": energy,
        "energy_per_mac_pj": energy / macs if macs else None,        # null: no MACs to divide by
        "utilization": macs / (cycles * arch.pes) if cycles else 0.0,
        "energy_breakdown_pj": breakdown,
        "dram_accesses_per_mac": sum(backing_words(l, "dram") for l in layers) / macs if macs else None,
    }
    sparse = _sparse_totals(layers)
    if sparse is not None:
        totals["sparse"] = sparse
    if run.simulated:
        totals["stall_cycles"] = {c: sum(l.get("stall_cycles", {}).get(c, 0) for l in layers) for c in STALL_CAUSES}
    spec = run.search
    return {
        "schema": SCHEMA,
        "accelsim_version": __version__,
        "arch": arch.name,
        "arch_file": Path(arch.source).name,
        "workload": run.workload.name,
        "dataflow": run.dataflow,
        "batch": run.batch,
        "clock_mhz": arch.clock_mhz,
        "pes": arch.pes,
        "energy_preset": arch.energy_preset,
        "simulated": run.simulated,
        "search": None if spec is None else {"objective": spec.objective, "budget": spec.budget, "seed": spec.seed,
                                              "time_limit_s": spec.time_limit_s, "refined_by_simulation": run.refined},
        "seed": None if spec is None else spec.seed,
        "hand_written_mappings": list(run.hand_written),
        "sparse_spec": run.sparsity.spec.describe() if run.sparsity is not None else None,
        "sparse_capacity": run.sparsity.spec.capacity if run.sparsity is not None else None,
        "totals": totals,
        "layers": layers,
    }


def _mapping_source(doc: dict) -> str:
    """The header's word for where the mappings came from (without a search)."""
    given = doc.get("hand_written_mappings") or []
    mac_layers = sum(1 for layer in doc["layers"] if layer["macs"])
    if not given:
        return " | named mapping" + fit_suffix(doc["layers"])
    if len(given) >= mac_layers:
        return " | hand-written mapping"
    return f" | hand-written mapping for {', '.join(given)}, named for the rest" + fit_suffix(doc["layers"])


def _fit(layers: list[dict]) -> tuple[list[str], int]:
    """(the layers whose named mapping was cut to fit by compressed size, the layers with a named mapping)."""
    named = [l for l in layers if l["macs"] and l.get("mapping_source") in ("named", FIT_SOURCE)]
    return [l["name"] for l in named if l["mapping_source"] == FIT_SOURCE], len(named)


def fit_suffix(layers: list[dict]) -> str:
    """The table header's note on named mappings cut to fit by compressed size ("" when none was)."""
    cut, named = _fit(layers)
    return f" ({len(cut)} of {named} cut to fit by compressed size)" if cut else ""


def fit_footer(layers: list[dict]) -> list[str]:
    """The table's footer line naming the named mappings cut to fit by compressed size (none when none was)."""
    cut, named = _fit(layers)
    return [f"{len(cut)} of {named} named mappings cut to fit by compressed size "
            f"(accelsim.mapper.sparse_fit): {', '.join(cut)}"] if cut else []


CSV_COLUMNS = ("name", "kind", "macs", "cycles", "ideal_cycles", "active_pes", "utilization", "energy_pj",
               "energy_per_mac_pj", *(f"energy_{p}_pj" for p in ENERGY_PARTS),
               *(f"{lv}_{t}_{rw}" for lv in ("dram", "glb", "noc", "rf") for t in ("ifmap", "weight", "psum")
                 for rw in ("reads", "writes")), "mapping")


SPARSE_CSV = ("effective_macs", "gated_macs", "skipped_macs", "ideal_cycles", "sim_cycles", "energy_pj")
SPARSE_WORDS = ("data", "metadata", "gated", "skipped")


def _sparse_levels(views: list[dict]) -> list[str]:
    """Every storage level any layer's sparse view names, in order (a searched nest may bypass a level:
    none of its words there)."""
    return list(dict.fromkeys(lv for v in views for lv in v["levels"]))


def sparse_csv(layers: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The layers.csv columns of a run with sparsity (none without): ``sparse_density_ROLE`` per tensor
    role (the densities the view used), ``sparse_`` + each of :data:`SPARSE_CSV` (``sim_cycles`` empty
    when not simulated), then per storage level its words of data, metadata, gated and skipped
    (``sparse_LEVEL_data`` ...); a layer without a sparse view (no MACs) leaves them empty. Header and
    one row of cells per layer."""
    views = [l.get("sparse") for l in layers]
    if not any(views):
        return [], [[] for _ in layers]
    levels = _sparse_levels([v for v in views if v])
    zero = dict.fromkeys(SPARSE_WORDS, 0.0)
    head = ([f"sparse_density_{r}" for r in ROLES] + [f"sparse_{k}" for k in SPARSE_CSV]
            + [f"sparse_{lv}_{k}" for lv in levels for k in SPARSE_WORDS])
    rows = []
    for v in views:
        if not v:
            rows.append([""] * len(head))
            continue
        rows.append([f"{v['densities'][r]:.6g}" for r in ROLES] + [f"{v[k]:.6g}" if k in v else "" for k in SPARSE_CSV]
                    + [f"{v['levels'].get(lv, zero)[k]:.6g}" for lv in levels for k in SPARSE_WORDS])
    return head, rows


def sparse_detail(layers: list[dict]) -> list[str]:
    """The ``sparse detail`` table printed under a --sparse run's main table: per layer with a sparse
    view the densities it used (``d ROLE``), its effective / gated / skipped MACs, and per storage level
    the compressed words moved there (``LEVEL words``: data + metadata) and of them metadata (``LEVEL
    meta``). Every number is stats.json's ``layers[].sparse`` (none without a sparse view)."""
    views = [(l["name"], l["sparse"]) for l in layers if "sparse" in l]
    if not views:
        return []
    levels = _sparse_levels([v for _, v in views])
    zero = dict.fromkeys(SPARSE_WORDS, 0.0)
    head = ["layer", *(f"d {r}" for r in ROLES), "eff MACs", "gated MACs", "skipped MACs",
            *(f"{lv} {k}" for lv in levels for k in ("words", "meta"))]
    rows = []
    for name, v in views:
        lv_words = [v["levels"].get(lv, zero) for lv in levels]
        rows.append([name, *(f"{v['densities'][r]:.4g}" for r in ROLES),
                     *(_human(v[k]) for k in ("effective_macs", "gated_macs", "skipped_macs")),
                     *(c for w in lv_words for c in (_human(w["data"] + w["metadata"]), _human(w["metadata"])))])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return (["sparse detail: d ROLE = the density used; eff / gated / skipped MACs; per storage level LEVEL words = "
             "compressed words moved there (data + metadata), LEVEL meta = of them metadata (stats.json "
             "layers[].sparse)", fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def layers_csv(doc: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    sp_head, sp_rows = sparse_csv(doc["layers"])
    w.writerow([*CSV_COLUMNS, *sp_head])
    for l, sp_row in zip(doc["layers"], sp_rows):
        row = [l["name"], l["kind"], l["macs"], l["cycles"], l["ideal_cycles"], l["active_pes"],
               f"{l['utilization']:.6f}", f"{l['energy_pj']:.6g}",
               f"{l['energy_pj'] / l['macs']:.6g}" if l["macs"] else "",
               *(f"{l['energy_breakdown_pj'][p]:.6g}" for p in ENERGY_PARTS),
               *(l["accesses"][lv][t][rw] for lv in ("dram", "glb", "noc", "rf") for t in ("ifmap", "weight", "psum")
                 for rw in ("reads", "writes")), l["mapping"] or "", *sp_row]
        w.writerow(row)
    return buf.getvalue()


def mapping_text(run: Run) -> str:
    from dataflows import registry

    describe = registry.get(run.dataflow).describe_mapping
    parts = []
    for lr in run.layers:
        m = lr.result.mapping
        parts.append(f"# layer {lr.result.layer.name}: {lr.result.layer.describe()}")
        own = describe(lr.result.layer, m) if describe is not None and m is not None else None
        if own:
            parts.append(f"# {own}")
        parts.append(m.loop_nest() if m is not None else "(bandwidth-only layer: no mapping)")
        parts.append("")
    return "\n".join(parts)


def _human(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def table(doc: dict) -> str:
    """The per-layer table printed by ``accelsim run``."""
    sim = doc["simulated"]
    head = ["layer", "MACs", "cycles", "util", "energy uJ", "pJ/MAC", "mac%", "rf%", "noc%", "glb%", "dram%",
            "DRAM/MAC"]
    if sim:
        head += ["stall dram", "stall glb", "stall noc", "fill/drain"]
    sparse = "sparse" in doc["totals"]
    sparse_sim = sparse and "sim_cycles" in doc["totals"]["sparse"]
    if sparse:
        head += ["effMAC%", "sparse cycles"] + (["sparse sim"] if sparse_sim else []) + ["sparse uJ", "sparse DRAM/MAC"]
    rows = []
    for l in doc["layers"]:
        e = l["energy_pj"]
        dram = backing_words(l, "dram")
        row = [l["name"], _human(l["macs"]), _human(l["cycles"]), f"{l['utilization']:.2f}", f"{e / 1e6:.1f}",
               f"{e / l['macs']:.2f}" if l["macs"] else "-",
               *(f"{100 * l['energy_breakdown_pj'][p] / e:.0f}" if e else "-" for p in ENERGY_PARTS),
               f"{dram / l['macs']:.4f}" if l["macs"] else "-"]
        if sim:
            st = l.get("stall_cycles", {})
            row += [_human(st.get(c, 0)) for c in STALL_CAUSES]
        if sparse:
            sp = l.get("sparse")
            if sp is None:
                row += ["-"] * (5 if sparse_sim else 4)
            else:
                lv = next(iter(sp["levels"]))
                row += [f"{100 * sp['effective_macs'] / l['macs']:.1f}", _human(sp["ideal_cycles"]),
                        *([_human(sp["sim_cycles"])] if sparse_sim else []), f"{sp['energy_pj'] / 1e6:.1f}",
                        f"{(sp['levels'][lv]['data'] + sp['levels'][lv]['metadata']) / l['macs']:.4f}"]
        rows.append(row)
    t = doc["totals"]
    total = ["total", _human(t["macs"]), _human(t["cycles"]), f"{t['utilization']:.2f}", f"{t['energy_pj'] / 1e6:.1f}",
             f"{t['energy_per_mac_pj']:.2f}" if t["macs"] else "-",
             *(f"{100 * t['energy_breakdown_pj'][p] / t['energy_pj']:.0f}" if t["energy_pj"] else "-" for p in ENERGY_PARTS),
             f"{t['dram_accesses_per_mac']:.4f}" if t["macs"] else "-"]
    if sim:
        total += [_human(t["stall_cycles"][c]) for c in STALL_CAUSES]
    if sparse:
        ts = t["sparse"]
        per_mac = next(v for k, v in ts.items() if k.endswith("_accesses_per_mac"))
        total += [f"{100 * ts['effective_macs'] / t['macs']:.1f}" if t["macs"] else "-", _human(ts["ideal_cycles"]),
                  *([_human(ts["sim_cycles"])] if sparse_sim else []),
                  f"{ts['energy_pj'] / 1e6:.1f}", f"{per_mac:.4f}" if per_mac is not None else "-"]
    rows.append(total)
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = [f"{doc['arch']} | {doc['workload']} (batch {doc['batch']}) | dataflow {doc['dataflow']} | "
             f"{doc['clock_mhz']:g} MHz | {doc['pes']} PEs | energy {doc['energy_preset']}"
             + (f" | search {doc['search']['objective']} budget {doc['search']['budget']} seed {doc['search']['seed']}"
                + (", refined by simulation" if doc["search"].get("refined_by_simulation") else "")
                + (f" (hand-written mapping for {', '.join(doc['hand_written_mappings'])})"
                   if doc.get("hand_written_mappings") else "")
                if doc["search"] else _mapping_source(doc))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines.append(fmt(head))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt(r) for r in rows[:-1]]
    lines.append("  ".join("-" * w for w in widths))
    lines.append(fmt(rows[-1]))
    lines.append(f"latency {t['latency_ms']:.3f} ms at {doc['clock_mhz']:g} MHz"
                 + (" (simulated)" if sim else " (ideal, compute-bound; simulation off)"))
    if sparse:
        lines.append(f"sparse: {doc['sparse_spec']}; {capacity_note(doc)}; effMAC% = MACs neither gated nor skipped; "
                     f"sparse cycles = ideal (compute-bound) cycles with skipping and load imbalance; "
                     + ("sparse sim = simulated cycles of the same schedule on the compressed words (data + metadata "
                        "+ gated) and the sparse cycles; " if sparse_sim else "")
                     + "sparse uJ = data, "
                     "metadata and gated actions priced by the energy table; sparse DRAM/MAC = compressed DRAM "
                     "words (data + metadata) per dense MAC" + dense_note(t["sparse"]))
        lines += sparse_detail(doc["layers"])
    lines += fit_footer(doc["layers"])
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    with atomic_writer(path) as fh:
        fh.write(text)


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def write_outputs(run: Run, doc: dict, out_dir: Path, extra: dict[str, str] | None = None) -> list[Path]:
    """stats.json, layers.csv, mapping.txt (and ``extra`` {file name: text}) in ``out_dir``, as one
    set: a failed write (a full disk) leaves every earlier file as it was."""
    from accelsim.atomic import write_all

    files = {"stats.json": to_json(doc), "layers.csv": layers_csv(doc), "mapping.txt": mapping_text(run),
             **(extra or {})}
    return write_all({Path(out_dir) / name: text for name, text in files.items()})
