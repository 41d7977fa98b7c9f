"""A mapping: the loop nest DRAM -> GLB -> spatial (rows, cols) -> RF -> MAC for one layer.

Per level a tiling factor for each dimension (DIMS order); temporal levels (dram, glb, rf) also a
loop order (outer -> inner). Per tensor, whether the GLB and the RF keep it (else it bypasses).
Factors need not divide the dimension (ceil tiling): the last tile of a dimension is partial and
the PEs it leaves idle stay idle, as on the real chip. A factor may not exceed what its level can
use: with inner span s, a factor f needs (f - 1) * s < D.

Buffer semantics (the cost model and the brute-force interpreter share them):
- a buffer's tile is the set of tensor elements the loops below it touch (per axis: with a stride
  larger than the filter, the rows in between are not fetched), clipped to the tensor (padding
  zeros are made, not stored);
- a buffer is refilled at every iteration of the loops above it, down to the innermost loop
  that indexes its tensor (a static schedule: loops that do not index the tensor keep it stationary);
- a tensor the GLB keeps *per pass* (``glb_pass``) has a GLB tile of one processing pass: it spans
  only the GLB loops inside the innermost GLB loop that indexes the tensor (and everything below
  the GLB); that loop is then a loop above the tile for that tensor, refilling it (Eyeriss's 8 kB
  filter part holding the filters of the current pass). With no GLB loop indexing the tensor the
  tile is the ordinary one. The other tensors' GLB tiles are unchanged;
- when the refill is a step of that innermost loop, the overlap with the previous tile is kept
  (sliding windows); otherwise the whole tile is fetched;
- each MAC input may have a one-word operand register and the psum a one-word accumulator
  (``reg_keep``, from the arch's ``pe_array.operand_registers``): they are buffers like the others,
  so consecutive MACs that use the same value read it once. Without one, every MAC reads;
- partial sums: a tile fill reads the parent only if a partial sum is already there; a MAC with no
  accumulator reads its partial sum every time; PEs that share an output reduce over the array first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelsim.energy import TENSORS
from accelsim.fields import Fields
from workloads.layer import DIMS, Layer

LEVELS: tuple[str, ...] = ("dram", "glb", "rows", "cols", "rf")
TEMPORAL: tuple[str, ...] = ("dram", "glb", "rf")
DRAM, GLB, ROWS, COLS, RF = range(5)

# which dims index which tensor (DIMS order N G K C P Q R S)
RELEVANT: dict[str, tuple[bool, ...]] = {
    "ifmap": (True, True, False, True, True, True, True, True),
    "weight": (False, True, True, True, False, False, True, True),
    "psum": (True, True, True, False, True, True, False, False),
}


@dataclass(frozen=True)
class Mapping:
    factors: tuple[tuple[int, ...], ...]          # [level][dim], LEVELS x DIMS
    orders: tuple[tuple[int, ...], ...]           # [dram, glb, rf]: dim indices outer -> inner
    glb_keep: tuple[bool, ...]                    # per tensor (TENSORS order)
    rf_keep: tuple[bool, ...]
    reg_keep: tuple[bool, ...] = (True, True, True)   # MAC operand registers / psum accumulator
    glb_pass: tuple[bool, ...] = (False, False, False)   # per tensor: the GLB keeps one pass's tile

    def glb_tile_dims(self, tensor: int) -> frozenset[int]:
        """Dims whose GLB loops lie inside tensor ``tensor``'s GLB tile (TENSORS index): all, or for a
        per-pass tile the dims of the GLB loops after the innermost GLB loop indexing the tensor."""
        order = self.orders[TEMPORAL.index("glb")]
        if not self.glb_pass[tensor]:
            return frozenset(order)
        rel = RELEVANT[TENSORS[tensor]]
        last = -1
        for i, d in enumerate(order):
            if self.factors[GLB][d] > 1 and rel[d]:
                last = i
        return frozenset(order[last + 1:])

    def factor(self, level: str, dim: str) -> int:
        return self.factors[LEVELS.index(level)][DIMS.index(dim)]

    @property
    def active_pes(self) -> int:
        out = 1
        for f in self.factors[ROWS] + self.factors[COLS]:
            out *= f
        return out

    def spans(self) -> dict[tuple[int, int], int]:
        """(dim, level) -> product of that dim's factors at the levels inside ``level``: how far one
        step of that level's loop moves the dim's index."""
        out = {}
        for d in range(len(DIMS)):
            inner = 1
            for level in (RF, COLS, ROWS, GLB, DRAM):
                out[(d, level)] = inner
                inner *= self.factors[level][d]
        return out

    def spatial(self, level: int) -> int:
        out = 1
        for f in self.factors[level]:
            out *= f
        return out

    # ---- text ----------------------------------------------------------------------------
    def loop_nest(self, layer: Layer | None = None) -> str:
        """Timeloop-style listing, outermost first; spatial loops marked ``parallel-for``."""
        lines = []
        indent = 0

        def emit(text: str) -> None:
            lines.append("  " * indent + text)

        names = {DRAM: "DRAM", GLB: "GLB", RF: "RF"}
        keep = {GLB: self.glb_keep, RF: self.rf_keep}
        for level in (DRAM, GLB, ROWS, COLS, RF):
            if level in names:
                held = ""
                if level in keep:
                    held = " [" + ", ".join(t + (" per pass" if level == GLB and self.glb_pass[i] else "")
                                            for i, (t, k) in enumerate(zip(TENSORS, keep[level])) if k) + "]"
                    if not any(keep[level]):
                        held = " [bypassed]"
                emit(f"{names[level]}{held}")
                emit("-" * 8)
                order = self.orders[TEMPORAL.index(LEVELS[level])]
            else:
                order = tuple(range(len(DIMS)))
            for d in order:
                f = self.factors[level][d]
                if f == 1:
                    continue
                kw = "parallel-for" if level in (ROWS, COLS) else "for"
                tag = f" (array {LEVELS[level]})" if level in (ROWS, COLS) else ""
                emit(f"{kw} {DIMS[d].lower()} in [0:{f}){tag}")
                indent += 1
        emit("MAC")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for li, level in enumerate(LEVELS):
            entry: dict[str, Any] = {"factors": {d: self.factors[li][i] for i, d in enumerate(DIMS)
                                                 if self.factors[li][i] != 1}}
            if level in TEMPORAL:
                entry["order"] = "".join(DIMS[d] for d in self.orders[TEMPORAL.index(level)])
            if level == "glb":
                entry["keep"] = [t for t, k in zip(TENSORS, self.glb_keep) if k]
                if any(self.glb_pass):
                    entry["per_pass"] = [t for t, k in zip(TENSORS, self.glb_pass) if k]
            if level == "rf":
                entry["keep"] = [t for t, k in zip(TENSORS, self.rf_keep) if k]
                entry["registers"] = [t for t, k in zip(TENSORS, self.reg_keep) if k]
            out[level] = entry
        return out

    def compact(self) -> str:
        """One-line form for tables and CSV."""
        parts = []
        for li, level in enumerate(LEVELS):
            fs = "".join(f"{DIMS[i]}{f}" for i, f in enumerate(self.factors[li]) if f != 1) or "-"
            if level == "glb" and any(self.glb_pass):
                fs += "[" + ",".join(t for t, k in zip(TENSORS, self.glb_pass) if k) + "/pass]"
            parts.append(f"{level}:{fs}")
        return " ".join(parts)


def mapping_from_dict(data: Any, source: str = "<memory>", registers: tuple[str, ...] = TENSORS) -> Mapping:
    """Parse the YAML form (see :meth:`Mapping.to_dict`). Missing factors are 1; missing order is DIMS
    order; a missing ``rf.registers`` is ``registers`` (callers with an arch pass its operand registers)."""
    f = Fields(data, source, "")
    factors = []
    orders = []
    keeps = {}
    for level in LEVELS:
        lf = f.sub(level, {})
        if isinstance(lf, dict):
            lf = Fields(lf, source, level)
        ff = lf.sub("factors", {})
        if isinstance(ff, dict):
            ff = Fields(ff, source, f"{level}.factors")
        factors.append(tuple(ff.int(d, 1, minimum=1, maximum=1 << 40) for d in DIMS))
        ff.done()
        if level in TEMPORAL:
            order = lf.str("order", "".join(DIMS))
            if sorted(order) != sorted("".join(DIMS)):
                raise lf.error("order", f"order {order!r} must be a permutation of {''.join(DIMS)}")
            orders.append(tuple(DIMS.index(ch) for ch in order))
        if level in ("glb", "rf"):
            keep = lf.list("keep", list(TENSORS))
            for t in keep:
                if t not in TENSORS:
                    raise lf.error("keep", f"unknown tensor {t!r}; allowed: {', '.join(TENSORS)}")
            keeps[level] = tuple(t in keep for t in TENSORS)
        if level == "glb":
            per_pass = lf.list("per_pass", [])
            for t in per_pass:
                if t not in keep:
                    raise lf.error("per_pass", f"{t!r} is not a tensor the GLB keeps; allowed: {', '.join(keep) or 'none'}")
            keeps["pass"] = tuple(t in per_pass for t in TENSORS)
        if level == "rf":
            regs = lf.list("registers", list(registers))
            for t in regs:
                if t not in TENSORS:
                    raise lf.error("registers", f"unknown tensor {t!r}; allowed: {', '.join(TENSORS)}")
            keeps["reg"] = tuple(t in regs for t in TENSORS)
        lf.done()
    f.done()
    return Mapping(tuple(factors), tuple(orders), keeps["glb"], keeps["rf"], keeps["reg"], keeps["pass"])


def load_mapping(path: str) -> Mapping:
    from accelsim.yamlio import load_yaml

    return mapping_from_dict(load_yaml(path), path)
