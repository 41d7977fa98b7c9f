"""Import a BERT/GPT-2-style ONNX export as transformer nodes (``accelsim.attention.transformer.Node``).

The model goes through ONNX shape inference; every tensor shape must then be static. Nodes, in
graph order:

==========================================  ===================================================
ONNX op                                      node
==========================================  ===================================================
MatMul, B a constant (weights)               GEMM (T x K) @ (K x N), T = the product of A's leading dims
MatMul(Q, K^T) [Mul/Div by a constant]       one attention node (``AttentionShape``) when it feeds a
  -> Softmax -> MatMul(P, V)                 Softmax whose output is the left operand of an
                                             activation MatMul; the scale is folded into Q
Add                                          vector ``add`` over the output's elements
LayerNormalization (last axis)               vector ``mean``, ``var``, ``normalize``
Gelu                                         vector ``gelu``
Reshape, Transpose, Squeeze, Unsqueeze,      layout only: no work, the edge passes through
Identity, Cast
==========================================  ===================================================

Anything else (a Softmax outside that pattern included) is a ConfigError naming the op and the node,
one line. Producers: the node(s) that computed a node's inputs (through layout ops); graph inputs and
constants are not nodes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.transformer import Node
from accelsim.errors import ConfigError
from accelsim.problem import gemm
from accelsim.vector_ops import VectorOp

LAYOUT = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Cast", "Flatten")
SCALE = ("Mul", "Div")


def _load(path: str | Path) -> Any:
    try:
        import onnx
    except ImportError:
        raise ConfigError("reading ONNX models needs the optional onnx package: pip install accelsim[onnx]",
                          source=str(path)) from None
    p = Path(path)
    if not p.is_file():
        raise ConfigError("no such file" if not p.exists() else "is a directory, expected an .onnx file",
                          source=str(path))
    try:
        model = onnx.load(str(p))
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as exc:  # noqa: BLE001 - any parse/inference failure is bad input, one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"not a readable ONNX model or shape inference failed: {first}", source=str(path)) from None


def nodes_from_onnx(path: str | Path) -> list[Node]:
    model = _load(path)
    src = str(path)
    g = model.graph
    shapes: dict[str, tuple[int, ...] | None] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value for d in dims) if all(d.HasField("dim_value") for d in dims) else None
    for init in g.initializer:
        shapes[init.name] = tuple(init.dims)
    consts = {t.name for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts.update(n.output)
    onnx_nodes = [n for n in g.node if n.op_type != "Constant"]
    names = [n.name or f"{n.op_type}_{i}" for i, n in enumerate(onnx_nodes)]

    def where(i: int) -> str:
        return f"node {names[i]!r} ({onnx_nodes[i].op_type})"

    def shape(i: int, t: str) -> tuple[int, ...]:
        s = shapes.get(t)
        if s is None:
            raise ConfigError(f"{where(i)}: shape of tensor {t!r} is unknown or not static after shape inference",
                              source=src)
        return s

    producer: dict[str, str] = {}       # tensor -> node name that computed it (through layout ops)
    users: dict[str, list[int]] = {}
    for i, n in enumerate(onnx_nodes):
        for t in n.input:
            users.setdefault(t, []).append(i)
    out: list[Node] = []
    absorbed: set[int] = set()

    def prods(i: int) -> tuple[str, ...]:
        seen: list[str] = []
        for t in onnx_nodes[i].input:
            p = producer.get(t)
            if p is not None and p not in seen:
                seen.append(p)
        return tuple(seen)

    def follow(t: str) -> tuple[int, str] | None:
        """The first non-layout node reading tensor t (through layout ops): (index, input tensor)."""
        for j in users.get(t, []):
            if onnx_nodes[j].op_type in LAYOUT:
                return follow(onnx_nodes[j].output[0])
            return j, t
        return None

    def tokens_width(s: tuple[int, ...]) -> tuple[int, int]:
        return math.prod(s[:-1]), s[-1]

    for i, n in enumerate(onnx_nodes):
        if i in absorbed:
            continue
        op, name = n.op_type, names[i]
        if op in LAYOUT:
            p = producer.get(n.input[0]) if n.input else None
            if p is not None:
                producer[n.output[0]] = p
            continue
        if op == "MatMul":
            a, b = n.input[0], n.input[1]
            if b in consts:
                sa, sb = shape(i, a), shape(i, b)
                if len(sb) != 2:
                    raise ConfigError(f"{where(i)}: a weight MatMul needs a 2-D weight, got {list(sb)}", source=src)
                t, k = tokens_width(sa)
                out.append(Node(name, gemm(name, t, sb[1], k, ("a", "w", "z")), prods(i)))
                producer[n.output[0]] = name
                continue
            # attention: QK^T [scale] -> Softmax -> MatMul(P, V)
            nxt = follow(n.output[0])
            chain = [i]
            while nxt is not None and onnx_nodes[nxt[0]].op_type in SCALE \
                    and any(x in consts for x in onnx_nodes[nxt[0]].input):
                chain.append(nxt[0])
                nxt = follow(onnx_nodes[nxt[0]].output[0])
            if nxt is None or onnx_nodes[nxt[0]].op_type != "Softmax":
                raise ConfigError(f"{where(i)}: a MatMul of two activations must be attention's Q K^T feeding a "
                                  "Softmax (optionally scaled by a constant)", source=src)
            sm = nxt[0]
            av = follow(onnx_nodes[sm].output[0])
            if av is None or onnx_nodes[av[0]].op_type != "MatMul" or onnx_nodes[av[0]].input[0] != av[1] \
                    or onnx_nodes[av[0]].input[1] in consts:
                raise ConfigError(f"{where(sm)}: the softmax must feed attention's MatMul(P, V) as its left operand",
                                  source=src)
            sq, sk = shape(i, a), shape(i, b)
            sv = shape(av[0], onnx_nodes[av[0]].input[1])
            if len(sq) != 4 or len(sk) != 4 or len(sv) != 4:
                raise ConfigError(f"{where(i)}: attention operands must be 4-D (batch, heads, rows, size), got "
                                  f"{list(sq)}, {list(sk)}, {list(sv)}", source=src)
            shp = AttentionShape(sq[0], sq[1], sq[2], sk[3], sq[3], sv[3])
            ins = prods(i) + tuple(p for p in prods(av[0]) if p not in prods(i))
            out.append(Node(name, shp, ins))
            absorbed.update(chain[1:] + [sm, av[0]])
            producer[onnx_nodes[av[0]].output[0]] = name
            continue
        if op == "Add":
            t, d = tokens_width(shape(i, n.output[0]))
            dims = (("T", t), ("D", d))
            ins_t = tuple((x, ("T", "D")) for x in n.input)
            out.append(Node(name, VectorOp(name, "add", dims, ins_t, name), prods(i)))
        elif op == "LayerNormalization":
            s = shape(i, n.input[0])
            axis = next((a.i for a in n.attribute if a.name == "axis"), -1)
            if axis not in (-1, len(s) - 1):
                raise ConfigError(f"{where(i)}: layer norm over axis {axis}; supported: the last axis", source=src)
            t, d = tokens_width(s)
            dims = (("T", t), ("D", d))
            x = (n.input[0], ("T", "D"))
            pr = prods(i)
            out.append(Node(f"{name}_mean", VectorOp(f"{name}_mean", "mean", dims, (x,), "mu", ("T",)), pr))
            out.append(Node(f"{name}_var", VectorOp(f"{name}_var", "var", dims, (x, ("mu", ("T",))), "var", ("T",)),
                            pr + (f"{name}_mean",)))
            out.append(Node(name, VectorOp(name, "normalize", dims, (x, ("mu", ("T",)), ("var", ("T",))), name),
                            pr + (f"{name}_mean", f"{name}_var")))
        elif op == "Gelu":
            t, d = tokens_width(shape(i, n.output[0]))
            out.append(Node(name, VectorOp(name, "gelu", (("T", t), ("D", d)), ((n.input[0], ("T", "D")),), name),
                            prods(i)))
        else:
            raise ConfigError(f"unsupported ONNX op {op!r} at node {names[i]!r}; supported: MatMul, Softmax (in "
                              f"attention), Add, LayerNormalization, Gelu, {', '.join(LAYOUT)}", source=src)
        producer[n.output[0]] = name
    if not out:
        raise ConfigError("no transformer nodes in the model", source=src)
    return out
