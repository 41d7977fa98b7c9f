"""The network mapper: where to cut a workload graph into fused groups, and each group's tile and
overlap mode, for energy, latency or EDP under the GLB's capacity.

Layer by layer is always a candidate: a group of one node costs exactly what the node costs alone
(its mapping's own counts), so the plan found is never worse than running every node alone. The
plan is a shortest path over the graph's node order (dynamic programming over cut points); a run
of consecutive nodes is a candidate group when ``accelsim.fused.check_group`` accepts it and some
tile fits the GLB.

Cost of a fused group (docs/fusion.md): its exact counts (``accelsim.cost.fused``) for DRAM and the
intermediate level; below that each layer's own inner mapping (the dataflow's named mapping of the
whole layer) scaled by the layer's recomputation ratio (computed / output elements), an estimate;
DRAM energy from the group's words, intermediates written once at the GLB (both priced by the one
energy sum, ``cost.energy.energy_of``, with the arch's table). Latency: compute cycles
(scaled the same way) or DRAM words at the arch's bandwidth, whichever is larger (tiles double
buffered). A lone node: its own latency the same way. EDP: the path minimises
``energy / E0 + latency / L0`` (E0, L0: layer by layer), first order in EDP, and the plan is kept
only when its EDP beats layer by layer.

Attention (``accelsim.attention.plan``): a graph's Q.K^T -> softmax -> A.V run is a candidate group
priced by each attention dataflow (unfused, FLAT-style, FuseMax-style); the objective picks one,
against running the three nodes alone, like any group.

Seeded and budgeted: ``budget`` group evaluations in all; when a run has more candidate tiles than
its share, a ``random.Random(seed)`` sample of them is scored (the whole-layer tile always is).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from accelsim.cost.actions import Actions
from accelsim.cost.energy import energy_of
from accelsim.cost.fused import GroupCounts, count_group
from accelsim.cost.model import LayerResult, arch_hierarchy, evaluate
from accelsim.energy_table import arch_table
from accelsim.errors import ConfigError
from accelsim.fused import MODES, FusedGroup, check_group
from accelsim.names import DRAM, GLB, IFMAP, PSUM, READ, UPDATE, WEIGHT

OBJECTIVES = ("energy", "latency", "edp")


@dataclass(frozen=True)
class NodeCost:
    name: str
    energy_pj: float
    cycles: float
    dram_words: int


@dataclass(frozen=True)
class PlannedGroup:
    group: FusedGroup
    counts: GroupCounts | None       # None for a lone node (layer by layer)
    cost: NodeCost
    alone: NodeCost                  # the same nodes run layer by layer
    why_cut: str                     # why the group ends where it does
    alone_dram: dict                 # node -> its DRAM words run alone
    attention: str | None = None     # an attention group: the dataflow chosen (accelsim.attention.plan)

    def as_dict(self) -> dict:
        out = {"layers": list(self.group.layers), "fused": self.counts is not None,
               "energy_pj": self.cost.energy_pj, "cycles": self.cost.cycles, "dram_words": self.cost.dram_words,
               "layer_by_layer": {"energy_pj": self.alone.energy_pj, "cycles": self.alone.cycles,
                                  "dram_words": self.alone.dram_words},
               "why_cut": self.why_cut, "per_layer_alone": dict(self.alone_dram)}
        if self.counts is not None:
            out.update(tile=[self.group.rows, self.group.cols, self.group.batch], mode=self.group.mode,
                       weights_resident=self.group.weights_resident, peak_words=self.counts.peak,
                       capacity_words=self.counts.capacity_total, macs=self.counts.macs,
                       dram_by_layer=dict(self.counts.dram_by_layer))
        elif self.attention is not None:
            out.update(fused=True, attention_dataflow=self.attention)
        else:
            out["dram_by_layer"] = {self.group.layers[0]: self.cost.dram_words}
        return out


@dataclass(frozen=True)
class NetworkPlan:
    groups: tuple[PlannedGroup, ...]
    objective: str
    evaluated: int
    glb_words: int

    def total(self, attr: str, baseline: bool = False) -> float:
        return sum(getattr(g.alone if baseline else g.cost, attr) for g in self.groups)

    def as_dict(self) -> dict:
        return {"objective": self.objective, "evaluated": self.evaluated, "glb_words": self.glb_words,
                "energy_pj": self.total("energy_pj"), "cycles": self.total("cycles"),
                "dram_words": self.total("dram_words"),
                "layer_by_layer": {"energy_pj": self.total("energy_pj", True), "cycles": self.total("cycles", True),
                                   "dram_words": self.total("dram_words", True)},
                "groups": [g.as_dict() for g in self.groups]}


def _dram_words(result: LayerResult) -> int:
    from accelsim.cost.counts import L_DRAM

    c = result.counts
    return int(sum(c.reads[L_DRAM]) + sum(c.writes[L_DRAM]))


def _latency(compute: float, dram_words: float, arch) -> float:
    return max(compute, dram_words / arch.dram_words_per_cycle)


def node_costs(graph, arch, dataflow: str | None = None) -> dict[str, tuple[LayerResult, NodeCost]]:
    """Every node run alone: a MAC layer with the dataflow's named mapping, a vector op streamed."""
    from dataflows import registry

    flow = registry.get(dataflow or arch.dataflow)
    out = {}
    for node in graph.nodes:
        result = evaluate(node, arch, flow.named(node, arch) if node.kind.has_macs else None)  # type: ignore[arg-type]
        words = _dram_words(result)
        out[node.name] = (result, NodeCost(node.name, result.energy_pj, _latency(result.ideal_cycles, words, arch),
                                           words))
    return out


def group_actions(counts: GroupCounts) -> Actions:
    """The words a fused group moves above its layers' inner mappings, as an action table over the
    fixed shape's levels (``hierarchy.from_arch``): DRAM reads (``.weight`` tensors as weight, the
    group's input and outside operands as ifmap), DRAM writes of outputs (psum updates), and each
    intermediate written once at the GLB (psum update). MACs are 0: they are in the layers' costs."""
    storage: dict[tuple[str, str, str], int] = {}

    def add(key: tuple[str, str, str], n: int) -> None:
        storage[key] = storage.get(key, 0) + n

    for name, n in counts.dram_reads.items():
        add((DRAM, WEIGHT if name.endswith(".weight") else IFMAP, READ), n)
    for n in counts.dram_writes.values():
        add((DRAM, PSUM, UPDATE), n)
    for n in counts.level_writes.values():
        add((GLB, PSUM, UPDATE), n)
    return Actions(0, 0, 0, storage, {})


def group_cost(counts: GroupCounts, alone: dict[str, tuple[LayerResult, NodeCost]], arch) -> NodeCost:
    """Each layer's cost alone without its DRAM part, scaled by its recomputation ratio, plus the
    group's own words (:func:`group_actions`) priced by the one energy sum (``cost.energy.energy_of``)
    with the arch's table."""
    energy = 0.0
    compute = 0.0
    for c in counts.layers:
        result, _ = alone[c.name]
        ratio = c.recompute_ratio
        energy += (result.energy_pj - result.energy_breakdown_pj["dram"]) * ratio
        compute += result.ideal_cycles * ratio
    energy += energy_of(group_actions(counts), arch_hierarchy(arch), arch_table(arch)).total_pj
    words = counts.dram_words
    return NodeCost("+".join(counts.group.layers), energy, _latency(compute, words, arch), words)


def _tiles(last) -> list[tuple[int, int]]:
    rows = sorted({min(last.P, 1 << k) for k in range(0, last.P.bit_length() + 1)})
    cols = sorted({0} | {q for q in (last.Q // 4, last.Q // 2) if q >= 1})
    return [(r, c) for r in rows for c in cols]


def plan_network(workload, arch, *, objective: str = "energy", budget: int = 20000, seed: int = 0,
                 max_group: int = 6, dataflow: str | None = None) -> NetworkPlan:
    if objective not in OBJECTIVES:
        raise ConfigError(f"fuse.objective: unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    graph = workload.graph
    if graph is None:
        raise ConfigError(f"workload {workload.name!r} carries no graph (no edges); fusion needs one "
                          f"(zoo networks with graphs, YAML with inputs:, ONNX)")
    alone = node_costs(graph, arch, dataflow)
    names = [n.name for n in graph.nodes]
    glb = arch.glb_words
    e0 = sum(c.energy_pj for _, c in alone.values())
    l0 = sum(c.cycles for _, c in alone.values())

    def score(c: NodeCost) -> float:
        if objective == "energy":
            return c.energy_pj
        if objective == "latency":
            return c.cycles
        return c.energy_pj / e0 + c.cycles / l0

    rng = random.Random(seed)
    runs = [(j, i) for i in range(len(names)) for j in range(max(0, i - max_group + 1), i)]
    share = max(1, budget // max(1, len(runs)))
    evaluated = 0
    best_of: dict[tuple[int, int], tuple[float, NodeCost, GroupCounts | str] | str] = {}
    for j, i in runs:
        group_names = tuple(names[j:i + 1])
        try:
            layers = check_group(FusedGroup(group_names), graph)
        except ConfigError as exc:
            best_of[(j, i)] = str(exc)
            continue
        cands = [(r, c, m, w) for r, c in _tiles(layers[-1]) for m in MODES for w in (True, False)]
        if len(cands) > share:
            whole = [(layers[-1].P, 0, "keep", True)]
            cands = whole + rng.sample([x for x in cands if x not in whole], share - 1) if share > 1 else whole
        best = None
        smallest = None
        for r, c, m, w in cands:
            counts = count_group(FusedGroup(group_names, rows=r, cols=c, mode=m, weights_resident=w), graph)
            evaluated += 1
            smallest = counts.peak if smallest is None else min(smallest, counts.peak)
            if counts.peak > glb:
                continue
            cost = group_cost(counts, alone, arch)
            if best is None or score(cost) < best[0]:
                best = (score(cost), cost, counts)
        best_of[(j, i)] = best if best is not None else (
            f"capacity: the smallest tile needs {smallest} words, the GLB holds {glb}")
    from accelsim.attention.plan import attention_candidates

    for (j, i), costs in attention_candidates(graph, arch).items():     # attention: the dataflow by the objective
        if i - j < max_group:
            pick = [(c.dataflow, NodeCost("+".join(names[j:i + 1]), c.energy_pj, c.cycles, c.dram_words))
                    for c in costs]
            if pick:
                d, cost = min(pick, key=lambda x: (score(x[1]), x[0]))
                best_of[(j, i)] = (score(cost), cost, d)
    # shortest path over cut points
    inf = float("inf")
    dist = [0.0] + [inf] * len(names)
    choice: list[tuple[int, NodeCost, GroupCounts | str | None]] = [(0, alone[names[0]][1], None)] * (len(names) + 1)
    for i in range(len(names)):
        lone = alone[names[i]][1]
        dist[i + 1], choice[i + 1] = dist[i] + score(lone), (i, lone, None)
        for j in range(max(0, i - max_group + 1), i):
            found = best_of.get((j, i))
            if isinstance(found, tuple) and dist[j] + found[0] < dist[i + 1]:
                dist[i + 1], choice[i + 1] = dist[j] + found[0], (j, found[1], found[2])
    picked: list[tuple[int, int, NodeCost, GroupCounts | str | None]] = []
    i = len(names)
    while i > 0:
        j, cost, chosen = choice[i]
        picked.append((j, i - 1, cost, chosen))
        i = j
    picked.reverse()
    groups = []
    for j, i, cost, chosen in picked:
        attention = chosen if isinstance(chosen, str) else None
        planned = None if isinstance(chosen, str) else chosen
        group = planned.group if planned is not None else FusedGroup(tuple(names[j:i + 1]))
        base = NodeCost("+".join(names[j:i + 1]), sum(alone[n][1].energy_pj for n in names[j:i + 1]),
                        sum(alone[n][1].cycles for n in names[j:i + 1]),
                        sum(alone[n][1].dram_words for n in names[j:i + 1]))
        groups.append(PlannedGroup(group, planned, cost, base, _why(best_of, j, i, names, score(cost),
                                                                   alone, score),
                                   {n: alone[n][1].dram_words for n in names[j:i + 1]}, attention))
    plan = NetworkPlan(tuple(groups), objective, evaluated, glb)
    if objective == "edp" and plan.total("energy_pj") * plan.total("cycles") > e0 * l0:
        return _layer_by_layer(names, alone, objective, evaluated, glb)
    return plan


def _why(best_of, j: int, i: int, names, here: float, alone, score) -> str:
    if i == len(names) - 1:
        return "end of the network"
    nxt = names[i + 1]
    found = best_of.get((j, i + 1))
    if found is None:
        return f"group size limit (adding {nxt!r})"
    if isinstance(found, str):
        return f"adding {nxt!r}: {found}"
    cut = here + score(alone[nxt][1])
    how = (f"attention {found[2]}" if isinstance(found[2], str) else
           f"tile {found[2].group.rows}x{found[2].group.cols or 'Q'} {found[2].group.mode}")
    return (f"cost: with {nxt!r} the best group scores {found[0]:.4g} ({how}) vs {cut:.4g} cut here (this group + "
            f"{nxt!r} alone); the path picks the cheapest cuts over the whole network")


def _layer_by_layer(names, alone, objective, evaluated, glb) -> NetworkPlan:
    groups = tuple(PlannedGroup(FusedGroup((n,)), None, alone[n][1], alone[n][1], "layer by layer (EDP)",
                                {n: alone[n][1].dram_words}) for n in names)
    return NetworkPlan(groups, objective, evaluated, glb)


def tradeoff(group_layers: tuple[str, ...], graph, modes=tuple(MODES)) -> list[dict]:
    """On-chip capacity vs DRAM traffic of one group as the tile varies: for every mode and tile of
    ``_tiles`` (rows x columns of the last layer), the peak words live and the DRAM words."""
    layers = check_group(FusedGroup(group_layers), graph)
    out = []
    for m in modes:
        for r, c in _tiles(layers[-1]):
            counts = count_group(FusedGroup(group_layers, rows=r, cols=c, mode=m), graph)
            out.append({"mode": m, "rows": r, "cols": c, "peak_words": counts.peak,
                        "feature_map_words": counts.feature_map_words, "dram_words": counts.dram_words,
                        "macs": counts.macs})
    return out
