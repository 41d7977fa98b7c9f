"""The network mapper: where to cut a workload graph into fused groups, and each group's tile,
overlap mode and intermediate level, for energy, latency or EDP under that level's capacity.

The target is a fixed-shape arch (``accelsim.arch``; its level list ``hierarchy.from_arch``) or a
level-list hierarchy (``accelsim.hierarchy``). Layer by layer is always a candidate: a group of one
node costs exactly what the node costs alone, so the plan found is never worse than running every
node alone. The plan is a shortest path over the graph's node order (dynamic programming over cut
points); a run of consecutive nodes is a candidate group when ``accelsim.fused.check_group`` accepts
it and some tile fits some level (``accelsim.fused.check_level``).

A lone node: a fixed-shape arch runs its dataflow's named mapping on the fixed path (``evaluate``;
latency the fixed shape's bound ``cost.bound.latency_bound``); a hierarchy runs the dataflow's rule
(``dataflows.nest_rule.build``) through ``count_actions``, ``energy_of`` and ``hierarchy_bound``; a
vector op is streamed (``cost.actions.streamed_actions`` on a hierarchy), its ops
(``Layer.vector_op_counts``) priced and timed on the vector unit, else the MAC array.

A fused group, all counted exactly: DRAM words from its counts (``accelsim.cost.fused``), each
priced as a DRAM read and a fill of the level (a DRAM write: a drain of the level and a DRAM
update; levels between DRAM and the group's level are bypassed); below the level every layer's own
inner mapping on each tile (``accelsim.cost.fused_levels``: the dataflow's rule on the tile problem),
so the group's energy is ``energy_of`` over those words plus the layers' tile tables. Latency: the
layers' tile bounds summed (tiles run one after another; with ``cores`` instances of the level the
slowest core's tiles), or the DRAM words at the backing store's bandwidth, whichever is larger
(tiles double buffered). EDP: the path minimises ``energy / E0 + latency / L0`` (E0, L0: layer by
layer), first order in EDP, and the plan is kept only when its EDP beats layer by layer.

Attention (``accelsim.attention.plan``, on the target's level list, fixed-shape or hierarchy): a
graph's Q.K^T -> softmax -> A.V run is a candidate group priced by each attention dataflow (unfused,
FLAT-style, FuseMax-style); the objective picks one, against running the three nodes alone, like any
group.

Levels: every storage level below the backing store that keeps ifmap, weight and psum (the
intermediates are one layer's psum and the next one's ifmap; the inner mappings read weights from
it) is a candidate; the cheapest level whose capacity holds the group's peak wins. Cores: the best
tile, mode and level on all instances of the level is then tried on half, a quarter, ... down to one
instance (``_core_counts``; the others idle for the group), and kept if it scores better.

Seeded and budgeted: ``budget`` group evaluations in all; when a run has more candidate tiles than
its share, a ``random.Random(seed)`` sample of them is scored (the whole-layer tile always is).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from accelsim.cost.actions import Actions, count_actions, streamed_actions
from accelsim.cost.bound import hierarchy_bound, latency_bound
from accelsim.cost.energy import energy_of
from accelsim.cost.fused import GroupCounts, count_group
from accelsim.cost.fused_levels import LayerLevels, add_actions, level_counts, rule_nest
from accelsim.energy_table import EnergyTable, arch_table, table_for
from accelsim.errors import ConfigError
from accelsim.fused import MODES, FusedGroup, check_group, fusable_levels, level_instances, level_words
from accelsim.hierarchy import Hierarchy, from_arch
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, IFMAP, PSUM, READ, UP, UP_SRC, UPDATE, WEIGHT

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
    levels: tuple[LayerLevels, ...] = ()   # a fused group: each layer's exact counts below its level
    attention: str | None = None     # an attention group: the dataflow chosen (accelsim.attention.plan)

    def as_dict(self) -> dict:
        out = {"layers": list(self.group.layers), "fused": self.counts is not None,
               "energy_pj": self.cost.energy_pj, "cycles": self.cost.cycles, "dram_words": self.cost.dram_words,
               "layer_by_layer": {"energy_pj": self.alone.energy_pj, "cycles": self.alone.cycles,
                                  "dram_words": self.alone.dram_words},
               "why_cut": self.why_cut, "per_layer_alone": dict(self.alone_dram)}
        if self.counts is not None:
            out.update(tile=[self.group.rows, self.group.cols, self.group.batch], mode=self.group.mode,
                       level=self.group.level, cores=self.group.cores,
                       weights_resident=self.group.weights_resident, peak_words=self.counts.peak,
                       capacity_words=self.counts.capacity_total, macs=self.counts.macs,
                       dram_by_layer=dict(self.counts.dram_by_layer),
                       inner_words={lv.name: _words_by_level(lv.actions) for lv in self.levels})
        elif self.attention is not None:
            out.update(fused=True, attention_dataflow=self.attention)
        else:
            out["dram_by_layer"] = {self.group.layers[0]: self.cost.dram_words}
        return out


def _words_by_level(a: Actions) -> dict:
    """Words per storage level (all its actions) and per network (``LEVEL.net``: words delivered)."""
    out: dict[str, int] = {}
    for (lv, _, _), n in a.storage.items():
        out[lv] = out.get(lv, 0) + n
    for (lv, _, act), n in a.network.items():
        if act in ("down_dest", "up_src"):
            out[f"{lv}.net"] = out.get(f"{lv}.net", 0) + n
    return out


@dataclass(frozen=True)
class NetworkPlan:
    groups: tuple[PlannedGroup, ...]
    objective: str
    evaluated: int
    glb_words: float                 # capacity of the largest candidate level (words; inf: unbounded)

    def total(self, attr: str, baseline: bool = False) -> float:
        return sum(getattr(g.alone if baseline else g.cost, attr) for g in self.groups)

    def as_dict(self) -> dict:
        return {"objective": self.objective, "evaluated": self.evaluated, "glb_words": self.glb_words,
                "energy_pj": self.total("energy_pj"), "cycles": self.total("cycles"),
                "dram_words": self.total("dram_words"),
                "layer_by_layer": {"energy_pj": self.total("energy_pj", True), "cycles": self.total("cycles", True),
                                   "dram_words": self.total("dram_words", True)},
                "groups": [g.as_dict() for g in self.groups]}


@dataclass(frozen=True)
class Target:
    """What the mapper maps onto: the level list, its energy table, the dataflow, and the fixed-shape
    arch when it was given one (lone nodes then keep the fixed path)."""

    hierarchy: Hierarchy
    table: EnergyTable
    flow: Any
    arch: Any = None

    @property
    def dram_words_per_cycle(self) -> float:
        top = self.hierarchy.levels[0]
        bw = top.bandwidth if top.bandwidth is not None else top.read_bandwidth
        return float("inf") if bw is None else bw


def target_of(arch, dataflow: str | None = None) -> Target:
    """A fixed-shape arch or a level-list hierarchy as a :class:`Target`."""
    from dataflows import registry

    if isinstance(arch, Hierarchy):
        name = dataflow or arch.dataflow
        if name is None:
            raise ConfigError(f"hierarchy {arch.name!r} names no dataflow: give one (--dataflow)", source=arch.source)
        return Target(arch, table_for(arch), registry.get(name))
    return Target(from_arch(arch), arch_table(arch), registry.get(dataflow or arch.dataflow), arch)


def _latency(compute: float, dram_words: float, target: Target) -> float:
    return max(compute, dram_words / target.dram_words_per_cycle)


def _top_words(a: Actions, top: str) -> int:
    return sum(n for (lv, _, _), n in a.storage.items() if lv == top)


def node_costs(graph, arch, dataflow: str | None = None) -> dict[str, NodeCost]:
    """Every node run alone (module docstring). ``arch``: a fixed-shape arch, a hierarchy or a Target."""
    target = arch if isinstance(arch, Target) else target_of(arch, dataflow)
    h = target.hierarchy
    top = h.levels[0].name
    out = {}
    for node in graph.nodes:
        if target.arch is not None:
            from accelsim.cost.model import evaluate

            result = evaluate(node, target.arch, target.flow.named(node, target.arch) if node.kind.has_macs
                              else None)  # type: ignore[arg-type]
            c = result.counts
            words = int(sum(c.reads[0]) + sum(c.writes[0]))
            out[node.name] = NodeCost(node.name, result.energy_pj,
                                      _latency(latency_bound(c, target.arch), words, target), words)
            continue
        if node.kind.has_macs:
            from accelsim.problem import from_layer
            from dataflows.nest_rule import build

            problem = from_layer(node)
            actions = count_actions(problem, h, build(target.flow.rule, problem, h, target.flow.name))
        else:
            actions = streamed_actions(h, node.ifmap_elems, node.output_elems, node.vector_op_counts)
        words = _top_words(actions, top)
        out[node.name] = NodeCost(node.name, energy_of(actions, h, target.table).total_pj,
                                  _latency(hierarchy_bound(actions, h), words, target), words)
    return out


def group_actions(counts: GroupCounts, hierarchy: Hierarchy) -> Actions:
    """The words a fused group moves between DRAM and its level, as an action table: each DRAM read
    a read of the backing store (``.weight`` tensors as weight, the group's input and outside operands
    as ifmap) and a fill of the level, each DRAM write a drain of the level and an update of the
    backing store (psum); every network between them carries each word once (down and down_dest,
    up and up_src), except resident weights with ``cores`` > 1: read once, multicast to every core
    (down_dest and the level's fills x cores). Levels between DRAM and the group's level are
    bypassed. MACs are 0: they are in the layers' tile tables."""
    top, level = hierarchy.levels[0].name, counts.group.level
    nets = [hierarchy.levels[i].name for i, _ in hierarchy.fanouts if i < hierarchy.index(level)]
    storage: dict[tuple[str, str, str], int] = {}
    network: dict[tuple[str, str, str], int] = {}

    def add(table: dict, key: tuple[str, str, str], n: int) -> None:
        table[key] = table.get(key, 0) + n

    for name, n in counts.dram_reads.items():
        role = WEIGHT if name.endswith(".weight") else IFMAP
        spread = counts.group.cores if role == WEIGHT and counts.group.weights_resident else 1
        add(storage, (top, role, READ), n)
        add(storage, (level, role, FILL), n * spread)
        for net in nets:
            add(network, (net, role, DOWN), n)
            add(network, (net, role, DOWN_DEST), n * spread)
    for n in counts.dram_writes.values():
        add(storage, (level, PSUM, DRAIN), n)
        add(storage, (top, PSUM, UPDATE), n)
        for net in nets:
            add(network, (net, PSUM, UP), n)
            add(network, (net, PSUM, UP_SRC), n)
    return Actions(0, 0, 0, storage, network)


def group_cost(counts: GroupCounts, levels: tuple[LayerLevels, ...], target: Target) -> NodeCost:
    """The group's words (:func:`group_actions`) and its layers' tile tables, priced by the one energy
    sum (``cost.energy.energy_of``); latency as the module docstring says."""
    total = group_actions(counts, target.hierarchy)
    for lv in levels:
        total = add_actions(total, lv.actions)
    energy = energy_of(total, target.hierarchy, target.table).total_pj
    compute = max(map(sum, zip(*(lv.cycles_by_core for lv in levels))), default=0.0)   # the slowest core
    words = counts.dram_words
    return NodeCost("+".join(counts.group.layers), energy, _latency(compute, words, target), words)


def _core_counts(instances: int) -> tuple[int, ...]:
    """Cores a group may use: all instances of its level, then halved down to 1 (4: 4, 2, 1). Fewer
    cores fetch and recompute fewer block-edge halos and multicast resident weights to fewer cores,
    for a longer latency."""
    out = [instances]
    while out[-1] > 1:
        out.append(out[-1] // 2)
    return tuple(out)


def _tiles(last) -> list[tuple[int, int]]:
    rows = sorted({min(last.P, 1 << k) for k in range(0, last.P.bit_length() + 1)})
    cols = sorted({0} | {q for q in (last.Q // 4, last.Q // 2) if q >= 1})
    return [(r, c) for r in rows for c in cols]


def plan_network(workload, arch, *, objective: str = "energy", budget: int = 20000, seed: int = 0,
                 max_group: int = 6, dataflow: str | None = None) -> NetworkPlan:
    """The plan (module docstring). ``arch``: a fixed-shape arch or a level-list hierarchy."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"fuse.objective: unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    graph = workload.graph
    if graph is None:
        raise ConfigError(f"workload {workload.name!r} carries no graph (no edges); fusion needs one "
                          f"(zoo networks with graphs, YAML with inputs:, ONNX)")
    target = target_of(arch, dataflow)
    h = target.hierarchy
    nest_for = rule_nest(target.flow) if target.flow.rule is not None else None
    levels = fusable_levels(h)
    alone = node_costs(graph, target)
    names = [n.name for n in graph.nodes]
    cap = max((level_words(h, lv) for lv in levels), default=0)
    cap = int(cap) if cap != float("inf") else cap
    e0 = sum(c.energy_pj for c in alone.values())
    l0 = sum(c.cycles for c in alone.values())

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
    cache: dict = {}
    Best = tuple[float, NodeCost, GroupCounts | str, tuple[LayerLevels, ...]]
    best_of: dict[tuple[int, int], Best | str] = {}
    for j, i in runs:
        group_names = tuple(names[j:i + 1])
        try:
            layers = check_group(FusedGroup(group_names), graph)
        except ConfigError as exc:
            best_of[(j, i)] = str(exc)
            continue
        if nest_for is None:
            best_of[(j, i)] = (f"dataflow {target.flow.name!r} has no rule for the layers' inner mappings on a tile "
                               f"(dataflows.nest_rule); it runs layer by layer")
            continue
        if not levels:
            best_of[(j, i)] = (f"no level of {h.name!r} below the backing store keeps ifmap, weight and psum "
                               f"(where a group's intermediates and weights live)")
            continue
        cands = [(r, c, m, w, lv) for r, c in _tiles(layers[-1]) for m in MODES for w in (True, False)
                 for lv in levels]
        if len(cands) > share:
            whole = [(layers[-1].P, 0, "keep", True, levels[0])]
            cands = whole + rng.sample([x for x in cands if x not in whole], share - 1) if share > 1 else whole
        best: Best | None = None
        smallest = None
        tried = [FusedGroup(group_names, rows=r, cols=c, mode=m, level=lv, weights_resident=w,
                            cores=level_instances(h, lv)) for r, c, m, w, lv in cands]
        refined = False
        while tried:
            group = tried.pop(0)
            counts = count_group(group, graph)
            evaluated += 1
            smallest = counts.peak if smallest is None else min(smallest, counts.peak)
            if counts.peak <= level_words(h, group.level):
                inner = level_counts(group, graph, h, nest_for, cache)
                cost = group_cost(counts, inner, target)
                if best is None or score(cost) < best[0]:
                    best = (score(cost), cost, counts, inner)
            if not tried and not refined and best is not None:            # the winner on fewer cores
                refined = True
                won = best[2]
                assert isinstance(won, GroupCounts)
                tried = [replace(won.group, cores=k) for k in _core_counts(won.group.cores)[1:]]
        best_of[(j, i)] = best if best is not None else (
            f"capacity: the smallest tile needs {smallest} words, "
            + ", ".join(f"{lv!r} holds {level_words(h, lv):.0f}" for lv in levels))
    if nest_for is not None or target.arch is not None:     # attention: the dataflow by the objective
        from accelsim.attention.plan import attention_candidates

        for (j, i), costs in attention_candidates(graph, h, target.table, target.flow, target.arch).items():
            if i - j < max_group:
                pick = [(c.dataflow, NodeCost("+".join(names[j:i + 1]), c.energy_pj, c.cycles, c.dram_words))
                        for c in costs]
                if pick:
                    d, acost = min(pick, key=lambda x: (score(x[1]), x[0]))
                    best_of[(j, i)] = (score(acost), acost, d, ())
    # shortest path over cut points
    inf = float("inf")
    dist = [0.0] + [inf] * len(names)
    Choice = tuple[int, NodeCost, GroupCounts | str | None, tuple[LayerLevels, ...]]
    choice: list[Choice] = [(0, alone[names[0]], None, ())] * (len(names) + 1)
    for i in range(len(names)):
        lone = alone[names[i]]
        dist[i + 1], choice[i + 1] = dist[i] + score(lone), (i, lone, None, ())
        for j in range(max(0, i - max_group + 1), i):
            found = best_of.get((j, i))
            if isinstance(found, tuple) and dist[j] + found[0] < dist[i + 1]:
                dist[i + 1], choice[i + 1] = dist[j] + found[0], (j, found[1], found[2], found[3])
    picked: list[tuple[int, int, Choice]] = []
    i = len(names)
    while i > 0:
        ch = choice[i]
        picked.append((ch[0], i - 1, ch))
        i = ch[0]
    picked.reverse()
    groups = []
    for j, i, (_, cost, chosen, inner) in picked:
        attention = chosen if isinstance(chosen, str) else None
        planned = None if isinstance(chosen, str) else chosen
        group = planned.group if planned is not None else FusedGroup(tuple(names[j:i + 1]))
        base = NodeCost("+".join(names[j:i + 1]), sum(alone[n].energy_pj for n in names[j:i + 1]),
                        sum(alone[n].cycles for n in names[j:i + 1]),
                        sum(alone[n].dram_words for n in names[j:i + 1]))
        groups.append(PlannedGroup(group, planned, cost, base, _why(best_of, j, i, names, score(cost), alone, score),
                                   {n: alone[n].dram_words for n in names[j:i + 1]}, inner, attention))
    plan = NetworkPlan(tuple(groups), objective, evaluated, cap)
    if objective == "edp" and plan.total("energy_pj") * plan.total("cycles") > e0 * l0:
        return _layer_by_layer(names, alone, objective, evaluated, cap)
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
    cut = here + score(alone[nxt])
    how = (f"attention {found[2]}" if isinstance(found[2], str) else
           f"tile {found[2].group.rows}x{found[2].group.cols or 'Q'} {found[2].group.mode}")
    return (f"cost: with {nxt!r} the best group scores {found[0]:.4g} ({how}) vs {cut:.4g} cut here (this group + "
            f"{nxt!r} alone); the path picks the cheapest cuts over the whole network")


def _layer_by_layer(names, alone, objective, evaluated, glb) -> NetworkPlan:
    groups = tuple(PlannedGroup(FusedGroup((n,)), None, alone[n], alone[n], "layer by layer (EDP)",
                                {n: alone[n].dram_words}) for n in names)
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
