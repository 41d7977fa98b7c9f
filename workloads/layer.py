"""One DNN layer as a loop nest over Timeloop's dimensions, and a workload (a named list of layers).

Dimensions (DIMS): N batch, G groups, K output channels per group, C input channels per group,
P output rows, Q output columns, R filter rows, S filter columns. R slides over P (rows), S over Q.
Users give total channels (``C``, ``K``) and ``groups``; the loop nest uses per-group ``K``, ``C``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from accelsim.errors import ConfigError
from accelsim.names import CONV_DIMS

DIMS: tuple[str, ...] = CONV_DIMS          # the names live in accelsim.names
N, G, K, C, P, Q, R, S = range(8)


class LayerKind(str, enum.Enum):
    CONV = "conv"
    DEPTHWISE = "depthwise"
    FC = "fc"
    GEMM = "gemm"
    POOL = "pool"
    ELTWISE = "eltwise"
    ACTIVATION = "activation"
    SOFTMAX = "softmax"
    LAYERNORM = "layernorm"
    UPSAMPLE = "upsample"

    @property
    def has_macs(self) -> bool:
        return self in (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.FC, LayerKind.GEMM)

    @property
    def non_mac(self) -> NonMacOp:
        """What a bandwidth/vector op does per output element (MAC kinds: KeyError)."""
        return NON_MAC_OPS[self]


@dataclass(frozen=True)
class NonMacOp:
    """What a non-MAC workload node costs: per output element and per input read (per operand; a
    windowed op, pooling, per window tap) one operation of each op kind in ``ops`` (op kinds of
    ``accelsim.vector_ops.OPS``, each priced as that action of the unit that runs it). Adding a node
    kind (layernorm, gelu, exp, reduce ...) is a ``LayerKind`` member and a row here; a fused group
    runs it on its tile. (``accelsim.vector_ops`` describes the compute unit's op kinds over named
    dims; this is the workload graph's per-node count.)"""

    ops: tuple[str, ...]
    window: bool = False      # reads an R x S window per output (pooling), else elementwise

    @property
    def ops_per_element(self) -> int:
        return len(self.ops)


NON_MAC_OPS: dict[LayerKind, NonMacOp] = {
    LayerKind.POOL: NonMacOp(("max",), window=True),             # one max per window tap
    LayerKind.ELTWISE: NonMacOp(("add",)),
    LayerKind.ACTIVATION: NonMacOp(("gelu",)),    # every activation (ReLU, sigmoid, clip too) priced as gelu
    LayerKind.SOFTMAX: NonMacOp(("max", "exp", "sum", "divide")),   # as accelsim.attention.cascade.three_pass
    LayerKind.LAYERNORM: NonMacOp(("mean", "var", "normalize")),    # as accelsim.attention.transformer
    LayerKind.UPSAMPLE: NonMacOp(()),             # nearest neighbour: copies, no arithmetic
}


@dataclass(frozen=True)
class Layer:
    """A layer. ``H``/``W`` are the unpadded input height/width; P/Q are derived.

    For bandwidth-only kinds (pool, eltwise, activation, softmax) ``R``/``S``/``stride`` describe the
    window (pool) or are 1; they move data but perform no MACs. ``operands`` is the number of input
    tensors read (2 for an elementwise add). An ``upsample`` (nearest neighbour, as FPN's top-down
    path and the upsampling convs of style transfer read their input) repeats every row ``stride_h``
    and every column ``stride_w`` times: P = H * stride_h, Q = W * stride_w (R = S = 1, no padding).
    """

    name: str
    kind: LayerKind = LayerKind.CONV
    N: int = 1
    C: int = 1
    K: int = 1
    H: int = 1
    W: int = 1
    R: int = 1
    S: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    dil_h: int = 1
    dil_w: int = 1
    groups: int = 1
    operands: int = 1
    P: int = field(init=False)
    Q: int = field(init=False)

    def __post_init__(self) -> None:
        where = f"layer {self.name!r}"
        if not isinstance(self.kind, LayerKind):
            try:
                object.__setattr__(self, "kind", LayerKind(self.kind))
            except ValueError:
                allowed = ", ".join(k.value for k in LayerKind)
                raise ConfigError(f"{where}: unknown kind {self.kind!r}; allowed: {allowed}") from None
        for name in ("N", "C", "K", "H", "W", "R", "S", "stride_h", "stride_w", "dil_h", "dil_w",
                     "groups", "operands"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {name} must be a positive integer, got {value!r}")
        for name in ("pad_h", "pad_w"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{where}: {name} must be a non-negative integer, got {value!r}")
        for name, limit in self._limits().items():
            if getattr(self, name) > limit:
                raise ConfigError(f"{where}: {name} = {getattr(self, name)} is above the limit {limit:,} "
                                  f"(see docs/limits.md)")
        if self.C % self.groups or self.K % self.groups:
            raise ConfigError(f"{where}: groups={self.groups} must divide C={self.C} and K={self.K}")
        if self.kind is LayerKind.DEPTHWISE and not (self.groups == self.C == self.K):
            raise ConfigError(f"{where}: a depthwise layer needs groups == C == K, "
                              f"got groups={self.groups}, C={self.C}, K={self.K}")
        eff_r = self.dil_h * (self.R - 1) + 1
        eff_s = self.dil_w * (self.S - 1) + 1
        span_h = self.H + 2 * self.pad_h - eff_r
        span_w = self.W + 2 * self.pad_w - eff_s
        if span_h < 0 or span_w < 0:
            raise ConfigError(f"{where}: filter {self.R}x{self.S} (dilation {self.dil_h}x{self.dil_w}) "
                              f"does not fit the padded input {self.H + 2 * self.pad_h}x{self.W + 2 * self.pad_w}")
        if self.kind.has_macs and (self.pad_h >= eff_r or self.pad_w >= eff_s):
            raise ConfigError(f"{where}: padding {self.pad_h}x{self.pad_w} must be smaller than the "
                              f"filter extent {eff_r}x{eff_s} (else whole outputs see only padding)")
        if self.kind is LayerKind.UPSAMPLE:
            if (self.R, self.S, self.pad_h, self.pad_w) != (1, 1, 0, 0):
                raise ConfigError(f"{where}: an upsample takes no window or padding (R = S = 1, pad 0), got "
                                  f"R={self.R}, S={self.S}, pad {self.pad_h}x{self.pad_w}")
            object.__setattr__(self, "P", self.H * self.stride_h)
            object.__setattr__(self, "Q", self.W * self.stride_w)
            return
        object.__setattr__(self, "P", span_h // self.stride_h + 1)
        object.__setattr__(self, "Q", span_w // self.stride_w + 1)

    def _limits(self) -> dict[str, int]:
        """The largest value of each field (accelsim.limits): a conv or depthwise filter slides, so
        its R, S are bounded tighter than those of a fully connected layer (R, S = H, W)."""
        from accelsim import limits as lim

        sliding = self.kind in (LayerKind.CONV, LayerKind.DEPTHWISE)
        return {"N": lim.MAX_BATCH, "C": lim.MAX_CHANNELS, "K": lim.MAX_CHANNELS, "groups": lim.MAX_CHANNELS,
                "H": lim.MAX_SPATIAL, "W": lim.MAX_SPATIAL,
                "R": lim.MAX_FILTER if sliding else lim.MAX_SPATIAL, "S": lim.MAX_FILTER if sliding else lim.MAX_SPATIAL,
                "stride_h": lim.MAX_STRIDE, "stride_w": lim.MAX_STRIDE, "dil_h": lim.MAX_STRIDE,
                "dil_w": lim.MAX_STRIDE, "pad_h": lim.MAX_PADDING, "pad_w": lim.MAX_PADDING,
                "operands": lim.MAX_OPERANDS}

    # ---- loop-nest view -------------------------------------------------------------------
    @property
    def Kg(self) -> int:
        return self.K // self.groups

    @property
    def Cg(self) -> int:
        return self.C // self.groups

    @property
    def dims(self) -> tuple[int, ...]:
        """Loop bounds in DIMS order (N, G, K/G, C/G, P, Q, R, S)."""
        return (self.N, self.groups, self.Kg, self.Cg, self.P, self.Q, self.R, self.S)

    # ---- sizes ------------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        if not self.kind.has_macs:
            return 0
        n, g, k, c, p, q, r, s = self.dims
        return n * g * k * c * p * q * r * s

    @property
    def flops(self) -> int:
        """2 FLOPs per MAC; a bandwidth-only op counts one op per output element per operand (pool: per window tap)."""
        if self.kind.has_macs:
            return 2 * self.macs
        return self.vector_ops

    @property
    def vector_ops(self) -> int:
        """Operations of a bandwidth/vector op (``NON_MAC_OPS``): per output element, one per window
        tap (pooling) or per operand, times the kind's ops per element; 0 for MAC layers."""
        return sum(self.vector_op_counts.values())

    @property
    def vector_op_counts(self) -> dict[str, int]:
        """Op kind (``NON_MAC_OPS``) -> operations of this node: per output element, one per window
        tap (pooling) or per operand, of each of the kind's op kinds; empty for MAC layers."""
        return self.vector_op_counts_of(self.output_elems)

    def vector_op_counts_of(self, outputs: int) -> dict[str, int]:
        """Op kind -> operations to compute ``outputs`` of this node's output elements (a fused
        group's tile: the elements it computes, recomputed halo included); empty for MAC layers."""
        if self.kind.has_macs:
            return {}
        op = self.kind.non_mac
        taps = self.R * self.S if op.window else max(1, self.operands)
        return {k: outputs * taps for k in op.ops}

    @property
    def ifmap_elems(self) -> int:
        """Elements of the (unpadded) input tensor, all operands included."""
        return self.N * self.C * self.H * self.W * self.operands

    @property
    def weight_elems(self) -> int:
        if not self.kind.has_macs:
            return 0
        return self.K * self.Cg * self.R * self.S

    @property
    def output_elems(self) -> int:
        channels = self.K if self.kind.has_macs else self.C
        return self.N * channels * self.P * self.Q

    def with_batch(self, n: int) -> Layer:
        return replace(self, N=n)

    def describe(self) -> str:
        g = f" g{self.groups}" if self.groups > 1 else ""
        return (f"{self.kind.value} {self.C}x{self.H}x{self.W} -> {self.K if self.kind.has_macs else self.C}"
                f"x{self.P}x{self.Q}, {self.R}x{self.S}/{self.stride_h}{g}")


def conv(name: str, C: int, K: int, H: int, R: int, stride: int = 1, pad: int = 0, groups: int = 1,
         W: int | None = None, S: int | None = None, N: int = 1, dilation: int = 1) -> Layer:
    """Shorthand used by the zoo: square inputs and filters unless W/S given."""
    kind = LayerKind.DEPTHWISE if groups > 1 and groups == C == K else LayerKind.CONV
    return Layer(name=name, kind=kind, N=N, C=C, K=K, H=H, W=W if W is not None else H, R=R,
                 S=S if S is not None else R, stride_h=stride, stride_w=stride, pad_h=pad, pad_w=pad,
                 dil_h=dilation, dil_w=dilation, groups=groups)


def fc(name: str, C: int, K: int, H: int = 1, N: int = 1) -> Layer:
    """Fully connected layer over a C x H x H input (H > 1: the filter covers the whole map)."""
    return Layer(name=name, kind=LayerKind.FC, N=N, C=C, K=K, H=H, W=H, R=H, S=H)


def gemm(name: str, m: int, n: int, k: int, batch: int = 1) -> Layer:
    """(m x k) @ (k x n): m rows become output rows P, k the reduction C, n the outputs K."""
    return Layer(name=name, kind=LayerKind.GEMM, N=batch, C=k, K=n, H=m, W=1, R=1, S=1)


def layer_densities(densities: tuple, layer: str) -> dict[str, Any]:
    """role -> density model of one layer from a workload's ``densities`` ((layer or "" for the
    network, ((role, model), ...)), ...): the network's, overridden per role by the layer's."""
    given = dict(densities)
    return {**dict(given.get("", ())), **dict(given.get(layer, ()))}


@dataclass(frozen=True)
class Workload:
    """``layers``: what a run evaluates, one row each. ``graph`` (``workloads.graph.Graph``), when
    known: the whole network, every operator and its producers; each of ``layers`` is one of its
    nodes (the zoo lists the MAC layers and keeps pools and adds in the graph only). ``densities``: per
    layer name ("" = every layer) the tensors' density models (``accelsim.sparse.density``: role ->
    model), as the workload file or the zoo gives them; empty for a dense workload. A layer's entry
    overrides the network's per role."""

    name: str
    layers: tuple[Layer, ...]
    graph: Any = None
    densities: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def __post_init__(self) -> None:
        if not self.layers:
            raise ConfigError(f"workload {self.name!r} has no layers")
        names = [layer.name for layer in self.layers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"workload {self.name!r}: duplicate layer name(s) {sorted(dup)}")
        if self.graph is not None:
            for layer in self.layers:
                if layer.name not in self.graph or self.graph.node(layer.name) != layer:
                    raise ConfigError(f"workload {self.name!r}: layer {layer.name!r} is not a node of its graph")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def with_batch(self, n: int) -> Workload:
        graph = self.graph.with_batch(n) if self.graph is not None else None
        return Workload(self.name, tuple(layer.with_batch(n) for layer in self.layers), graph, self.densities)

    def select(self, names: list[str] | None) -> Workload:
        if not names:
            return self
        by_name = {layer.name: layer for layer in self.layers}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ConfigError(f"workload {self.name!r} has no layer(s) {missing}; "
                              f"layers: {', '.join(by_name)}")
        return Workload(self.name, tuple(by_name[n] for n in names), self.graph, self.densities)

    def density_of(self, layer: str) -> dict[str, Any]:
        """role -> density model of one layer (the network's, overridden per role by the layer's)."""
        return layer_densities(self.densities, layer)
