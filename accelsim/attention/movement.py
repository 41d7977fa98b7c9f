"""Action tables (``cost.actions.Actions``) of transformer nodes on a hierarchy: what each node
computes and moves, the one input to the energy sum (``cost.energy.energy_of``) and the bound.

- GEMM: ``count_actions`` of the GEMM under a loop nest (the dataflow's named mapping): every
  level and network, exact.
- Vector op: streamed once through the first buffer (``cost.actions.streamed_actions``: its inputs
  read and its output written once at DRAM and at the buffer), plus its ops ``(unit, op)``; on the
  MAC array (no vector unit) its ``cycles`` are ops / compute units, rounded up.
- Attention node (an attention dataflow's ``model.Result``): one table per phase
  (:func:`cascade_actions`; the node's table is their sum, ``Result.actions``), at the dataflow's
  level of detail, with B the on-chip buffer the dataflow tiles into (:func:`buffer_index`):

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
  * a tensor an array step makes and only array steps read (:func:`held_in_pes`: FuseMax-style's
    score tile S and its exponentials) stays in the PEs: the einsums' rows for it at B and above are
    dropped (their rows below B stay);
  * an ``offchip`` tensor (FLAT's setting, ``hierarchy.FlatSetting``: streamed between DRAM and the
    array's registers, not held in B): its DRAM words are no B fill or drain, and the einsums' rows
    for it at B and above are dropped likewise (its rows below B stay);
  * the MACs and the ops, keyed ``(unit, op)``; ``cycles``: the array's steps (MACs and the ops bound
    to the array over its units), the compute part of the latency bound (``cost.bound.bound_parts``).

Invariants: every count is an exact integer; an attention node's DRAM rows sum to the result's
``dram_words``; a vector node's DRAM rows sum to its input plus output words.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.attention.cascade import ARRAY, VECTOR, Step
from accelsim.cost.actions import Actions, add_actions, count_actions, streamed_actions
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, IFMAP, PSUM, READ, UP, UP_SRC, UPDATE, WEIGHT
from accelsim.problem import Problem
from accelsim.vector_ops import VectorOp

READ_ROLE = {"Q": IFMAP, "K": WEIGHT, "V": WEIGHT, "S": IFMAP, "A": IFMAP, "O": PSUM}

NestOf = Callable[[Problem], LoopNest]


def named_nests(h: Hierarchy, flow=None, arch=None) -> tuple[str, NestOf]:
    """(mapping label, problem -> the named nest of ``flow`` (a ``dataflows.registry`` flow; default
    the hierarchy's dataflow), memoised per shape): its rule (``dataflows.nest_rule``, the mapping
    ``accelsim run`` gives the problem alone); with ``arch`` (the fixed-shape arch ``h`` was converted
    from, ``hierarchy.from_arch``) a batched matmul gets the fixed path's named mapping of the same
    grouped GEMM (:func:`fixed_bmm_nest`), as ``accelsim run`` on a fixed-shape arch does."""
    from dataflows import registry
    from dataflows.nest_rule import build

    if flow is None:
        if h.dataflow is None:
            raise ConfigError(f"hierarchy {h.name!r} names no dataflow: the transformer's GEMMs are mapped by it "
                              "(dataflow: in the hierarchy YAML)", source=h.source, key="dataflow")
        flow = registry.get(h.dataflow)
    if flow.rule is None and arch is None:
        raise ConfigError(f"dataflow {flow.name!r} has no rule for level-list hierarchies, so it cannot map the "
                          "transformer's GEMMs", source=h.source, key="dataflow")
    memo: dict = {}

    def nest_of(p: Problem) -> LoopNest:
        k = (p.dims, p.tensors)
        if k not in memo:
            fixed = fixed_bmm_nest(p, h, flow, arch) if arch is not None else None
            memo[k] = fixed if fixed is not None else build(flow.rule, p, h, flow.name)
        return memo[k]

    return f"named {flow.name}", nest_of


_BMM_OF_CONV = {"G": "B", "P": "M", "K": "N", "C": "K"}     # conv dims of a grouped GEMM -> bmm dims


def fixed_bmm_nest(p: Problem, h: Hierarchy, flow, arch) -> LoopNest | None:
    """The fixed path's named mapping of a batched matmul ``problem.bmm`` (dims B, M, N, K): the
    grouped GEMM layer with the same MACs and tensors (B groups, M rows, N outputs and K inputs per
    group), mapped by ``flow.named`` and converted (``loopnest.from_fixed``), its conv dims renamed
    (G -> B, P -> M, K -> N, C -> K; N, Q, R, S are 1). None for another problem."""
    from accelsim.loopnest import LevelMap, from_fixed
    from workloads.layer import Layer, LayerKind

    sizes = dict(p.dims)
    if set(sizes) != {"B", "M", "N", "K"}:
        return None
    g = sizes["B"]
    layer = Layer(p.name, LayerKind.GEMM, C=g * sizes["K"], K=g * sizes["N"], H=sizes["M"], groups=g)
    nest = from_fixed(flow.named(layer, arch), h)

    def rename(pairs: tuple) -> tuple:
        return tuple((_BMM_OF_CONV[d], f) for d, f in pairs if d in _BMM_OF_CONV)

    return LoopNest(tuple(LevelMap(lm.level, rename(lm.factors), tuple(_BMM_OF_CONV[d] for d in lm.order
                                                                       if d in _BMM_OF_CONV),
                                   lm.keeps, rename(lm.x), rename(lm.y)) for lm in nest.levels))


def gemm_actions(problem: Problem, h: Hierarchy, nest: LoopNest) -> Actions:
    return count_actions(problem, h, nest)


def vector_actions(op: VectorOp, h: Hierarchy) -> Actions:
    """A vector op alone: its inputs and output streamed once, its ops on the non-MAC unit
    (``cost.actions.streamed_actions``)."""
    return streamed_actions(h, sum(op.reads().values()), op.writes, {op.op: op.ops})


def _add(table: dict, key: tuple[str, str, str], n: int) -> None:
    if n:
        table[key] = table.get(key, 0) + n


def buffer_index(h: Hierarchy) -> int:
    """The on-chip buffer B the attention dataflows tile into: the level the vector unit hangs below,
    else the level under DRAM."""
    return h.index(h.vector.below) if h.vector is not None else min(1, len(h.levels) - 1)


def held_in_pes(steps: tuple[Step, ...]) -> frozenset[str]:
    """Tensors an array step produces that later steps read, all of them on the array: they stay in
    the PEs and never visit B (FuseMax-style: the score tile S and its exponentials)."""
    out = set()
    for i, st in enumerate(steps):
        if st.unit != ARRAY:
            continue
        w = st.work
        made = next(t.name for t in w.tensors if t.role == PSUM) if isinstance(w, Problem) else w.output
        readers = [r for r in steps[i + 1:] if made in _reads(r)]
        if readers and all(r.unit == ARRAY for r in readers):
            out.add(made)
    return frozenset(out)


def _reads(st: Step) -> set[str]:
    w = st.work
    if isinstance(w, Problem):
        return {t.name for t in w.tensors if t.role != PSUM}
    return {t for t, _ in w.inputs}


def cascade_actions(h: Hierarchy, dram: dict, steps: tuple[Step, ...], nest_of: NestOf, cycles: int,
                    ops: dict, offchip: frozenset[str] = frozenset()) -> Actions:
    """The action table of an attention dataflow's phase (module docstring): its DRAM words ``dram``
    (``(tensor, "read" | "write") -> words``), its cascade ``steps``, its array ``cycles`` (the MACs and
    the ops bound to the array over the array's units), its non-MAC ``ops`` (``(unit, op)``) and the
    ``offchip`` tensors, streamed between DRAM and the array past B (FLAT's off-chip Q, K, V, O)."""
    b = buffer_index(h)
    top, buf = h.levels[0].name, h.levels[b]
    storage: dict = {}
    network: dict = {}
    above = [h.levels[i].name for i, _ in h.fanouts if i < b]
    for (tensor, rw), n in sorted(dram.items()):
        if rw == "read":
            role = READ_ROLE[tensor]
            _add(storage, (top, role, READ), n)
            if b > 0 and buf.keeps_role(role) and tensor not in offchip:
                _add(storage, (buf.name, role, FILL), n)
            for lv in above:
                _add(network, (lv, role, DOWN), n)
                _add(network, (lv, role, DOWN_DEST), n)
        else:
            _add(storage, (top, PSUM, UPDATE), n)
            if b > 0 and tensor not in offchip:
                _add(storage, (buf.name, PSUM, DRAIN), n)
            for lv in above:
                _add(network, (lv, PSUM, UP), n)
                _add(network, (lv, PSUM, UP_SRC), n)
    under = {lv.name for lv in h.levels[b + 1:]}
    fan_under = {h.levels[i].name for i, _ in h.fanouts if i >= b}
    pes = held_in_pes(steps) | offchip
    macs = 0
    for st in steps:
        w = st.work
        if isinstance(w, Problem):
            macs += w.macs
            nest = nest_of(w)
            a = count_actions(w, h, nest)
            name_of = {t.role: t.name for t in w.tensors}
            for (lv, role, act), n in a.storage.items():
                if lv not in under and name_of[role] in pes:
                    continue                                    # stays in the PEs or streams past B
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
    return Actions(macs, cycles, 0, storage, network, ops)


def dram_words(a: Actions, h: Hierarchy) -> int:
    """Words the backing store (level 0) reads, updates, fills or drains."""
    top = h.levels[0].name
    return sum(n for (lv, _, _), n in a.storage.items() if lv == top)


__all__ = ["READ_ROLE", "add_actions", "buffer_index", "cascade_actions", "fixed_bmm_nest", "dram_words",
           "gemm_actions", "named_nests", "vector_actions"]
