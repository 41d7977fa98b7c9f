"""Attention as a cascade of einsums: the MAC einsums (``accelsim.problem.bmm``) and the non-MAC
ops (``accelsim.vector_ops.VectorOp``) between them, each bound to a compute unit.

Shape (:class:`AttentionShape`): batch B, heads H, M query rows (M = 1 in decode mode), L keys (the
sequence or the KV cache length), head sizes E (Q, K) and F (V, output). Scores S = Q K^T per head.

Two cascades (FuseMax's taxonomy, reference/attention.md):
- :func:`three_pass` (unfused and FLAT-style): QK; the softmax as max, exp(S - max), sum, divide
  (four ops per score element: the shift is part of ``exp``); AV.
- :func:`one_pass` (FuseMax-style online softmax over key tiles of ``tile`` keys: ``L // tile`` full
  tiles and, when ``tile`` does not divide L, one ragged last tile of ``L % tile`` keys):
  per score element QK, the tile max, exp(S - running max) and the tile sum; per row and tile the
  running max, the correction exp(m_old - m_new), and the running sum and output rescaled and merged
  (one fused multiply-add per element: ``fma``); per row the final divide. The per-tile ops are
  counted on every tile, the first included (uniform schedule).

Binding: each step names the unit kind it runs on, ``ARRAY`` (the 2-D MAC array) or ``VECTOR`` (the
1-D vector unit; the MAC array when the arch has none: ``accelsim.vector_ops.unit_of``). The einsums
always run on the array; FuseMax-style binds its per-score-element ops to the array (PEs with an exp
unit, as FuseMax) and its per-row ops to the vector unit; ``element_unit=VECTOR`` moves the
per-element ops to the vector unit.

Invariants: a step is an einsum (a ``Problem``) or a ``VectorOp``; MACs of a cascade = B*H*M*L*(E+F)
whatever the cascade; every op count is a product of the shape's sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.errors import ConfigError
from accelsim.problem import Problem, bmm
from accelsim.vector_ops import VectorOp

ARRAY = "array"
VECTOR = "vector"
UNITS: tuple[str, ...] = (ARRAY, VECTOR)


@dataclass(frozen=True)
class AttentionShape:
    batch: int
    heads: int
    queries: int       # M: L in prefill, 1 in decode
    keys: int          # L: sequence length or KV-cache length
    e: int = 64
    f: int = 64

    def __post_init__(self) -> None:
        for name in ("batch", "heads", "queries", "keys", "e", "f"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"attention shape: {name} must be a positive integer, got {v!r}")

    @property
    def rows(self) -> int:
        """Query rows over all batches and heads (B*H*M)."""
        return self.batch * self.heads * self.queries

    @property
    def macs(self) -> int:
        return self.rows * self.keys * (self.e + self.f)

    def words(self) -> dict[str, int]:
        """Elements of each tensor of the attention (one word each)."""
        n = self.batch * self.heads
        return {"Q": n * self.queries * self.e, "K": n * self.keys * self.e, "V": n * self.keys * self.f,
                "S": n * self.queries * self.keys, "A": n * self.queries * self.keys,
                "O": n * self.queries * self.f}


@dataclass(frozen=True)
class Step:
    name: str
    unit: str                          # ARRAY or VECTOR
    work: Problem | VectorOp

    @property
    def op(self) -> str:
        return "mac" if isinstance(self.work, Problem) else self.work.op

    @property
    def count(self) -> int:
        return self.work.macs if isinstance(self.work, Problem) else self.work.ops


def _dims(s: AttentionShape, *extra: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    return (("B", s.batch), ("H", s.heads), ("M", s.queries)) + extra


def three_pass(s: AttentionShape) -> tuple[Step, ...]:
    n = s.batch * s.heads
    box = _dims(s, ("L", s.keys))
    row = ("B", "H", "M")
    return (
        Step("qk", ARRAY, bmm("qk", n, s.queries, s.keys, s.e, ("Q", "K", "S"))),
        Step("max", VECTOR, VectorOp("max", "max", box, (("S", ("B", "H", "M", "L")),), "GM", row)),
        Step("exp", VECTOR, VectorOp("exp", "exp", box, (("S", ("B", "H", "M", "L")), ("GM", row)), "SN")),
        Step("sum", VECTOR, VectorOp("sum", "sum", box, (("SN", ("B", "H", "M", "L")),), "SD", row)),
        Step("divide", VECTOR, VectorOp("divide", "divide", box, (("SN", ("B", "H", "M", "L")), ("SD", row)), "A")),
        Step("av", ARRAY, bmm("av", n, s.queries, s.f, s.keys, ("A", "V", "O"))),
    )


def key_tile(keys: int, limit: int) -> int:
    """The one-pass cascade's key tile L0: ``limit`` keys (the array width), or all ``keys`` when fewer;
    L need not be a multiple of it (the last tile is ragged: :func:`key_tiles`)."""
    return min(keys, max(1, limit))


def key_tiles(keys: int, tile: int) -> tuple[tuple[int, int], ...]:
    """The key tiles as (count, keys per tile): ``keys // tile`` full tiles, then one ragged tile of
    the ``keys % tile`` left over (none when ``tile`` divides ``keys``)."""
    full, rest = divmod(keys, tile)
    return tuple((c, t) for c, t in ((full, tile), (1, rest)) if c and t)


def one_pass(s: AttentionShape, tile: int, element_unit: str = ARRAY) -> tuple[Step, ...]:
    """The one-pass cascade over key tiles of ``tile`` keys: the full tiles' steps, then (when ``tile``
    does not divide L) the ragged last tile's, named with a ``_last`` suffix (module docstring)."""
    if element_unit not in UNITS:
        raise ConfigError(f"attention: element_unit {element_unit!r}; allowed: {', '.join(UNITS)}")
    if not 1 <= tile <= s.keys:
        raise ConfigError(f"attention: key tile {tile} must be between 1 and the key length {s.keys}")
    n = s.batch * s.heads
    score = ("B", "H", "M", "L1", "L0")
    rt = ("B", "H", "M", "L1")
    row = ("B", "H", "M")
    tiles = key_tiles(s.keys, tile)
    steps = [Step("qk", ARRAY, bmm("qk", n, s.queries, s.keys, s.e, ("Q", "K", "S")))]
    for part, (l1, l0) in enumerate(tiles):
        x = "" if part == 0 else "_last"
        el = _dims(s, ("L1", l1), ("L0", l0))
        per_tile = _dims(s, ("L1", l1))
        per_tile_f = _dims(s, ("L1", l1), ("F", s.f))
        steps += [
            Step("tile_max" + x, element_unit, VectorOp("tile_max" + x, "max", el, (("S", score),), "LM", rt)),
            Step("running_max" + x, VECTOR, VectorOp("running_max" + x, "max", per_tile, (("LM", rt),), "RM", row)),
            Step("correction" + x, VECTOR, VectorOp("correction" + x, "exp", per_tile, (("RM", rt),), "PRM")),
            Step("exp" + x, element_unit, VectorOp("exp" + x, "exp", el, (("S", score), ("RM", rt)), "SLN")),
            Step("tile_sum" + x, element_unit, VectorOp("tile_sum" + x, "sum", el, (("SLN", score),), "SLD", rt)),
            Step("av" + x, ARRAY, bmm("av" + x, n * l1, s.queries, s.f, l0, ("SLN", "V", "SLNV"))),
            Step("merge_sum" + x, VECTOR, VectorOp("merge_sum" + x, "fma", per_tile,
                                                   (("RD", rt), ("PRM", rt), ("SLD", rt)), "RD")),
            Step("merge_out" + x, VECTOR, VectorOp("merge_out" + x, "fma", per_tile_f,
                                                   (("RNV", ("B", "H", "M", "L1", "F")), ("PRM", rt),
                                                    ("SLNV", ("B", "H", "M", "L1", "F"))), "RNV")),
        ]
    steps.append(Step("divide", VECTOR, VectorOp("divide", "divide", _dims(s, ("F", s.f)),
                                                 (("RNV", ("B", "H", "M", "F")), ("RD", row)), "O")))
    return tuple(steps)


def op_counts(steps: tuple[Step, ...]) -> dict[tuple[str, str], int]:
    """(unit kind, op) -> operations, summed over the steps."""
    out: dict[tuple[str, str], int] = {}
    for st in steps:
        key = (st.unit, st.op)
        out[key] = out.get(key, 0) + st.count
    return out
