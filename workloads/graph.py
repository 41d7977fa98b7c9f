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

- a node in ``prepad`` (CoDL's convention, ``workloads.zoo.codl``: a VALID conv whose input size
  already includes its SAME or explicit padding) reads its producers' output zero-padded by ``rows``
  and ``cols`` in all: the producers' output elements sum to ``N*C*(H - rows)*(W - cols)``; such a
  node is a conv or depthwise with no padding of its own, and the padding is below its filter extent.

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
    prepad: tuple[tuple[str, int, int], ...] = ()   # (node, rows, cols) of zeros around what it reads

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.nodes):
            raise ConfigError(f"graph: {len(self.nodes)} nodes but {len(self.inputs)} input lists")
        bad = graph_problem(self.nodes, self.inputs, self.prepad)
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

    def padding(self, name: str) -> tuple[int, int]:
        """(rows, cols) of zeros the node adds around its producers' output (``prepad``; 0, 0 if none)."""
        return self._prepad.get(name, (0, 0))

    @cached_property
    def _prepad(self) -> dict[str, tuple[int, int]]:
        return {n: (r, c) for n, r, c in self.prepad}

    def mac_layers(self) -> tuple[Layer, ...]:
        return tuple(n for n in self.nodes if n.kind.has_macs)

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(producer, consumer) pairs in node order."""
        return tuple((p, n.name) for n, ins in zip(self.nodes, self.inputs) for p in ins)

    def with_batch(self, n: int) -> Graph:
        return Graph(tuple(replace(node, N=n) for node in self.nodes), self.inputs, self.prepad)


def _prepad_problem(node: Layer, rows: int, cols: int) -> str | None:
    if node.kind not in (LayerKind.CONV, LayerKind.DEPTHWISE) or node.pad_h or node.pad_w:
        return (f"prepad: only a conv or depthwise without padding of its own reads a pre-padded input; "
                f"this is a {node.kind.value} with padding {node.pad_h}x{node.pad_w}")
    for key, value, extent in (("rows", rows, node.dil_h * (node.R - 1) + 1),
                               ("cols", cols, node.dil_w * (node.S - 1) + 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < extent:
            return f"prepad {key}: {value!r} zeros in all; allowed 0..{extent - 1} (below the filter extent)"
    return None


def graph_problem(nodes: tuple[Layer, ...], inputs: tuple[tuple[str, ...], ...],
                  prepad: tuple[tuple[str, int, int], ...] = ()) -> tuple[int, str] | None:
    """(index of the node, one line naming the producer) of the first broken invariant, or None."""
    index = {n.name: i for i, n in enumerate(nodes)}
    pads: dict[str, tuple[int, int]] = {}
    for name, rows, cols in prepad:
        if name not in index:
            return 0, f"prepad names {name!r}, not a node of the graph"
        if name in pads:
            return index[name], f"prepad lists {name!r} twice"
        bad = _prepad_problem(nodes[index[name]], rows, cols)
        if bad is not None:
            return index[name], bad
        pads[name] = (rows, cols)
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
            rows, cols = pads.get(node.name, (0, 0))
            allowed = [node.N * node.C * (node.H - rows) * (node.W - cols) * node.operands]
            if node.kind is LayerKind.GEMM:
                allowed.append(node.ifmap_elems + node.weight_elems)
            if sum(produced) not in allowed:
                pre = f", less its prepad {rows}x{cols}" if (rows, cols) != (0, 0) else ""
                return i, (f"producers {list(ins)} output {' + '.join(map(str, produced))} = "
                        f"{sum(produced)} elements; this {node.kind.value} reads {allowed[0]} "
                        f"(N*C*H*W = {node.N}*{node.C}*{node.H}*{node.W}{pre})")
        seen[node.name] = node
    return None


class GraphBuilder:
    """Build a graph node by node: ``add(layer)`` reads the previous node, ``add(layer, "a", "b")``
    the named producers, ``add(layer, ())`` the network input; ``prepad=(rows, cols)``: the layer reads
    them zero-padded (``Graph.prepad``). Returns the node's name."""

    def __init__(self) -> None:
        self.nodes: list[Layer] = []
        self.inputs: list[tuple[str, ...]] = []
        self.prepad: list[tuple[str, int, int]] = []

    @property
    def last(self) -> str:
        return self.nodes[-1].name

    def add(self, layer: Layer, *producers: str | tuple[()], prepad: tuple[int, int] = (0, 0)) -> str:
        if producers == ((),):
            ins: tuple[str, ...] = ()
        elif producers:
            ins = tuple(str(p) for p in producers)
        else:
            ins = (self.last,) if self.nodes else ()
        self.nodes.append(layer)
        self.inputs.append(ins)
        if prepad != (0, 0):
            self.prepad.append((layer.name, *prepad))
        return layer.name

    def graph(self) -> Graph:
        return Graph(tuple(self.nodes), tuple(self.inputs), tuple(self.prepad))

    def workload(self, name: str, layers: tuple[Layer, ...] | None = None):
        """The MAC layers (what a run evaluates, as before graphs existed; or ``layers``, nodes of the
        graph, in their own order) with the whole graph attached."""
        from workloads.layer import Workload

        g = self.graph()
        return Workload(name, g.mac_layers() if layers is None else layers, graph=g)
