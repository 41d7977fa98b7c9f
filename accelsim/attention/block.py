"""A transformer (``accelsim.attention.transformer``) on a hierarchy, node by node, with a named
attention dataflow (``unfused``, ``flat``, ``fusemax``: ``accelsim.attention.model``); no search.

Per node (one kernel, layer by layer: inputs from DRAM, output to DRAM):
- a GEMM runs on the MAC array; DRAM words = its compulsory traffic (A, the weights, the output
  once each: the ideal of any weight- or output-stationary mapping whose tiles fit);
- a vector op runs on the vector unit (the MAC array without one), one op per point
  (``accelsim.vector_ops``); DRAM words = its inputs read once and its output written once;
- the attention is the chosen dataflow's result (its own phases).
Cycles per node: max over its resources of ceil(work / rate) (the model's ``phase``), nodes in sequence.

Invariants: MACs summed over nodes = ``transformer.macs``; DRAM words and op counts are exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from accelsim.attention.cascade import ARRAY, VECTOR, AttentionShape, Step
from accelsim.attention.model import Machine, evaluate, machine, phase
from accelsim.attention.transformer import Node, TransformerSpec, network
from accelsim.hierarchy import Hierarchy
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


@dataclass(frozen=True)
class BlockResult:
    name: str
    dataflow: str
    machine: Machine
    nodes: tuple[NodeResult, ...]
    spec: TransformerSpec | None = None      # None: nodes from elsewhere (an ONNX import)

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
    def utilization(self) -> float:
        return self.macs / self.machine.array_units / self.cycles


def _node(m: Machine, h: Hierarchy, node: Node, dataflow: str) -> NodeResult:
    w = node.work
    if isinstance(w, AttentionShape):
        r = evaluate(h, w, dataflow)
        return NodeResult(node.name, f"attention[{dataflow}]", r.macs, r.ops, r.dram_words, r.cycles, r.limit,
                          r.busy())
    if isinstance(w, Problem):
        step = Step(node.name, ARRAY, w)
        words = sum(w.elements(t.role) for t in w.tensors)
        ops = {(m.array, "mac"): w.macs}
        kind, macs = "gemm", w.macs
    else:
        assert isinstance(w, VectorOp)
        step = Step(node.name, VECTOR, w)
        words = sum(w.reads().values()) + w.writes
        ops = {(m.vector, w.op): w.ops}
        kind, macs = w.op, 0
    p = phase(m, node.name, (step,), words)
    busy = {r: ceil(wk / rt) for r, (wk, rt) in p.work.items()}
    return NodeResult(node.name, kind, macs, ops, words, p.cycles, p.limit, busy)


def run_nodes(h: Hierarchy, nodes: list[Node], dataflow: str, name: str,
              spec: TransformerSpec | None = None) -> BlockResult:
    m = machine(h)
    return BlockResult(name, dataflow, m, tuple(_node(m, h, n, dataflow) for n in nodes), spec)


def run_network(h: Hierarchy, spec: TransformerSpec, dataflow: str) -> BlockResult:
    return run_nodes(h, network(spec), dataflow, spec.name, spec)
