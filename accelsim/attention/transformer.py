"""Transformer blocks as graphs of einsums, vector ops and attention: BERT-base and GPT-2 small.

:class:`TransformerSpec` holds the parameters (layers, width, heads, head size, FFN size, sequence
length, batch) and the mode: ``prefill`` (every token of the sequence, M = L = seq) or ``decode``
(one new token per sequence against a KV cache of ``cache`` tokens: M = 1, L = cache). Checked:
heads x head size = width; decode needs a cache length; every size a positive integer.

:func:`block` lists one encoder/decoder layer's nodes in execution order, each with its producers
(names; empty = the block's input): QKV projections (GEMMs, ``accelsim.problem.gemm``), the
attention (``cascade.AttentionShape``, whose dataflow is chosen when it is evaluated), the output
projection, residual adds, layer norms (mean, variance, normalize: ``accelsim.vector_ops``), the FFN
with GELU. BERT is post-norm (add then norm), GPT-2 pre-norm (norm then the sublayer); both have two
norms per layer (GPT-2's final norm is outside the blocks and not listed). Tokens T = batch x M.

Invariants: MACs of a block = 4*T*d*d (QKV + output) + 2*T*d*ffn (FFN) + B*H*M*L*(E+F) (attention);
node names are unique and producers precede consumers.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.attention.cascade import AttentionShape
from accelsim.errors import ConfigError
from accelsim.problem import Problem, gemm
from accelsim.vector_ops import VectorOp

PREFILL = "prefill"
DECODE = "decode"
MODES = (PREFILL, DECODE)


@dataclass(frozen=True)
class TransformerSpec:
    name: str
    layers: int
    width: int
    heads: int
    head_size: int
    ffn: int
    seq: int
    batch: int = 1
    mode: str = PREFILL
    cache: int | None = None
    pre_norm: bool = False

    def __post_init__(self) -> None:
        where = f"transformer {self.name!r}"
        for k in ("layers", "width", "heads", "head_size", "ffn", "seq", "batch"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{where}: {k} must be a positive integer, got {v!r}")
        if self.heads * self.head_size != self.width:
            raise ConfigError(f"{where}: heads x head size = {self.heads} x {self.head_size} = "
                              f"{self.heads * self.head_size} must equal the width {self.width}")
        if self.mode not in MODES:
            raise ConfigError(f"{where}: mode {self.mode!r}; allowed: {', '.join(MODES)}")
        if self.mode == DECODE and self.cache is None:
            raise ConfigError(f"{where}: decode mode needs a KV cache length (cache, --cache-len)")
        if self.cache is not None and (isinstance(self.cache, bool) or not isinstance(self.cache, int)
                                       or self.cache < 1):
            raise ConfigError(f"{where}: cache must be a positive integer, got {self.cache!r}")

    @property
    def queries(self) -> int:
        return 1 if self.mode == DECODE else self.seq

    @property
    def keys(self) -> int:
        return self.cache if self.mode == DECODE and self.cache is not None else self.seq

    @property
    def tokens(self) -> int:
        return self.batch * self.queries

    def attention(self) -> AttentionShape:
        return AttentionShape(self.batch, self.heads, self.queries, self.keys, self.head_size, self.head_size)


@dataclass(frozen=True)
class Node:
    name: str
    work: Problem | VectorOp | AttentionShape
    inputs: tuple[str, ...]
    fused: tuple[VectorOp, ...] = ()     # an attention's ops on its scores before the softmax (an ONNX
                                         # export's scale and mask add: ``attention.onnx_import``)


def _norm(p: str, t: int, d: int, x: str) -> list[Node]:
    dims = (("T", t), ("D", d))
    td = ("T", "D")
    return [Node(f"{p}_mean", VectorOp(f"{p}_mean", "mean", dims, ((x, td),), f"{p}_mean", ("T",)), (x,)),
            Node(f"{p}_var", VectorOp(f"{p}_var", "var", dims, ((x, td), (f"{p}_mean", ("T",))), f"{p}_var", ("T",)),
                 (x, f"{p}_mean")),
            Node(p, VectorOp(p, "normalize", dims, ((x, td), (f"{p}_mean", ("T",)), (f"{p}_var", ("T",))), p),
                 (x, f"{p}_mean", f"{p}_var"))]


def _add(name: str, t: int, d: int, a: str, b: str) -> Node:
    dims = (("T", t), ("D", d))
    return Node(name, VectorOp(name, "add", dims, ((a, ("T", "D")), (b, ("T", "D"))), name), (a, b))


def block(spec: TransformerSpec, index: int = 1, x: str = "") -> list[Node]:
    """One layer's nodes; ``x`` names the producer of the block's input ('' = the block input)."""
    t, d, f = spec.tokens, spec.width, spec.ffn
    p = f"l{index}"
    src = (x,) if x else ()
    out: list[Node] = []
    h = x
    if spec.pre_norm:
        out += _norm(f"{p}_ln1", t, d, x)
        h = f"{p}_ln1"
    hin = (h,) if h else src
    for proj in ("q", "k", "v"):
        out.append(Node(f"{p}_{proj}", gemm(f"{p}_{proj}", t, d, d, (h or "x", "w", f"{p}_{proj}")), hin))
    out.append(Node(f"{p}_attn", spec.attention(), (f"{p}_q", f"{p}_k", f"{p}_v")))
    out.append(Node(f"{p}_proj", gemm(f"{p}_proj", t, d, d, (f"{p}_attn", "w", f"{p}_proj")), (f"{p}_attn",)))
    res1 = _add(f"{p}_res1", t, d, f"{p}_proj", x or "x")
    out.append(Node(res1.name, res1.work, (f"{p}_proj",) + src))
    if spec.pre_norm:
        out += _norm(f"{p}_ln2", t, d, res1.name)
        h = f"{p}_ln2"
    else:
        out += _norm(f"{p}_ln1", t, d, res1.name)
        h = f"{p}_ln1"
    out.append(Node(f"{p}_ffn1", gemm(f"{p}_ffn1", t, f, d, (h, "w", f"{p}_ffn1")), (h,)))
    out.append(Node(f"{p}_gelu", VectorOp(f"{p}_gelu", "gelu", (("T", t), ("D", f)),
                                          ((f"{p}_ffn1", ("T", "D")),), f"{p}_gelu"), (f"{p}_ffn1",)))
    out.append(Node(f"{p}_ffn2", gemm(f"{p}_ffn2", t, d, f, (f"{p}_gelu", "w", f"{p}_ffn2")), (f"{p}_gelu",)))
    skip = res1.name if spec.pre_norm else f"{p}_ln1"
    res2 = _add(f"{p}_res2", t, d, f"{p}_ffn2", skip)
    out.append(Node(res2.name, res2.work, (f"{p}_ffn2", skip)))
    if not spec.pre_norm:
        out += _norm(f"{p}_ln2", t, d, res2.name)
    return out


def network(spec: TransformerSpec) -> list[Node]:
    """All layers, each reading the previous one's output."""
    nodes: list[Node] = []
    x = ""
    for i in range(1, spec.layers + 1):
        layer = block(spec, i, x)
        nodes += layer
        x = layer[-1].name
    return nodes


def macs(nodes: list[Node]) -> int:
    return sum(n.work.macs for n in nodes if not isinstance(n.work, VectorOp))


# BERT-base (Devlin et al. 2019): 12 layers, width 768, 12 heads of 64, FFN 3072, post-norm; the zoo's
# bert_base runs its GEMMs at sequence 128, batch 1. GPT-2 small (Radford et al. 2019): the same sizes,
# pre-norm, context 1024.
PRESETS: dict[str, dict] = {
    "bert_base": {"layers": 12, "width": 768, "heads": 12, "head_size": 64, "ffn": 3072, "seq": 128,
                  "pre_norm": False},
    "gpt2": {"layers": 12, "width": 768, "heads": 12, "head_size": 64, "ffn": 3072, "seq": 1024,
             "pre_norm": True},
}


def preset(name: str, **overrides) -> TransformerSpec:
    if name not in PRESETS:
        raise ConfigError(f"unknown transformer {name!r}; transformers: {', '.join(PRESETS)}")
    args = dict(PRESETS[name])
    args.update({k: v for k, v in overrides.items() if v is not None})
    return TransformerSpec(name, **args)


def to_graph(nodes: list[Node]):
    """The nodes as a workload graph (``workloads.graph.Graph``, Layer nodes with producers): a GEMM
    is a ``gemm`` layer; an attention node is its Q K^T (a grouped GEMM, one group per batch x head),
    a ``softmax`` node and its A V (grouped GEMM); ``add`` is ``eltwise``, ``gelu`` ``activation``, and
    a layer norm's mean, var and normalize are one ``layernorm`` node (named as the normalize). K and V
    are producers of the attention GEMMs only when they are the whole operand (not in decode, where the
    KV cache comes from outside the step)."""
    from workloads.graph import GraphBuilder
    from workloads.layer import Layer, LayerKind
    from workloads.layer import gemm as gemm_layer

    b = GraphBuilder()
    alias: dict[str, str] = {}
    out_elems: dict[str, int] = {}

    def producers(names: tuple[str, ...]) -> tuple[str, ...]:
        seen: list[str] = []
        for n in names:
            a = alias.get(n, n)
            if a in out_elems and a not in seen:
                seen.append(a)
        return tuple(seen)

    def add(layer: Layer, ins: tuple[str, ...]) -> str:
        b.add(layer, *ins) if ins else b.add(layer, ())
        out_elems[layer.name] = layer.output_elems
        return layer.name

    for node in nodes:
        w = node.work
        if isinstance(w, AttentionShape):
            g = w.batch * w.heads
            q, k, v = (node.inputs + ("", "", ""))[:3]
            scores = Layer(f"{node.name}_scores", LayerKind.GEMM, C=g * w.e, K=g * w.keys, H=w.queries, groups=g)
            ins = producers((q,)) + tuple(p for p in producers((k,)) if out_elems[p] == scores.weight_elems)
            add(scores, ins)
            soft = Layer(f"{node.name}_softmax", LayerKind.SOFTMAX, C=g * w.keys, K=g * w.keys, H=w.queries)
            add(soft, (scores.name,))
            ctx = Layer(node.name, LayerKind.GEMM, C=g * w.keys, K=g * w.f, H=w.queries, groups=g)
            add(ctx, (soft.name,) + tuple(p for p in producers((v,)) if out_elems[p] == ctx.weight_elems))
        elif isinstance(w, Problem):
            sz = dict(w.dims)
            add(gemm_layer(node.name, sz["M"], sz["N"], sz["K"]), producers(node.inputs))
        else:
            t, d = w.size(("T",)), w.size(("D",))
            if w.op in ("mean", "var"):
                alias[node.name] = node.name.rsplit("_", 1)[0]     # folded into the normalize node
                continue
            kind = {"add": LayerKind.ELTWISE, "gelu": LayerKind.ACTIVATION, "normalize": LayerKind.LAYERNORM}[w.op]
            ins = producers(tuple(i for i in node.inputs if alias.get(i) != node.name))
            add(Layer(node.name, kind, C=d, K=d, H=t, operands=2 if kind is LayerKind.ELTWISE else 1), ins)
    return b.graph()
