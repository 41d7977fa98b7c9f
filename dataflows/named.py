"""Building named mappings: the part every dataflow's hand-written mapping shares.

A dataflow module decides the spatial factors and the per-PE (RF) factors; ``complete`` puts the
rest of each dimension at the GLB level, then moves factors out to DRAM until the GLB tiles fit,
and orders the loops.
"""

from __future__ import annotations

from accelsim.constraints import pin, whole_at
from accelsim.energy import TENSORS
from accelsim.errors import ConfigError
from accelsim.legality import Problem, problems_of
from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RELEVANT, RF, ROWS, Mapping
from accelsim.tiles import tile_words
from workloads.layer import DIMS, Layer


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _factors(d: dict[str, int]) -> list[int]:
    out = [1] * len(DIMS)
    for name, f in d.items():
        out[DIMS.index(name)] = max(1, int(f))
    return out


def order(innermost: tuple[str, ...], outer_first: tuple[str, ...] = ("G", "N", "K", "C", "P", "Q", "R", "S")) -> tuple[int, ...]:
    rest = [d for d in outer_first if d not in innermost]
    return tuple(DIMS.index(d) for d in rest + list(innermost))


# dims moved from GLB out to DRAM, in this order of preference, when the GLB tiles do not fit
_SPILL = ("N", "K", "C", "P", "Q", "R", "S")
_SHRINK_RF = ("C", "K", "S", "R", "Q", "P", "N")


def complete(layer: Layer, arch, rows: dict[str, int], cols: dict[str, int], rf: dict[str, int],
             keep_rf: tuple[str, ...], glb_innermost: tuple[str, ...], dram_innermost: tuple[str, ...] = ("C",),
             rf_order: tuple[str, ...] = ()) -> Mapping:
    """A legal mapping with the given spatial and RF factors (clipped to the layer and array)."""
    dims = layer.dims
    f_rows, f_cols, f_rf = _factors(rows), _factors(cols), _factors(rf)
    for d, D in enumerate(dims):            # clip each level's factor to what the dim can use
        span = 1
        for f in (f_rf, f_cols, f_rows):
            f[d] = min(f[d], ceil_div(D, span))
            span *= f[d]
    for level, f in ((ROWS, f_rows), (COLS, f_cols), (RF, f_rf)):   # what the hardware cannot split
        for d in arch.constraints.pinned(level):
            f[d] = 1
    f_glb = [ceil_div(D, f_rf[d] * f_cols[d] * f_rows[d]) for d, D in enumerate(dims)]
    f_dram = [1] * len(DIMS)
    f_glb[DIMS.index("G")], f_dram[DIMS.index("G")] = 1, f_glb[DIMS.index("G")]  # groups are independent
    fixed = set(arch.constraints.pinned(DRAM))       # dims that must stay whole inside a GLB tile
    whole = set(whole_at(arch, RF))                  # dims only the PE may hold (eyeriss_v1: S)

    def settle() -> None:
        if arch.constraints:
            pin(dims, [f_dram, f_glb, f_rows, f_cols, f_rf], arch)

    rf_keep = tuple(t in keep_rf and arch.rf.holds(t) for t in TENSORS)
    glb_keep = tuple(t in arch.glb.holds for t in TENSORS)
    reg_keep = tuple(t in arch.pe_array.operand_registers for t in TENSORS)
    orders = (order(dram_innermost), order(glb_innermost), order(rf_order))

    def build() -> Mapping:
        levels: list[list[int]] = [[]] * len(LEVELS)
        levels[DRAM], levels[GLB], levels[ROWS], levels[COLS], levels[RF] = f_dram, f_glb, f_rows, f_cols, f_rf
        return Mapping(tuple(tuple(x) for x in levels), orders, glb_keep, rf_keep, reg_keep)

    settle()
    m = build()
    guard = 0
    while problems := problems_of(layer, m, arch):
        if any(p.kind != "glb_capacity" for p in problems):
            raise ConfigError(f"named mapping for layer {layer.name!r} on {arch.name!r} is not legal: {problems[0]}")
        helps = _relevant_to_overflow(layer, m, problems)
        spill = [DIMS.index(n) for n in _SPILL if f_glb[DIMS.index(n)] > 1 and DIMS.index(n) not in fixed]
        shrink = [DIMS.index(n) for n in _SHRINK_RF if f_rf[DIMS.index(n)] > 1 and DIMS.index(n) not in whole]
        # a GLB factor, then a per-PE factor, of a dim that indexes the largest overflowing tile;
        # only when none is left, any of them in the fixed order
        moves = ([("glb", d) for d in spill if helps[d]] + [("rf", d) for d in shrink if helps[d]]
                 + [("glb", d) for d in spill] + [("rf", d) for d in shrink])
        if not moves:
            raise ConfigError(f"layer {layer.name!r} does not fit {arch.name!r}'s GLB even with one "
                              f"tile per pass: {problems[0]}")
        where, d = moves[0]
        if where == "glb":                   # halve a GLB factor, the rest goes to DRAM
            total = ceil_div(dims[d], f_rf[d] * f_cols[d] * f_rows[d])
            f_glb[d] = ceil_div(f_glb[d], 2)
            f_dram[d] = ceil_div(total, f_glb[d])
        else:                                # shrink a per-PE loop, sending the rest outward
            f_rf[d] = ceil_div(f_rf[d], 2)
            f_glb[d] = 1
            f_dram[d] = ceil_div(dims[d], f_rf[d] * f_cols[d] * f_rows[d])
        settle()
        m = build()
        guard += 1
        if guard > 1000:
            raise ConfigError(f"layer {layer.name!r}: could not fit the GLB")
    return m


def _relevant_to_overflow(layer: Layer, m: Mapping, overflows: list[Problem]) -> list[bool]:
    """Per dim, whether it indexes the largest tile of a GLB part that overflows (``overflows``: the
    glb_capacity problems of ``m``): shrinking other dims helps little or not at all (a psum
    overflow is not helped by fewer input channels)."""
    words = dict(zip(TENSORS, tile_words(layer, m)["glb"]))
    out = [False] * len(DIMS)
    for p in overflows:
        largest = max(p.tensors, key=lambda t: words[t])
        for d, rel in enumerate(RELEVANT[largest]):
            out[d] = out[d] or rel
    return out


def rf_budget(arch, tensor: str) -> int:
    """Words the RF can give ``tensor`` (the whole shared RF, or its own)."""
    cap = arch.rf.capacity(tensor)
    return 0 if cap is None else cap


def fill(space: int, order: list[tuple[str, int]]) -> dict[str, int]:
    """Spread dims over ``space`` PEs in order, each taking what it can use of what is left."""
    out: dict[str, int] = {}
    for name, size in order:
        f = min(size, space)
        if f > 1:
            out[name] = out.get(name, 1) * f
            space //= f
    return out


def row_stationary_rf(arch, S: int, C: int, K: int) -> tuple[int, int, int]:
    """(s_rf, c_rf, k_rf) for a row-stationary PE: its ifmap window (S taps), the channels
    interleaved in it and the filters sharing it, the most MACs per window the RF allows."""
    shared = arch.rf.shared
    cap_i = shared if shared is not None else rf_budget(arch, "ifmap")
    s_rf = max(1, min(S, cap_i))
    best = (0, 0, 1, 1)
    for c_rf in range(1, min(C, 64) + 1):
        win = c_rf * s_rf
        if shared is not None:
            k_rf = (shared - win) // (win + 1)
        else:
            if win > cap_i:
                break
            k_rf = min(rf_budget(arch, "weight") // win, rf_budget(arch, "psum"))
        k_rf = min(k_rf, K, 64)
        if k_rf < 1:
            break
        score = (k_rf * c_rf, k_rf, c_rf)
        if score > best[:3]:
            best = (k_rf * c_rf, k_rf, c_rf, s_rf)
    _, k_rf, c_rf, s_rf = best
    return s_rf, max(1, c_rf), max(1, k_rf)

