"""A network's dataflow graph: every operator (MAC layers and vector ops) and which output feeds which.

A :class:`Graph` is ``nodes`` (``workloads.layer.Layer``, MAC layers and bandwidth/vector ops such as
pooling, element-wise adds and activations) in a topological order, and per node the names of its
producers (``inputs``; empty: the node reads the network input).

Invariants (checked on construction, ConfigError otherwise):
- node names are unique; a producer is an earlier node (so the graph has no cycle);
- an element-wise node (kind ``eltwise``) adds operands of ``N*C*H*W`` elements each: its producers'
  outputs are 1 to ``operands`` whole operands (an operand may be a concatenation of producers, as
  ShuffleNet's shortcut after a stride-2 unit; missing operands are read from outside the network);
- any other node reads the concatenation of its producers' outputs along channels (Inception,
  ShuffleNet), a reshape of it (YOLO's passthrough reorg, the flatten before an FC) included: the
  producers' output elements sum to the node's input elements (``N*C*H*W``); a ``gemm`` may also
  take its second operand from a producer (the sum is then input + weight elements: attention's
  two activation operands).

Edges are validated by element counts only: a reshape cannot be told from a concatenation that
happens to have the same size. Code that needs a row-wise correspondence (fusion) checks shapes too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from accelsim.errors import ConfigError
from workloads.layer import Layer, LayerKind


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Layer, ...]
    inputs: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.nodes):
            raise ConfigError(f"graph: {len(self.nodes)} nodes but {len(self.inputs)} input lists")
        bad = graph_problem(self.nodes, self.inputs)
        if bad is not None:
            i, message = bad
            raise ConfigError(f"graph: nodes[{i}] ({self.nodes[i].name}).inputs: {message}")

    # ---- lookups ------------------------------------------------------------------------------
    @cached_property
    def _index(self) -> dict[str, int]:
        return {n.name: i for i, n in enumerate(self.nodes)}

    def node(self, name: str) -> Layer:
        return self.nodes[self._index[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def position(self, name: str) -> int:
        return self._index[name]

    def producers(self, name: str) -> tuple[str, ...]:
        return self.inputs[self._index[name]]

    @cached_property
    def _consumers(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for node, ins in zip(self.nodes, self.inputs):
            for p in ins:
                out[p].append(node.name)
        return {k: tuple(v) for k, v in out.items()}

    def consumers(self, name: str) -> tuple[str, ...]:
        return self._consumers[name]

    def mac_layers(self) -> tuple[Layer, ...]:
        return tuple(n for n in self.nodes if n.kind.has_macs)

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(producer, consumer) pairs in node order."""
        return tuple((p, n.name) for n, ins in zip(self.nodes, self.inputs) for p in ins)

    def with_batch(self, n: int) -> Graph:
        return Graph(tuple(replace(node, N=n) for node in self.nodes), self.inputs)


def graph_problem(nodes: tuple[Layer, ...], inputs: tuple[tuple[str, ...], ...]) -> tuple[int, str] | None:
    """(index of the node, one line naming the producer) of the first broken invariant, or None."""
    seen: dict[str, Layer] = {}
    for i, (node, ins) in enumerate(zip(nodes, inputs)):
        if node.name in seen:
            return i, f"duplicate node name {node.name!r}"
        if len(set(ins)) != len(ins):
            return i, f"a producer is listed twice in {list(ins)}"
        for p in ins:
            if p not in seen:
                later = any(n.name == p for n in nodes)
                return i, (f"{p!r} is " + ("not an earlier node (nodes are in execution order)"
                                                         if later else "not a node of the graph"))
        produced = [seen[p].output_elems for p in ins]
        if ins and node.kind is LayerKind.ELTWISE:
            one = node.N * node.C * node.H * node.W
            total = sum(produced)
            if total % one or not 1 <= total // one <= node.operands:
                return i, (f"producers {list(ins)} output {' + '.join(map(str, produced))} = "
                        f"{total} elements; an add of {node.operands} operands takes 1..{node.operands} "
                        f"operands of {one} (N*C*H*W = {node.N}*{node.C}*{node.H}*{node.W})")
        elif ins:
            allowed = [node.ifmap_elems]
            if node.kind is LayerKind.GEMM:
                allowed.append(node.ifmap_elems + node.weight_elems)
            if sum(produced) not in allowed:
                return i, (f"producers {list(ins)} output {' + '.join(map(str, produced))} = "
                        f"{sum(produced)} elements; this {node.kind.value} reads {node.ifmap_elems} "
                        f"(N*C*H*W = {node.N}*{node.C}*{node.H}*{node.W})")
        seen[node.name] = node
    return None


class GraphBuilder:
    """Build a graph node by node: ``add(layer)`` reads the previous node, ``add(layer, "a", "b")``
    the named producers, ``add(layer, ())`` the network input. Returns the node's name."""

    def __init__(self) -> None:
        self.nodes: list[Layer] = []
        self.inputs: list[tuple[str, ...]] = []

    @property
    def last(self) -> str:
        return self.nodes[-1].name

    def add(self, layer: Layer, *producers: str | tuple[()]) -> str:
        if producers == ((),):
            ins: tuple[str, ...] = ()
        elif producers:
            ins = tuple(str(p) for p in producers)
        else:
            ins = (self.last,) if self.nodes else ()
        self.nodes.append(layer)
        self.inputs.append(ins)
        return layer.name

    def graph(self) -> Graph:
        return Graph(tuple(self.nodes), tuple(self.inputs))

    def workload(self, name: str):
        """The MAC layers (what a run evaluates, as before graphs existed) with the whole graph attached."""
        from workloads.layer import Workload

        g = self.graph()
        return Workload(name, g.mac_layers(), graph=g)
