"""A transformer (``accelsim.attention.transformer``) on a hierarchy, node by node, with a named
attention dataflow (``unfused``, ``flat``, ``fusemax``: ``accelsim.attention.model``); no search.

Per node (one kernel, layer by layer: inputs from DRAM, output to DRAM), an action table
(``accelsim.attention.movement``) and cycles:
- a GEMM runs under the hierarchy dataflow's named mapping (``dataflows.nest_rule``, the same
  mapping ``accelsim run`` gives the GEMM alone), or with ``search`` the general mapper's
  (``pipeline_hierarchy.search_layer``, as ``accelsim run --search``): counts from ``count_actions``, cycles the latency
  bound over the hierarchy (``cost.bound.bound_parts``: compute, every level's and network's
  bandwidth), its limit the part that sets it (``compute`` named as the array);
  ``ideal_cycles`` keeps the ideal cost (compulsory DRAM words, all array units busy) to compare;
- a vector op runs on the vector unit (the MAC array without one), one op per point
  (``accelsim.vector_ops``), its words streamed once; cycles: the same bound (``bound_parts``: the
  unit's ops over its lanes, every level's and network's bandwidth);
- the attention is the chosen dataflow's result (its own phases, each bounded by ``bound_parts``),
  its einsums under the GEMMs' mapping; an imported attention's ``fused`` ops (scale, mask add) are
  added after it (:func:`_with_fused`).
Nodes run in sequence. Energy: the nodes' action tables added (``cost.actions.add_actions``) and
priced once by ``cost.energy.energy_of`` with the hierarchy's table (``energy``); per node the same
sum over its own table.

Invariants: MACs summed over nodes = ``transformer.macs``; DRAM words and op counts are exact
integers; a node's DRAM words are the DRAM rows of its action table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.model import Machine, Plan, evaluate, machine
from accelsim.attention.movement import dram_words, gemm_actions, named_nests, vector_actions
from accelsim.attention.transformer import Node, TransformerSpec, network
from accelsim.cost.actions import Actions, add_actions, streamed_actions
from accelsim.cost.bound import COMPUTE_PART, bound_parts
from accelsim.cost.energy import EnergyBreakdown, energy_of
from accelsim.energy_table import table_for
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest
from accelsim.names import PSUM, READ, UPDATE
from accelsim.problem import Problem
from accelsim.vector_ops import VectorOp


@dataclass(frozen=True)
class NodeResult:
    name: str
    kind: str                    # gemm, attention[<dataflow>] or the vector op's kind
    macs: int
    ops: dict                    # (unit name, op) -> count
    dram_words: int
    cycles: int
    limit: str
    busy: dict
    actions: Actions | None = None
    ideal_cycles: int = 0        # GEMMs: the ideal cost (compulsory words, every unit busy); others: cycles
    energy_pj: float = 0.0
    plan: Plan | None = None     # an attention node's tiling (``model.Plan``): what the dataflow used


@dataclass(frozen=True)
class BlockResult:
    name: str
    dataflow: str
    machine: Machine
    nodes: tuple[NodeResult, ...]
    spec: TransformerSpec | None = None      # None: nodes from elsewhere (an ONNX import)
    energy: EnergyBreakdown | None = None    # the nodes' action tables priced once (energy_of)
    mapping: str = ""                        # the GEMMs' mapping: "named <dataflow>"

    @property
    def cycles(self) -> int:
        return sum(n.cycles for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def dram_words(self) -> int:
        return sum(n.dram_words for n in self.nodes)

    def ops(self) -> dict:
        out: dict = {}
        for n in self.nodes:
            for k, v in n.ops.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def ideal_cycles(self) -> int:
        """Cycles with every GEMM at its ideal cost (the attention and vector nodes as they are)."""
        return sum(n.ideal_cycles for n in self.nodes)

    @property
    def utilization(self) -> float:
        return self.macs / self.machine.array_units / self.cycles


def _busy(acts: Actions, h: Hierarchy, m: Machine) -> tuple[dict, str]:
    """(bound part -> cycles rounded up, zero parts left out; the part that sets the latency) of an
    action table by ``cost.bound.bound_parts``, ``compute`` named as the array."""
    parts = bound_parts(acts, h)
    busy = {(m.array if k == COMPUTE_PART else k): ceil(v) for k, v in parts.items() if v}
    return busy, max(sorted(busy), key=lambda k: busy[k])


def _ideal(w: Problem, h: Hierarchy, m: Machine) -> int:
    """The GEMM's ideal cycles: every array unit busy, and only its compulsory DRAM words (inputs read,
    output written once), by the same bound."""
    top = h.levels[0].name
    storage: dict = {}
    for t in w.tensors:
        key = (top, PSUM, UPDATE) if t.role == PSUM else (top, t.role, READ)
        storage[key] = storage.get(key, 0) + w.elements(t.role)
    busy, limit = _busy(Actions(w.macs, ceil(w.macs / m.array_units), 0, storage, {}), h, m)
    return busy[limit]


def _node(m: Machine, h: Hierarchy, node: Node, dataflow: str, nest_of, cache: dict) -> NodeResult:
    w = node.work
    key = (type(w).__name__, w if isinstance(w, AttentionShape) else (w.dims, getattr(w, "tensors", None),
                                                                       getattr(w, "op", None)))
    if isinstance(w, AttentionShape):
        if key not in cache:
            r = evaluate(h, w, dataflow, nest_of)
            cache[key] = (r, r.actions)
        r, acts = cache[key]
        if not node.fused:
            return NodeResult(node.name, f"attention[{dataflow}]", r.macs, r.ops, r.dram_words, r.cycles, r.limit,
                              r.busy(), acts, r.cycles, plan=_tiled(r))
        return _with_fused(m, h, node, r, acts, dataflow)
    if isinstance(w, Problem):
        if key not in cache:
            acts = gemm_actions(w, h, nest_of(w))
            cache[key] = (acts, *_busy(acts, h, m), _ideal(w, h, m))
        acts, busy, limit, ideal_cycles = cache[key]
        return NodeResult(node.name, "gemm", w.macs, {(m.array, "mac"): w.macs}, dram_words(acts, h), busy[limit],
                          limit, busy, acts, ideal_cycles)
    assert isinstance(w, VectorOp)
    acts = vector_actions(w, h)
    busy, limit = _busy(acts, h, m)
    return NodeResult(node.name, w.op, 0, {(m.vector, w.op): w.ops}, dram_words(acts, h), busy[limit], limit, busy,
                      acts, busy[limit])


def _tiled(r) -> Plan | None:
    """The fused dataflows' tiling (FLAT-style, FuseMax-style); unfused runs whole kernels: None."""
    return None if r.dataflow == "unfused" else r.plan


def _with_fused(m: Machine, h: Hierarchy, node: Node, r, acts: Actions, dataflow: str) -> NodeResult:
    """An attention node with ``fused`` ops on its scores (an ONNX export's scale and mask add): each op
    once per score on the non-MAC unit, its inputs other than the scores ``S`` read from DRAM once at
    their own size (the mask; the scale's one word), the scores staying on chip; its action table
    (``cost.actions.streamed_actions``) added to the dataflow's, its bound cycles after the
    dataflow's (not overlapped: an upper bound)."""
    extra = []
    for f in node.fused:
        words = sum(n for t, n in f.reads().items() if t != "S")
        extra.append(streamed_actions(h, words, 0, {f.op: f.ops}))
    more = add_actions(extra)
    busy_more, _ = _busy(more, h, m)
    busy = dict(r.busy())
    for k, v in busy_more.items():
        busy[k] = busy.get(k, 0) + v
    ops = dict(r.ops)
    for k, v in more.ops.items():
        ops[k] = ops.get(k, 0) + v
    cycles = r.cycles + max(busy_more.values(), default=0)
    return NodeResult(node.name, f"attention[{dataflow}]", r.macs, ops, r.dram_words + dram_words(more, h), cycles,
                      max(sorted(busy), key=lambda k: busy[k]), busy, add_actions([acts, more]), cycles, plan=_tiled(r))


def searched_nests(h: Hierarchy, search):
    """(mapping label, problem -> the nest the general mapper finds for it: the hierarchy pipeline's
    ``search_layer``, started from the named mapping so never worse than it), searched once per shape."""
    from accelsim.pipeline_hierarchy import flow_for, search_layer
    from workloads.problems import ProblemLayer

    flow = flow_for(h, None, False)
    table = table_for(h)
    memo: dict = {}

    def nest_of(p: Problem) -> LoopNest:
        k = (p.dims, tuple((t.role, t.coords) for t in p.tensors))
        if k not in memo:
            memo[k] = search_layer(ProblemLayer(p.name, "gemm", p), h, flow, search, table).nest
        return memo[k]

    return f"searched ({search.objective}, budget {search.budget:,}, seed {search.seed})", nest_of


def run_nodes(h: Hierarchy, nodes: list[Node], dataflow: str, name: str,
              spec: TransformerSpec | None = None, search=None, arch=None) -> BlockResult:
    """``search`` (a ``mapper.search.SearchSpec``): the GEMMs and the attention einsums are mapped by the
    general mapper (:func:`searched_nests`) instead of the named mapping; ``arch``: the fixed-shape arch
    ``h`` was converted from, whose fixed path maps the batched matmuls (``movement.named_nests``)."""
    m = machine(h)
    label, nest_of = named_nests(h, arch=arch) if search is None else searched_nests(h, search)
    cache: dict = {}
    out = [_node(m, h, n, dataflow, nest_of, cache) for n in nodes]
    table = table_for(h)
    priced: dict = {}
    for i, n in enumerate(out):
        assert n.actions is not None
        k = id(n.actions)
        if k not in priced:
            priced[k] = energy_of(n.actions, h, table).total_pj
        out[i] = replace(n, energy_pj=priced[k])
    total = energy_of(add_actions([n.actions for n in out if n.actions is not None]), h, table)
    return BlockResult(name, dataflow, m, tuple(out), spec, total, label)


def run_network(h: Hierarchy, spec: TransformerSpec, dataflow: str, search=None) -> BlockResult:
    return run_nodes(h, network(spec), dataflow, spec.name, spec, search)
