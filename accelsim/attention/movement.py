"""Action tables (``cost.actions.Actions``) of transformer nodes on a hierarchy: what each node
computes and moves, the one input to the energy sum (``cost.energy.energy_of``) and the bound.

- GEMM: ``count_actions`` of the GEMM under a loop nest (the dataflow's named mapping): every
  level and network, exact.
- Vector op: streamed once through the first buffer (``cost.actions.streamed_actions``: its inputs
  read and its output written once at DRAM and at the buffer), plus its ops ``(unit, op)``.
- Attention node (an attention dataflow's ``model.Result``), at the dataflow's level of detail, with
  B the on-chip buffer the dataflow tiles into (``model.buffer_index``):

  * DRAM: every word of the result's DRAM table; a read is a ``read`` of the tensor's role
    (:data:`READ_ROLE`: Q ifmap, K and V weight, S and A read back as ifmap), a write a psum ``update``;
  * into and out of B: a DRAM word read is a B ``fill`` when B keeps its role (otherwise it goes to
    the next level keeping it, whose fill the einsum's own rows count), a word written a B psum
    ``drain``; the network of each fanout between DRAM and B carries every DRAM word once
    (``down`` and ``down_dest`` when read, ``up`` and ``up_src`` when written: no multicast);
  * under B, each einsum (QK, AV) as if alone under the named mapping: from its ``count_actions``,
    B's ``read`` and ``update`` rows and every row of the levels and networks below B (its B fills
    and drains and everything above B are the dataflow's DRAM words, above); a tensor the mapping
    streams past B from DRAM although B may keep its role is held in B by the dataflow, so its
    ``read``/``update`` rows above B are B's;
  * each step on the vector unit reads its inputs from B (ifmap ``read``) and writes its output to B
    (psum ``update``), each word once (``VectorOp.reads`` / ``writes``); per-score ops bound to
    the array (FuseMax-style) work on the PEs' operands, without buffer accesses;
  * the MACs and the ops, keyed ``(unit, op)``.

  FuseMax-style keeps its score tile in the PEs; the einsum rows above count it written to B by QK
  and read back by AV, so its buffer traffic here is an upper bound.

Invariants: every count is an exact integer; an attention node's DRAM rows sum to the result's
``dram_words``; a vector node's DRAM rows sum to its input plus output words.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.attention.cascade import VECTOR
from accelsim.attention.model import Result, buffer_index
from accelsim.cost.actions import Actions, add_actions, count_actions, streamed_actions
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, IFMAP, PSUM, READ, UP, UP_SRC, UPDATE, WEIGHT
from accelsim.problem import Problem
from accelsim.vector_ops import VectorOp

READ_ROLE = {"Q": IFMAP, "K": WEIGHT, "V": WEIGHT, "S": IFMAP, "A": IFMAP, "O": PSUM}

NestOf = Callable[[Problem], LoopNest]


def named_nests(h: Hierarchy) -> tuple[str, NestOf]:
    """(mapping label, problem -> the named nest of the hierarchy's dataflow: its rule,
    ``dataflows.nest_rule``, the mapping ``accelsim run`` gives the problem alone), memoised per shape."""
    from dataflows import registry
    from dataflows.nest_rule import build

    if h.dataflow is None:
        raise ConfigError(f"hierarchy {h.name!r} names no dataflow: the transformer's GEMMs are mapped by it "
                          "(dataflow: in the hierarchy YAML)", source=h.source, key="dataflow")
    flow = registry.get(h.dataflow)
    if flow.rule is None:
        raise ConfigError(f"dataflow {flow.name!r} has no rule for level-list hierarchies, so it cannot map the "
                          "transformer's GEMMs", source=h.source, key="dataflow")
    memo: dict = {}

    def nest_of(p: Problem) -> LoopNest:
        k = (p.dims, p.tensors)
        if k not in memo:
            memo[k] = build(flow.rule, p, h, flow.name)
        return memo[k]

    return f"named {flow.name}", nest_of


def gemm_actions(problem: Problem, h: Hierarchy, nest: LoopNest) -> Actions:
    return count_actions(problem, h, nest)


def vector_actions(op: VectorOp, h: Hierarchy, unit: str) -> Actions:
    t = streamed_actions(h, sum(op.reads().values()), op.writes)
    return Actions(0, 0, 0, t.storage, t.network, {(unit, op.op): op.ops})


def _add(table: dict, key: tuple[str, str, str], n: int) -> None:
    if n:
        table[key] = table.get(key, 0) + n


def attention_actions(r: Result, h: Hierarchy, nest_of: NestOf) -> Actions:
    """The attention node's action table (module docstring)."""
    b = buffer_index(h)
    top, buf = h.levels[0].name, h.levels[b]
    storage: dict = {}
    network: dict = {}
    above = [h.levels[i].name for i, _ in h.fanouts if i < b]
    for (tensor, rw), n in sorted(r.dram.items()):
        if rw == "read":
            role = READ_ROLE[tensor]
            _add(storage, (top, role, READ), n)
            if b > 0 and buf.keeps_role(role):
                _add(storage, (buf.name, role, FILL), n)
            for lv in above:
                _add(network, (lv, role, DOWN), n)
                _add(network, (lv, role, DOWN_DEST), n)
        else:
            _add(storage, (top, PSUM, UPDATE), n)
            if b > 0:
                _add(storage, (buf.name, PSUM, DRAIN), n)
            for lv in above:
                _add(network, (lv, PSUM, UP), n)
                _add(network, (lv, PSUM, UP_SRC), n)
    under = {lv.name for lv in h.levels[b + 1:]}
    fan_under = {h.levels[i].name for i, _ in h.fanouts if i >= b}
    for st in r.steps:
        w = st.work
        if isinstance(w, Problem):
            nest = nest_of(w)
            a = count_actions(w, h, nest)
            for (lv, role, act), n in a.storage.items():
                if lv in under or (lv == buf.name and act in (READ, UPDATE)):
                    _add(storage, (lv, role, act), n)
                elif (h.index(lv) < b and act in (READ, UPDATE) and b > 0 and buf.keeps_role(role)
                      and not nest.keeps(b, role)):
                    _add(storage, (buf.name, role, act), n)     # streamed past B by the mapping: B holds it here
            for (lv, role, act), n in a.network.items():
                if lv in fan_under:
                    _add(network, (lv, role, act), n)
        elif st.unit == VECTOR and b > 0:
            _add(storage, (buf.name, IFMAP, READ), sum(w.reads().values()))
            _add(storage, (buf.name, PSUM, UPDATE), w.writes)
    ops = {k: v for k, v in r.ops.items() if k[1] != "mac"}
    return Actions(r.macs, 0, 0, storage, network, ops)


def dram_words(a: Actions, h: Hierarchy) -> int:
    """Words the backing store (level 0) reads, updates, fills or drains."""
    top = h.levels[0].name
    return sum(n for (lv, _, _), n in a.storage.items() if lv == top)


__all__ = ["READ_ROLE", "add_actions", "attention_actions", "dram_words", "gemm_actions", "named_nests", "vector_actions"]
