"""Can this mapping run this layer (on this arch)? The one legality check: structure, coverage,
over-tiling, RF bypass, array size, what the buffers may keep, capacity, the arch's constraints.

Spec layer (imports the mapping, tile and constraint specs only). ``problems_of`` lists every
problem as a typed :class:`Problem` record (callers branch on ``kind`` and the named fields, never
on the message text); ``check`` raises the first as a ConfigError. An empty list means the cost
model, the interpreter and the simulator accept the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.energy import TENSORS
from accelsim.errors import ConfigError
from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RELEVANT, RF, ROWS, TEMPORAL, Mapping
from accelsim.tiles import tile_words
from workloads.layer import DIMS, Layer


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


KINDS: tuple[str, ...] = (
    "shape",          # factors are not LEVELS x DIMS
    "order",          # a loop order is not a permutation of the dims
    "factor",         # a factor < 1
    "over_tile",      # (factor - 1) x inner span >= dim
    "cover",          # the factors of a dim do not cover it
    "rf_bypass",      # a tensor bypassing the RF has a dim both spatial and an RF loop
    "array",          # spatial factors use more PE rows or columns than the arch has
    "keep",           # a buffer keeps a tensor the arch gives it no room for
    "rf_capacity",    # RF tiles exceed the register file(s)
    "glb_capacity",   # GLB tiles exceed a part of the global buffer
    "constraint",     # a factor > 1 at a level the arch's constraints forbid it
)


@dataclass(frozen=True)
class Problem:
    """One reason a mapping cannot run. ``level``/``dim`` are LEVELS/DIMS names; ``tensors`` the
    tensors concerned (for glb_capacity: the kept tensors of the overflowing part); ``need`` and
    ``limit`` the amounts compared (words, PEs or a factor), when the kind compares amounts."""

    kind: str
    message: str
    level: str | None = None
    dim: str | None = None
    tensors: tuple[str, ...] = ()
    need: int | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}; allowed: {', '.join(KINDS)}")

    def __str__(self) -> str:
        return self.message


def check(layer: Layer, mapping: Mapping, arch=None, source: str = "mapping") -> None:
    """Raise ConfigError if ``mapping`` cannot run ``layer`` (on ``arch``, when given)."""
    problems = problems_of(layer, mapping, arch)
    if problems:
        raise ConfigError(problems[0].message, source=source)


def problems_of(layer: Layer, mapping: Mapping, arch=None) -> list[Problem]:
    """Every problem of ``mapping`` for ``layer`` (and ``arch``, when given); [] when it is legal."""
    out: list[Problem] = []
    dims = layer.dims
    if len(mapping.factors) != len(LEVELS) or any(len(f) != len(DIMS) for f in mapping.factors):
        return [Problem("shape", "factors must be LEVELS x DIMS")]
    for name, order in zip(TEMPORAL, mapping.orders):
        if sorted(order) != list(range(len(DIMS))):
            out.append(Problem("order", f"loop order {order} is not a permutation of the dims", level=name))
    for d, D in enumerate(dims):
        span = 1
        # levels from inner to outer in nest order: rf, cols, rows, glb, dram
        for level in (RF, COLS, ROWS, GLB, DRAM):
            f = mapping.factors[level][d]
            if f < 1:
                out.append(Problem("factor", f"{LEVELS[level]} factor of {DIMS[d]} must be >= 1, got {f}",
                                   level=LEVELS[level], dim=DIMS[d], need=f, limit=1))
                return out
            if f > 1 and (f - 1) * span >= D:
                most = _ceil_div(D, span)
                out.append(Problem("over_tile", f"{LEVELS[level]} factor {f} of {DIMS[d]} over-tiles it: inner "
                                   f"span {span}, {DIMS[d]}={D} needs at most {most}",
                                   level=LEVELS[level], dim=DIMS[d], need=f, limit=most))
            span *= f
        if span < D:
            out.append(Problem("cover", f"factors of {DIMS[d]} cover {span} < {DIMS[d]}={D}", dim=DIMS[d],
                               need=D, limit=span))
    for t_i, t in enumerate(TENSORS):
        if mapping.glb_pass[t_i] and not mapping.glb_keep[t_i]:
            out.append(Problem("keep", f"a per-pass GLB tile of {t}, which the GLB does not keep", level="glb",
                               tensors=(t,)))
        if not mapping.rf_keep[t_i]:
            rel = RELEVANT[t]
            for d in range(len(DIMS)):
                if rel[d] and mapping.factors[RF][d] > 1 and (mapping.factors[ROWS][d] > 1 or mapping.factors[COLS][d] > 1):
                    out.append(Problem("rf_bypass", f"{t} bypasses the RF, so {DIMS[d]} cannot be both spatial "
                                       "and an RF loop", level="rf", dim=DIMS[d], tensors=(t,)))
    if arch is not None:
        for level, size in ((ROWS, arch.pe_array.rows), (COLS, arch.pe_array.cols)):
            used = mapping.spatial(level)
            if used > size:
                out.append(Problem("array", f"{LEVELS[level]} factors use {used} > {size} PE {LEVELS[level]}",
                                   level=LEVELS[level], need=used, limit=size))
        for t_i, t in enumerate(TENSORS):
            if mapping.rf_keep[t_i] and not arch.rf.holds(t):
                out.append(Problem("keep", f"the RF keeps {t} but the arch has no RF for it", level="rf",
                                   tensors=(t,)))
            if mapping.glb_keep[t_i] and t not in arch.glb.holds:
                out.append(Problem("keep", f"the GLB keeps {t} but the arch's glb.holds excludes it", level="glb",
                                   tensors=(t,)))
        words = tile_words(layer, mapping)
        rf_need = [words["rf"][i] for i in range(len(TENSORS)) if mapping.rf_keep[i]]
        if arch.rf.shared is not None:
            if sum(rf_need) > arch.rf.shared:
                kept = tuple(t for t, k in zip(TENSORS, mapping.rf_keep) if k)
                out.append(Problem("rf_capacity", f"RF tiles need {sum(rf_need)} words > shared RF {arch.rf.shared}",
                                   level="rf", tensors=kept, need=sum(rf_need), limit=arch.rf.shared))
        else:
            for t_i, t in enumerate(TENSORS):
                cap = arch.rf.capacity(t)
                if mapping.rf_keep[t_i] and cap is not None and words["rf"][t_i] > cap:
                    out.append(Problem("rf_capacity", f"RF {t} tile needs {words['rf'][t_i]} words > {cap}",
                                       level="rf", tensors=(t,), need=words["rf"][t_i], limit=cap))
        for group, cap in arch.glb.capacity_groups(arch.word_bits):
            glb_need = sum(words["glb"][i] for i in range(len(TENSORS)) if mapping.glb_keep[i] and group[i])
            if glb_need > cap:
                which = "" if all(group[i] or not mapping.glb_keep[i] for i in range(len(TENSORS))) else \
                    f" ({'+'.join(t for t, g in zip(TENSORS, group) if g)} partition)"
                kept = tuple(t for i, t in enumerate(TENSORS) if mapping.glb_keep[i] and group[i])
                out.append(Problem("glb_capacity", f"GLB tiles need {glb_need} words > {cap}{which}", level="glb",
                                   tensors=kept, need=glb_need, limit=cap))
        if arch.constraints:
            out.extend(violations(mapping.factors, arch))
    return out


def violations(factors, arch) -> list[Problem]:
    """One problem per factor > 1 at a level the arch forbids it."""
    out = []
    for level in range(len(LEVELS)):
        for d in arch.constraints.pinned(level):
            f = factors[level][d]
            if f > 1:
                out.append(Problem("constraint", f"{LEVELS[level]} factor {f} of {DIMS[d]} breaks the arch's "
                                   f"constraints (constraints.unsplit.{LEVELS[level]} lists {DIMS[d]})",
                                   level=LEVELS[level], dim=DIMS[d], need=f, limit=1))
    return out
