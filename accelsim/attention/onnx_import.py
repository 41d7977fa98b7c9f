"""The transformer view of an ONNX model: a BERT/GPT-2-style export as transformer nodes
(``accelsim.attention.transformer.Node``), read by the one ONNX reader (``workloads.onnx_file``:
``read_onnx`` and its op table ``OPS``, whose ``transformer`` role says what each op is here).

Every tensor shape must be static after shape inference. Nodes, in graph order, by role:

==========================================  ===================================================
role (ONNX ops)                              node
==========================================  ===================================================
matmul, B a constant (weights)               GEMM (T x K) @ (K x N), T = the product of A's leading dims
matmul(Q, K^T) [scale by a constant]         one attention node (``AttentionShape``) when it feeds a
  -> softmax -> matmul(P, V)                 Softmax whose output is the left operand of an
                                             activation MatMul; the scale is folded into Q
add                                          vector ``add`` over the output's elements
layernorm (last axis)                        vector ``mean``, ``var``, ``normalize``
gelu                                         vector ``gelu``
layout (Reshape, Transpose, ...)             no work, the edge passes through
==========================================  ===================================================

An op without a role, a Softmax or a scale outside that pattern, is a ConfigError naming the op and
the node, one line. Producers: the node(s) that computed a node's inputs (through layout ops); graph
inputs and constants are not nodes.
"""

from __future__ import annotations

import math
from pathlib import Path

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.transformer import Node
from accelsim.errors import ConfigError
from accelsim.problem import gemm
from accelsim.vector_ops import VectorOp


def nodes_from_onnx(path: str | Path) -> list[Node]:
    from workloads.onnx_file import ADD, GELU, LAYERNORM, LAYOUT, MATMUL, OPS, SCALE, _shape, op_entry, read_onnx

    read = read_onnx(path)
    g = read.graph
    src = g.source
    consts = g.constants
    onnx_nodes = [n for n in read.nodes if n.op != "Constant"]

    def role(i: int) -> str | None:
        e = op_entry(onnx_nodes[i])
        return e.transformer if e is not None else None

    def where(i: int) -> str:
        return f"node {onnx_nodes[i].name!r} ({onnx_nodes[i].op})"

    def shape(i: int, t: str) -> tuple[int, ...]:
        return _shape(g, onnx_nodes[i], t)

    producer: dict[str, str] = {}       # tensor -> node name that computed it (through layout ops)
    users: dict[str, list[int]] = {}
    for i, n in enumerate(onnx_nodes):
        for tensor in n.inputs:
            users.setdefault(tensor, []).append(i)
    out: list[Node] = []
    absorbed: set[int] = set()

    def prods(i: int) -> tuple[str, ...]:
        seen: list[str] = []
        for tensor in onnx_nodes[i].inputs:
            p = producer.get(tensor)
            if p is not None and p not in seen:
                seen.append(p)
        return tuple(seen)

    def follow(t: str) -> tuple[int, str] | None:
        """The first non-layout node reading tensor t (through layout ops): (index, input tensor)."""
        for j in users.get(t, []):
            if role(j) == LAYOUT:
                return follow(onnx_nodes[j].outputs[0])
            return j, t
        return None

    def tokens_width(s: tuple[int, ...]) -> tuple[int, int]:
        return math.prod(s[:-1]), s[-1]

    for i, n in enumerate(onnx_nodes):
        if i in absorbed:
            continue
        r, name = role(i), n.name
        if r == LAYOUT:
            p = producer.get(n.inputs[0]) if n.inputs else None
            if p is not None:
                producer[n.outputs[0]] = p
            continue
        if r == MATMUL:
            a, b = n.inputs[0], n.inputs[1]
            if b in consts:
                sa, sb = shape(i, a), shape(i, b)
                if len(sb) != 2:
                    raise ConfigError(f"{where(i)}: a weight MatMul needs a 2-D weight, got {list(sb)}", source=src)
                t, k = tokens_width(sa)
                out.append(Node(name, gemm(name, t, sb[1], k, ("a", "w", "z")), prods(i)))
                producer[n.outputs[0]] = name
                continue
            # attention: QK^T [scale] -> Softmax -> MatMul(P, V)
            nxt = follow(n.outputs[0])
            chain = [i]
            while nxt is not None and role(nxt[0]) == SCALE and any(x in consts for x in onnx_nodes[nxt[0]].inputs):
                chain.append(nxt[0])
                nxt = follow(onnx_nodes[nxt[0]].outputs[0])
            if nxt is None or onnx_nodes[nxt[0]].op != "Softmax":
                raise ConfigError(f"{where(i)}: a MatMul of two activations must be attention's Q K^T feeding a "
                                  "Softmax (optionally scaled by a constant)", source=src)
            sm = nxt[0]
            av = follow(onnx_nodes[sm].outputs[0])
            if av is None or role(av[0]) != MATMUL or onnx_nodes[av[0]].inputs[0] != av[1] \
                    or onnx_nodes[av[0]].inputs[1] in consts:
                raise ConfigError(f"{where(sm)}: the softmax must feed attention's MatMul(P, V) as its left operand",
                                  source=src)
            sq, sk = shape(i, a), shape(i, b)
            sv = shape(av[0], onnx_nodes[av[0]].inputs[1])
            if len(sq) != 4 or len(sk) != 4 or len(sv) != 4:
                raise ConfigError(f"{where(i)}: attention operands must be 4-D (batch, heads, rows, size), got "
                                  f"{list(sq)}, {list(sk)}, {list(sv)}", source=src)
            shp = AttentionShape(sq[0], sq[1], sq[2], sk[3], sq[3], sv[3])
            ins = prods(i) + tuple(p for p in prods(av[0]) if p not in prods(i))
            out.append(Node(name, shp, ins))
            absorbed.update(chain[1:] + [sm, av[0]])
            producer[onnx_nodes[av[0]].outputs[0]] = name
            continue
        if r == ADD:
            t, d = tokens_width(shape(i, n.outputs[0]))
            dims = (("T", t), ("D", d))
            ins_t = tuple((x, ("T", "D")) for x in n.inputs)
            out.append(Node(name, VectorOp(name, "add", dims, ins_t, name), prods(i)))
        elif r == LAYERNORM:
            s = shape(i, n.inputs[0])
            axis = n.attrs.get("axis", -1)
            if axis not in (-1, len(s) - 1):
                raise ConfigError(f"{where(i)}: layer norm over axis {axis}; supported: the last axis", source=src)
            t, d = tokens_width(s)
            dims = (("T", t), ("D", d))
            x = (n.inputs[0], ("T", "D"))
            pr = prods(i)
            out.append(Node(f"{name}_mean", VectorOp(f"{name}_mean", "mean", dims, (x,), "mu", ("T",)), pr))
            out.append(Node(f"{name}_var", VectorOp(f"{name}_var", "var", dims, (x, ("mu", ("T",))), "var", ("T",)),
                            pr + (f"{name}_mean",)))
            out.append(Node(name, VectorOp(name, "normalize", dims, (x, ("mu", ("T",)), ("var", ("T",))), name),
                            pr + (f"{name}_mean", f"{name}_var")))
        elif r == GELU:
            t, d = tokens_width(shape(i, n.outputs[0]))
            out.append(Node(name, VectorOp(name, "gelu", (("T", t), ("D", d)), ((n.inputs[0], ("T", "D")),), name),
                            prods(i)))
        else:
            ok = sorted(op for op, e in OPS.items() if e.transformer is not None)
            raise ConfigError(f"unsupported ONNX op {n.op!r} at node {name!r}; supported: {', '.join(ok)} "
                              "(Softmax and Mul/Div only in attention's QK^T -> Softmax -> AV)", source=src)
        producer[n.outputs[0]] = name
    if not out:
        raise ConfigError("no transformer nodes in the model", source=src)
    return out
