"""The one ONNX reader (needs the optional ``onnx`` package): :func:`read_onnx` loads a model, runs
ONNX shape inference (a symbolic batch dimension of a graph input is set to 1 first) and lists its
nodes with unique names; :data:`OPS` is the one op table, giving each supported op type its place in
two views of the same reading:

- the **layer view** (:func:`load_onnx`, a :class:`Workload` with its graph: CNNs and anything else),
  one layer per node;
- the **transformer view** (``accelsim.attention.onnx_import.nodes_from_onnx``: GEMMs, attention
  nodes and vector ops for ``accelsim run --dataflow unfused|flat|fusemax``), by each op's role.

==============================================  ==============================  ===================
ONNX op                                          layer view                      transformer role
==============================================  ==============================  ===================
Conv (2-D)                                       conv; depthwise when            -
                                                 group == C == K
Gemm with a constant B (weights)                 fc: C = K of A, K = N, batch    -
                                                 N = rows of A
Gemm with a computed B                           gemm (m x k) @ (k x n)          -
MatMul, B 1-D or 2-D                             gemm, m = product of A's        matmul
                                                 leading dims
MatMul, both batched (3-D+)                      gemm, groups = broadcast batch  matmul (attention)
MaxPool, AveragePool, GlobalAveragePool/MaxPool  pool (window, stride, pads)     -
Add                                              eltwise, operands 2             add
Relu, Sigmoid, Clip                              activation                      -
Gelu                                             activation                      gelu
Softmax                                          softmax                         softmax (attention)
LayerNormalization                               layernorm                       layernorm
Reshape, Transpose, Squeeze, Unsqueeze,          skipped (edge passes through)   layout
Identity, Cast, Flatten
Mul, Div                                         skipped                         scale (attention)
==============================================  ==============================  ===================

Layer view: every other op (Concat, Resize, BatchNormalization, custom ops, ...) is skipped, with
one ``warnings.warn`` naming the skipped op types and counts. The workload keeps the edges
(``Workload.graph``): a layer's producers are the imported layers whose outputs reach its
non-constant inputs, through skipped nodes that keep the element count (Concat, Reshape, Flatten,
BatchNormalization); a skipped node that changes it (Resize, Slice) ends the edge. Conv/pool pads
that differ between the begin and the end of an axis cannot be represented (a layer has one pad per
axis): the begin pad is used and a warning names the layers (their output may be one row/column
smaller than the model's). Pool ``ceil_mode`` is ignored the same way (floor), also with a warning.
The transformer view refuses an op without a role in one line naming the op and the node.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError
from workloads.graph import Graph, graph_problem
from workloads.layer import Layer, LayerKind, Workload, gemm

INSTALL_HINT = "pip install accelsim[onnx]"


@dataclass(frozen=True)
class _Graph:
    """What the mappers need to know about the graph (built once per import)."""

    source: str
    shapes: dict[str, tuple[int, ...] | None]
    constants: set[str]
    approximated: list[str] = field(default_factory=list)  # layers whose pads/ceil_mode were rounded


@dataclass(frozen=True)
class _Node:
    index: int
    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]
    domain: str = ""

    @property
    def where(self) -> str:
        return f"node[{self.index}] ({self.name}, {self.op})"


@dataclass(frozen=True)
class OnnxModel:
    """A read model: its graph facts and its nodes in graph order (``Constant`` nodes included)."""

    graph: _Graph
    nodes: tuple[_Node, ...]
    stem: str


def load_model(path: str | Path):
    """The ONNX ModelProto at ``path`` (needs the optional onnx package); a missing file, a directory
    or garbage is one ConfigError naming the file."""
    source = str(path)
    try:
        import onnx
    except ImportError:
        raise ConfigError(f"reading ONNX models needs the optional onnx package: {INSTALL_HINT}",
                          source=source) from None
    p = Path(path)
    if not p.is_file():
        raise ConfigError("no such file" if not p.exists() else "is a directory, expected an .onnx file",
                          source=source)
    try:
        return onnx.load(str(p))
    except Exception as exc:  # protobuf raises several unrelated types on garbage input
        raise ConfigError(f"not a readable ONNX model ({type(exc).__name__}); expected an ONNX protobuf file",
                          source=source) from None


def unique_names(protos) -> list[str]:
    """Each node's name in graph order, made unique: its own name, else ``<op><index>``; a repeat gets
    ``_<index>`` appended (the layer names every ONNX view uses)."""
    used: set[str] = set()
    out = []
    for index, proto in enumerate(protos):
        name = proto.name or f"{proto.op_type.lower()}{index}"
        while name in used:
            name = f"{name}_{index}"
        used.add(name)
        out.append(name)
    return out


def read_onnx(path: str | Path) -> OnnxModel:
    """Load, set a symbolic batch to 1, infer shapes, and list the nodes with unique names
    (:func:`unique_names`). Bad input is one ConfigError naming the file."""
    source = str(path)
    model = load_model(path)
    from onnx import helper, shape_inference

    p = Path(path)
    _fix_batch(model)
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"ONNX shape inference failed: {first}", source=source) from None

    graph = model.graph
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in (*graph.input, *graph.value_info, *graph.output):
        shapes[vi.name] = _dims(vi)
    for init in graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    nodes = [_Node(index, name, proto.op_type, tuple(proto.input), tuple(proto.output),
                   {a.name: helper.get_attribute_value(a) for a in proto.attribute}, proto.domain)
             for index, (name, proto) in enumerate(zip(unique_names(graph.node), graph.node))]
    return OnnxModel(_Graph(source, shapes, constants), tuple(nodes), p.stem)


def op_entry(node: _Node) -> OpEntry | None:
    """The op table's entry of a node (custom domains have none)."""
    return OPS.get(node.op) if node.domain in ("", "ai.onnx") else None


def load_onnx(path: str | Path) -> Workload:
    """The layer view (module docstring)."""
    read = read_onnx(path)
    g, source = read.graph, read.graph.source
    layers: list[Layer] = []
    inputs: list[tuple[str, ...]] = []
    made_by: dict[str, tuple[str, ...]] = {}   # tensor -> the imported layers whose outputs it holds
    skipped: Counter[str] = Counter()
    for node in read.nodes:
        entry = op_entry(node)
        result = entry.layer(g, node) if entry is not None and entry.layer is not None else None
        producers = _producers(g, node, made_by)
        if isinstance(result, Layer):
            layers.append(result)
            inputs.append(producers)
            for out in node.outputs:
                made_by[out] = (node.name,)
        else:
            skipped[node.op if result is None else f"{node.op} ({result})"] += 1
            if len(node.outputs) == 1 and _keeps_elements(g, node):   # Concat, Reshape, Flatten, BN ...
                made_by[node.outputs[0]] = producers
    listed = ", ".join(f"{op} x{count}" for op, count in sorted(skipped.items()))
    imported = ", ".join(sorted(op for op, e in OPS.items() if e.layer is not None))
    if not layers:       # the error says what was skipped: no warning before it (one line in all)
        raise ConfigError("no importable layers" + (f": skipped {listed}" if listed else "")
                          + f" (imported ops: {imported})", source=source)
    if skipped:
        warnings.warn(f"{source}: skipped {sum(skipped.values())} ONNX node(s) that are not imported: {listed} "
                      f"(imported ops: {imported})", stacklevel=2)
    if g.approximated:
        warnings.warn(f"{source}: asymmetric pads or ceil_mode on {', '.join(g.approximated)}: used the begin "
                      f"pad and floor rounding, so these outputs may be one row/column smaller than the "
                      f"model's", stacklevel=2)
    cut: list[str] = []      # layers whose producers' sizes disagree with their input (rounded pads ...)
    while (bad := graph_problem(tuple(layers), tuple(inputs))) is not None:
        inputs[bad[0]] = ()
        cut.append(f"{layers[bad[0]].name} ({bad[1]})")
    if cut:
        warnings.warn(f"{source}: edges into {'; '.join(cut)} are dropped: those layers read from outside the "
                      f"graph", stacklevel=2)
    return Workload(read.stem, tuple(layers), Graph(tuple(layers), tuple(inputs)))


# ---- graph helpers ------------------------------------------------------------------------------

def _producers(g: _Graph, node: _Node, made_by: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The imported layers whose outputs ``node`` reads (constants and graph inputs are not layers)."""
    out: dict[str, None] = {}
    for tensor in node.inputs:
        if tensor and tensor not in g.constants:
            out.update(dict.fromkeys(made_by.get(tensor, ())))
    return tuple(out)


def _keeps_elements(g: _Graph, node: _Node) -> bool:
    """A skipped node passes its producers on when its output holds exactly its computed inputs'
    elements (a concatenation, a reshape, a normalisation); otherwise (Resize, Slice ...) the edge ends."""
    sizes = [g.shapes.get(t) for t in node.inputs if t and t not in g.constants]
    out = g.shapes.get(node.outputs[0])
    if out is None or not sizes or any(s is None for s in sizes):
        return False
    return sum(math.prod(s) for s in sizes if s is not None) == math.prod(out)

def _fix_batch(model: Any) -> None:
    """Give a symbolic leading (batch) dimension of each graph input the value 1."""
    initializers = {init.name for init in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in initializers or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1


def _dims(vi: Any) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
    return None if any(d < 1 for d in dims) else dims


def _shape(g: _Graph, node: _Node, tensor: str, ranks: tuple[int, ...] | None = None) -> tuple[int, ...]:
    shape = g.shapes.get(tensor)
    if shape is None:
        raise ConfigError(f"shape of tensor {tensor!r} is unknown or not static after shape inference; "
                          f"export the model with fixed input sizes", source=g.source, key=node.where)
    if ranks is not None and len(shape) not in ranks:
        raise ConfigError(f"tensor {tensor!r} has shape {list(shape)}; allowed ranks: "
                          f"{', '.join(map(str, ranks))}", source=g.source, key=node.where)
    return shape


def _nchw(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Fold any tensor shape into (N, C, H, W), keeping the element count."""
    s = list(shape) + [1] * (4 - len(shape)) if len(shape) >= 2 else [1, *(shape or (1,)), 1, 1]
    return s[0], s[1], s[2], math.prod(s[3:])


def _layer(g: _Graph, node: _Node, **kw: Any) -> Layer:
    try:
        return Layer(name=node.name, **kw)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=g.source, key=node.where) from None


def _window(g: _Graph, node: _Node, H: int, W: int, R: int, S: int, dilations: bool) -> dict:
    """stride/pad/dilation keywords of a Conv or pool node (begin pads; auto_pad resolved)."""
    strides = list(node.attrs.get("strides", [1, 1]))
    dils = list(node.attrs.get("dilations", [1, 1])) if dilations else [1, 1]
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for axis, size, k in ((0, H, R), (1, W, S)):
            span = dils[axis] * (k - 1) + 1
            out = -(-size // strides[axis])
            total = max((out - 1) * strides[axis] + span - size, 0)
            begin = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads[axis], pads[axis + 2] = begin, total - begin
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto == "NOTSET":
        pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    else:
        raise ConfigError(f"auto_pad {auto!r} is not an ONNX value; allowed: NOTSET, SAME_UPPER, SAME_LOWER, "
                          f"VALID", source=g.source, key=node.where)
    if pads[0] != pads[2] or pads[1] != pads[3] or node.attrs.get("ceil_mode", 0):
        g.approximated.append(node.name)
    return dict(stride_h=strides[0], stride_w=strides[1], pad_h=pads[0], pad_w=pads[1],
                dil_h=dils[0], dil_w=dils[1])


# ---- one mapper per op type: a Layer, or a short reason string to skip the node ------------------

def _conv(g: _Graph, node: _Node) -> Layer | str:
    x = _shape(g, node, node.inputs[0])
    if len(x) != 4:
        return f"{len(x) - 2}-D"
    N, C, H, W = x
    K, Cg, R, S = _shape(g, node, node.inputs[1], ranks=(4,))
    groups = int(node.attrs.get("group", 1))
    if Cg * groups != C:
        raise ConfigError(f"weight {node.inputs[1]!r} has {Cg} input channels per group x group {groups} "
                          f"!= input channels {C}", source=g.source, key=node.where)
    kind = LayerKind.DEPTHWISE if groups > 1 and groups == C == K else LayerKind.CONV
    return _layer(g, node, kind=kind, N=N, C=C, K=K, H=H, W=W, R=R, S=S, groups=groups,
                  **_window(g, node, H, W, R, S, dilations=True))


def _gemm(g: _Graph, node: _Node) -> Layer:
    a = _shape(g, node, node.inputs[0], ranks=(2,))
    b = _shape(g, node, node.inputs[1], ranks=(2,))
    M, Ka = (a[1], a[0]) if node.attrs.get("transA", 0) else a
    Kb, Nb = (b[1], b[0]) if node.attrs.get("transB", 0) else b
    if Ka != Kb:
        raise ConfigError(f"inner dimensions differ: A gives k={Ka}, B gives k={Kb}", source=g.source,
                          key=node.where)
    if node.inputs[1] in g.constants:
        return _layer(g, node, kind=LayerKind.FC, N=M, C=Ka, K=Nb)
    return _wrap(g, node, lambda: gemm(node.name, m=M, n=Nb, k=Ka))


def _matmul(g: _Graph, node: _Node) -> Layer:
    a = _shape(g, node, node.inputs[0])
    b = _shape(g, node, node.inputs[1])
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    M, Ka = a2[-2], a2[-1]
    Kb, Nb = b2[-2], b2[-1]
    if Ka != Kb:
        raise ConfigError(f"inner dimensions differ: A {list(a)} gives k={Ka}, B {list(b)} gives k={Kb}",
                          source=g.source, key=node.where)
    if len(b2) == 2:  # one weight matrix shared by every row of A
        rows = math.prod(a2[:-1])
        return _wrap(g, node, lambda: gemm(node.name, m=rows, n=Nb, k=Ka))
    batch = math.prod(_broadcast(a2[:-2], b2[:-2], g, node))
    return _layer(g, node, kind=LayerKind.GEMM, C=batch * Ka, K=batch * Nb, H=M, W=1, groups=batch)


def _broadcast(x: tuple[int, ...], y: tuple[int, ...], g: _Graph, node: _Node) -> tuple[int, ...]:
    n = max(len(x), len(y))
    x, y = (1,) * (n - len(x)) + tuple(x), (1,) * (n - len(y)) + tuple(y)
    out = []
    for p, q in zip(x, y):
        if p != q and 1 not in (p, q):
            raise ConfigError(f"batch dimensions {list(x)} and {list(y)} do not broadcast", source=g.source,
                              key=node.where)
        out.append(max(p, q))
    return tuple(out)


def _wrap(g: _Graph, node: _Node, make: Callable[[], Layer]) -> Layer:
    try:
        return make()
    except ConfigError as exc:
        raise ConfigError(str(exc), source=g.source, key=node.where) from None


def _pool(g: _Graph, node: _Node) -> Layer | str:
    x = _shape(g, node, node.inputs[0])
    if len(x) != 4:
        return f"{len(x) - 2}-D"
    N, C, H, W = x
    R, S = node.attrs.get("kernel_shape", [1, 1])
    return _layer(g, node, kind=LayerKind.POOL, N=N, C=C, K=C, H=H, W=W, R=R, S=S,
                  **_window(g, node, H, W, R, S, dilations=node.op == "MaxPool"))


def _global_pool(g: _Graph, node: _Node) -> Layer | str:
    x = _shape(g, node, node.inputs[0])
    if len(x) != 4:
        return f"{len(x) - 2}-D"
    N, C, H, W = x
    return _layer(g, node, kind=LayerKind.POOL, N=N, C=C, K=C, H=H, W=W, R=H, S=W)


def _tensor_op(kind: LayerKind, operands: int = 1) -> Callable[[_Graph, _Node], Layer]:
    def mapper(g: _Graph, node: _Node) -> Layer:
        N, C, H, W = _nchw(_shape(g, node, node.outputs[0]))
        return _layer(g, node, kind=kind, N=N, C=C, K=C, H=H, W=W, operands=operands)
    return mapper


# transformer-view roles (accelsim.attention.onnx_import)
MATMUL, ADD, GELU, SOFTMAX, LAYERNORM, LAYOUT, SCALE = "matmul", "add", "gelu", "softmax", "layernorm", "layout", "scale"


@dataclass(frozen=True)
class OpEntry:
    """One op type: its layer-view mapper (a Layer, or a short reason to skip the node; None: always
    skipped) and its transformer-view role (None: refused there)."""

    layer: Callable[[_Graph, _Node], Layer | str] | None
    transformer: str | None


OPS: dict[str, OpEntry] = {
    "Conv": OpEntry(_conv, None),
    "Gemm": OpEntry(_gemm, None),
    "MatMul": OpEntry(_matmul, MATMUL),
    "MaxPool": OpEntry(_pool, None),
    "AveragePool": OpEntry(_pool, None),
    "GlobalAveragePool": OpEntry(_global_pool, None),
    "GlobalMaxPool": OpEntry(_global_pool, None),
    "Add": OpEntry(_tensor_op(LayerKind.ELTWISE, operands=2), ADD),
    "Relu": OpEntry(_tensor_op(LayerKind.ACTIVATION), None),
    "Sigmoid": OpEntry(_tensor_op(LayerKind.ACTIVATION), None),
    "Clip": OpEntry(_tensor_op(LayerKind.ACTIVATION), None),
    "Gelu": OpEntry(_tensor_op(LayerKind.ACTIVATION), GELU),
    "Softmax": OpEntry(_tensor_op(LayerKind.SOFTMAX), SOFTMAX),
    "LayerNormalization": OpEntry(_tensor_op(LayerKind.LAYERNORM), LAYERNORM),
    **{op: OpEntry(None, LAYOUT) for op in ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Cast",
                                             "Flatten")},
    "Mul": OpEntry(None, SCALE),
    "Div": OpEntry(None, SCALE),
}
