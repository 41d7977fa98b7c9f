"""Can this mapping run this layer (on this arch)? The one legality check: structure, coverage,
over-tiling, RF bypass, array size, what the buffers may keep, capacity, the arch's constraints.

Spec layer (imports the mapping, tile and constraint specs only). ``problems_of`` lists every
problem; ``check`` raises the first as a ConfigError. An empty list means the cost model, the
interpreter and the simulator accept the mapping.
"""

from __future__ import annotations

from accelsim.energy import TENSORS
from accelsim.errors import ConfigError
from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RELEVANT, RF, ROWS, Mapping
from accelsim.tiles import tile_words
from workloads.layer import DIMS, Layer


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check(layer: Layer, mapping: Mapping, arch=None, source: str = "mapping") -> None:
    """Raise ConfigError if ``mapping`` cannot run ``layer`` (on ``arch``, when given)."""
    problems = problems_of(layer, mapping, arch)
    if problems:
        raise ConfigError(problems[0], source=source)


def problems_of(layer: Layer, mapping: Mapping, arch=None) -> list[str]:
    out: list[str] = []
    dims = layer.dims
    if len(mapping.factors) != len(LEVELS) or any(len(f) != len(DIMS) for f in mapping.factors):
        return ["factors must be LEVELS x DIMS"]
    for order in mapping.orders:
        if sorted(order) != list(range(len(DIMS))):
            out.append(f"loop order {order} is not a permutation of the dims")
    for d, D in enumerate(dims):
        span = 1
        # levels from inner to outer in nest order: rf, cols, rows, glb, dram
        for level in (RF, COLS, ROWS, GLB, DRAM):
            f = mapping.factors[level][d]
            if f < 1:
                out.append(f"{LEVELS[level]} factor of {DIMS[d]} must be >= 1, got {f}")
                return out
            if f > 1 and (f - 1) * span >= D:
                out.append(f"{LEVELS[level]} factor {f} of {DIMS[d]} over-tiles it: inner span {span}, "
                           f"{DIMS[d]}={D} needs at most {_ceil_div(D, span)}")
            span *= f
        if span < D:
            out.append(f"factors of {DIMS[d]} cover {span} < {DIMS[d]}={D}")
    for t_i, t in enumerate(TENSORS):
        if not mapping.rf_keep[t_i]:
            rel = RELEVANT[t]
            for d in range(len(DIMS)):
                if rel[d] and mapping.factors[RF][d] > 1 and (mapping.factors[ROWS][d] > 1 or mapping.factors[COLS][d] > 1):
                    out.append(f"{t} bypasses the RF, so {DIMS[d]} cannot be both spatial and an RF loop")
    if arch is not None:
        if mapping.spatial(ROWS) > arch.pe_array.rows:
            out.append(f"rows factors use {mapping.spatial(ROWS)} > {arch.pe_array.rows} PE rows")
        if mapping.spatial(COLS) > arch.pe_array.cols:
            out.append(f"cols factors use {mapping.spatial(COLS)} > {arch.pe_array.cols} PE cols")
        for t_i, t in enumerate(TENSORS):
            if mapping.rf_keep[t_i] and not arch.rf.holds(t):
                out.append(f"the RF keeps {t} but the arch has no RF for it")
            if mapping.glb_keep[t_i] and t not in arch.glb.holds:
                out.append(f"the GLB keeps {t} but the arch's glb.holds excludes it")
        words = tile_words(layer, mapping)
        rf_need = [words["rf"][i] for i in range(3) if mapping.rf_keep[i]]
        if arch.rf.shared is not None:
            if sum(rf_need) > arch.rf.shared:
                out.append(f"RF tiles need {sum(rf_need)} words > shared RF {arch.rf.shared}")
        else:
            for t_i, t in enumerate(TENSORS):
                cap = arch.rf.capacity(t)
                if mapping.rf_keep[t_i] and cap is not None and words["rf"][t_i] > cap:
                    out.append(f"RF {t} tile needs {words['rf'][t_i]} words > {cap}")
        for group, cap in arch.glb.capacity_groups(arch.word_bits):
            glb_need = sum(words["glb"][i] for i in range(3) if mapping.glb_keep[i] and group[i])
            if glb_need > cap:
                which = "" if all(group[i] or not mapping.glb_keep[i] for i in range(3)) else \
                    f" ({'+'.join(t for t, g in zip(TENSORS, group) if g)} partition)"
                out.append(f"GLB tiles need {glb_need} words > {cap}{which}")
        if arch.constraints:
            out.extend(violations(mapping.factors, arch))
    return out


def violations(factors, arch) -> list[str]:
    """One message per factor > 1 at a level the arch forbids it."""
    out = []
    for level in range(len(LEVELS)):
        for d in arch.constraints.pinned(level):
            f = factors[level][d]
            if f > 1:
                out.append(f"{LEVELS[level]} factor {f} of {DIMS[d]} breaks the arch's constraints "
                           f"(constraints.unsplit.{LEVELS[level]} lists {DIMS[d]})")
    return out
