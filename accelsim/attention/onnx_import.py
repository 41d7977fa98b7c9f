"""The transformer view of an ONNX model: a BERT/GPT-2-style export as transformer nodes
(``accelsim.attention.transformer.Node``), read by the one ONNX reader (``workloads.onnx_file``:
``read_onnx`` and its op table ``OPS``, whose ``transformer`` role says what each op is here).

Every tensor shape must be static after shape inference. Nodes, in graph order, by role:

==========================================  ===================================================
role (ONNX ops)                              node
==========================================  ===================================================
matmul, B a constant (weights)               GEMM (T x K) @ (K x N), T = the product of A's leading dims
matmul(Q, K^T) [scale by a constant]         one attention node (``AttentionShape``) when it feeds a
  [add a mask] -> softmax -> matmul(P, V)    Softmax whose output is the left operand of an
                                             activation MatMul; the scale (Mul or Div by a constant)
                                             and the mask Add (a real BERT/GPT-2 export's) are the
                                             node's ``fused`` vector ops, one op per score, the
                                             mask read at its own (broadcast) size
add                                          vector ``add`` over the output's elements, each input
                                             read at its own (broadcast) size: T x D, D, T or 1
layernorm (last axis)                        vector ``mean``, ``var``, ``normalize``
gelu                                         vector ``gelu``
layout (Reshape, Transpose, ...)             no work, the edge passes through
==========================================  ===================================================

An op without a role, a Softmax or a scale outside that pattern, a Where between Q K^T and the
Softmax (a mask by selection), is a ConfigError naming the op and the node, one line. Producers: the
node(s) that computed a node's inputs (through layout ops); graph inputs and constants are not nodes.
"""

from __future__ import annotations

import math
from pathlib import Path

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.transformer import Node
from accelsim.errors import ConfigError
from accelsim.problem import gemm
from accelsim.vector_ops import VectorOp

SCORE_DIMS = ("B", "H", "M", "L")     # the attention scores' dims (batch, heads, query rows, keys)


def _broadcast_axes(s_in: tuple[int, ...], s_out: tuple[int, ...], where: str, tensor: str,
                    src) -> tuple[int, ...]:
    """The axes of ``s_out`` an input of shape ``s_in`` indexes when broadcast to it (numpy rules,
    right-aligned): those where it has the output's size, above 1; a size other than 1 or the
    output's is a one-line error."""
    if len(s_in) > len(s_out):
        raise ConfigError(f"{where}: input {tensor!r} of shape {list(s_in)} has more dims than {list(s_out)}",
                          source=src)
    pad = (1,) * (len(s_out) - len(s_in)) + tuple(s_in)
    for a, b in zip(pad, s_out, strict=True):
        if a not in (1, b):
            raise ConfigError(f"{where}: input {tensor!r} of shape {list(s_in)} does not broadcast to "
                              f"{list(s_out)}", source=src)
    return tuple(k for k, (a, b) in enumerate(zip(pad, s_out, strict=True)) if a == b > 1)


def _broadcast_dims(s_in: tuple[int, ...], s_out: tuple[int, ...], where: str, tensor: str,
                    src) -> tuple[str, ...]:
    """The dims (T = the output's leading dims, D = its last) an Add input of shape ``s_in`` indexes
    when broadcast to ``s_out`` (:func:`_broadcast_axes`): T when it has every leading dim above 1,
    D when it has the last; a broadcast over part of the leading dims is a one-line error."""
    kept = set(_broadcast_axes(s_in, s_out, where, tensor, src))
    lead = {k for k in range(len(s_out) - 1) if s_out[k] > 1}
    if kept & lead and not lead <= kept:
        raise ConfigError(f"{where}: input {tensor!r} of shape {list(s_in)} broadcasts over part of the leading "
                          f"dims of {list(s_out)}; supported: all of them or none", source=src)
    return (("T",) if kept & lead else ()) + (("D",) if len(s_out) - 1 in kept else ())


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
            fused: list[VectorOp] = []
            so = shape(i, n.outputs[0])
            box = tuple(zip(SCORE_DIMS, so, strict=False))
            while nxt is not None and len(others := [x for x in onnx_nodes[nxt[0]].inputs if x != nxt[1]]) == 1 and (
                    role(nxt[0]) == SCALE and others[0] in consts or role(nxt[0]) == ADD):
                j, other = nxt[0], others[0]
                op = "add" if role(j) == ADD else "mul"        # a Div by a constant is a Mul by its inverse
                kept = _broadcast_axes(shape(j, other), so, where(j), other, src)
                fused.append(VectorOp(onnx_nodes[j].name, op, box, (("S", SCORE_DIMS), (other, tuple(
                    SCORE_DIMS[a] for a in kept))), "S"))
                chain.append(j)
                nxt = follow(onnx_nodes[j].outputs[0])
            if nxt is not None and onnx_nodes[nxt[0]].op == "Where":
                raise ConfigError(f"{where(nxt[0])}: a Where between attention's Q K^T and its Softmax (a mask by "
                                  "selection) is not supported; export the mask as an Add", source=src)
            if nxt is None or onnx_nodes[nxt[0]].op != "Softmax":
                raise ConfigError(f"{where(i)}: a MatMul of two activations must be attention's Q K^T feeding a "
                                  "Softmax (optionally scaled by a constant and masked by an Add)", source=src)
            sm = nxt[0]
            av = follow(onnx_nodes[sm].outputs[0])
            if av is None or role(av[0]) != MATMUL or onnx_nodes[av[0]].inputs[0] != av[1] \
                    or onnx_nodes[av[0]].inputs[1] in consts:
                raise ConfigError(f"{where(sm)}: the softmax must feed attention's MatMul(P, V) as its left operand",
                                  source=src)
            sq, sk = shape(i, a), shape(i, b)
            sv = shape(av[0], onnx_nodes[av[0]].inputs[1])
            if len(sq) != 4 or len(sk) != 4 or len(sv) != 4 or len(so) != 4:
                raise ConfigError(f"{where(i)}: attention operands must be 4-D (batch, heads, rows, size), got "
                                  f"{list(sq)}, {list(sk)}, {list(sv)}", source=src)
            shp = AttentionShape(sq[0], sq[1], sq[2], sk[3], sq[3], sv[3])
            ins = prods(i) + tuple(p for p in prods(av[0]) if p not in prods(i))
            mask_ins = tuple(p for f in fused for x, _ in f.inputs for p in [producer.get(x)] if p is not None)
            out.append(Node(name, shp, ins + tuple(p for p in mask_ins if p not in ins), tuple(fused)))
            absorbed.update(chain[1:] + [sm, av[0]])
            producer[onnx_nodes[av[0]].outputs[0]] = name
            continue
        if r == ADD:
            so = shape(i, n.outputs[0])
            t, d = tokens_width(so)
            dims = (("T", t), ("D", d))
            ins_t = tuple((x, _broadcast_dims(shape(i, x), so, where(i), x, src)) for x in n.inputs)
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
