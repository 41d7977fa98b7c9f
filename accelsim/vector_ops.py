"""Non-MAC operations as first-class work: exp, max, sum, divide, layer-norm statistics, ...

A :class:`VectorOp` is one operation applied over the points of a box of named dims (like a
problem's, ``accelsim.problem``): an **elementwise** op does one operation per point and writes one
output element per point; a **reduction** op does one operation per point and writes one element per
point of the dims it keeps (``keep``), folding the others. Op kinds live in the :data:`OPS` registry;
each op kind is one action of the compute unit that runs it, so an op count is the action table
entry ``(unit, op)`` (``accelsim.names``-style (component, action) keys, priced like any action).

Invariants:
- ``ops`` = the product of all dim sizes (one op per point, for both elementwise and reductions: a
  reduction of n values is n operations, the first one combining with the identity);
- each input tensor is read once per point of the dims that index it, i.e. its element count when
  the op streams it (inputs are named by the dims they use, a subset of the op's dims);
- the output has the kept dims (all dims for an elementwise op), written once per element;
- an op kind runs on the vector unit of a hierarchy (``Hierarchy.vector``) or, when the arch has
  none, on the MAC array (:func:`unit_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import ConfigError

ELEMENTWISE = "elementwise"
REDUCTION = "reduction"


@dataclass(frozen=True)
class OpKind:
    name: str
    shape: str          # ELEMENTWISE or REDUCTION
    doc: str


OPS: dict[str, OpKind] = {k.name: k for k in (
    OpKind("max", REDUCTION, "running maximum (softmax's row max)"),
    OpKind("sum", REDUCTION, "running sum (softmax's denominator)"),
    OpKind("mean", REDUCTION, "layer-norm mean: a sum, scaled once at the end (the scale not counted)"),
    OpKind("var", REDUCTION, "layer-norm variance: sum of (x - mean)^2 (one fused op per element)"),
    OpKind("exp", ELEMENTWISE, "exp(x - m): the shift is part of the op (softmax numerator, rescale factors)"),
    OpKind("divide", ELEMENTWISE, "x / d (softmax normalization)"),
    OpKind("mul", ELEMENTWISE, "x * c (rescaling a running sum or output by a correction factor)"),
    OpKind("add", ELEMENTWISE, "x + y (residual adds; merging partial results)"),
    OpKind("fma", ELEMENTWISE, "x * c + y (rescale a running sum or output and merge a tile's, one op)"),
    OpKind("normalize", ELEMENTWISE, "(x - mean) * rstd * gamma + beta (layer norm's output, one fused op)"),
    OpKind("gelu", ELEMENTWISE, "GELU activation"),
)}


@dataclass(frozen=True)
class VectorOp:
    """``output[keep dims] = op over the box dims of inputs[their dims]``."""

    name: str
    op: str
    dims: tuple[tuple[str, int], ...]
    inputs: tuple[tuple[str, tuple[str, ...]], ...]    # (tensor name, dims indexing it)
    output: str
    keep: tuple[str, ...] | None = None                  # None: every dim (elementwise)

    def __post_init__(self) -> None:
        where = f"vector op {self.name!r}"
        if self.op not in OPS:
            raise ConfigError(f"{where}: unknown op {self.op!r}; allowed: {', '.join(OPS)}")
        names = [d for d, _ in self.dims]
        for d, n in self.dims:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"{where}: dim {d} must be a positive integer, got {n!r}")
        for t, ds in self.inputs:
            for d in ds:
                if d not in names:
                    raise ConfigError(f"{where}: input {t!r} uses unknown dim {d!r}; dims: {', '.join(names)}")
        kind = OPS[self.op]
        if kind.shape == REDUCTION and self.keep is None:
            raise ConfigError(f"{where}: reduction {self.op!r} needs the dims it keeps")
        if kind.shape == ELEMENTWISE and self.keep is not None and tuple(self.keep) != tuple(names):
            raise ConfigError(f"{where}: elementwise {self.op!r} keeps every dim")
        for d in self.keep or ():
            if d not in names:
                raise ConfigError(f"{where}: keeps unknown dim {d!r}; dims: {', '.join(names)}")

    @property
    def kind(self) -> OpKind:
        return OPS[self.op]

    @property
    def out_dims(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.dims) if self.keep is None else tuple(self.keep)

    def size(self, dims: tuple[str, ...]) -> int:
        sizes = dict(self.dims)
        out = 1
        for d in dims:
            out *= sizes[d]
        return out

    @property
    def ops(self) -> int:
        return self.size(tuple(d for d, _ in self.dims))

    def reads(self) -> dict[str, int]:
        """Words read per input tensor when streamed once."""
        return {t: self.size(ds) for t, ds in self.inputs}

    @property
    def writes(self) -> int:
        return self.size(self.out_dims)


def unit_of(hierarchy: object) -> tuple[str, int]:
    """(name, lanes) of the unit that runs non-MAC ops: the vector unit (its lanes times the
    instances of the levels above the one it hangs below), else the MAC array (its compute units)."""
    vec = getattr(hierarchy, "vector", None)
    if vec is None:
        return hierarchy.compute.name, hierarchy.instances  # type: ignore[attr-defined]
    above = 1
    for i, f in hierarchy.fanouts:  # type: ignore[attr-defined]
        if i < hierarchy.index(vec.below):  # type: ignore[attr-defined]
            above *= f.size
    return vec.name, vec.lanes * above
