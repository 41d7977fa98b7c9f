"""The arch's mapping constraints applied to factor sets: checked, and forced where a proposal
breaks them (a dim a level may not split gets factor 1 there, its extent moves to the nearest
temporal level that may hold it: GLB, else DRAM).

One formula for lists (named mappings, the Python mapper) and for arrays (the batch mapper). numpy
is imported by the array functions only: a named run never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RF, ROWS
from workloads.layer import DIMS

if TYPE_CHECKING:
    import numpy as np


def _ceil_div(a, b):
    return -(-a // b)


def pin(dims, factors: list[list[int]], arch) -> list[list[int]]:
    """``factors`` (LEVELS x DIMS lists, changed in place and returned) made to respect the
    arch's constraints, the DRAM factors recomputed so every dim stays covered."""
    c = arch.constraints
    for level in (ROWS, COLS, RF):
        for d in c.pinned(level):
            factors[level][d] = 1
    glb_pin, dram_pin = set(c.pinned(GLB)), set(c.pinned(DRAM))
    for d, D in enumerate(dims):
        inner = factors[RF][d] * factors[COLS][d] * factors[ROWS][d]
        rem = _ceil_div(D, inner)
        if d in dram_pin and d not in glb_pin:
            factors[GLB][d] = rem
        elif d in glb_pin:
            factors[GLB][d] = 1
        factors[GLB][d] = max(1, min(factors[GLB][d], rem))
        factors[DRAM][d] = _ceil_div(rem, factors[GLB][d])
    return factors


def pin_arrays(dims: np.ndarray, f: np.ndarray, arch) -> np.ndarray:
    """:func:`pin` on a (B, LEVELS, DIMS) factor array (changed in place and returned)."""
    import numpy as np

    c = arch.constraints
    for level in (ROWS, COLS, RF):
        for d in c.pinned(level):
            f[:, level, d] = 1
    inner = f[:, RF] * f[:, COLS] * f[:, ROWS]
    rem = _ceil_div(dims, inner)
    for d in c.pinned(DRAM):
        f[:, GLB, d] = rem[:, d]
    for d in c.pinned(GLB):
        f[:, GLB, d] = 1
    f[:, GLB] = np.clip(f[:, GLB], 1, rem)
    f[:, DRAM] = _ceil_div(rem, f[:, GLB])
    return f


def whole_at(arch, level: int) -> tuple[int, ...]:
    """Dims every other level may not split: they must lie whole at ``level`` (eyeriss_v1: R on the
    PE rows, S in the PE)."""
    return tuple(d for d in range(len(DIMS))
                 if d not in arch.constraints.pinned(level)
                 and all(d in arch.constraints.pinned(other) for other in range(len(LEVELS)) if other != level))


def violates(f: np.ndarray, arch) -> np.ndarray:
    """(B,) whether a (B, LEVELS, DIMS) factor array splits a dim at a level the arch forbids (left
    after pinning when the other levels cannot hold the dim whole, e.g. R pinned to the PE rows but
    larger than the rows the mapping gives it)."""
    import numpy as np

    out = np.zeros(f.shape[0], dtype=bool)
    for level in range(len(LEVELS)):
        for d in arch.constraints.pinned(level):
            out |= f[:, level, d] > 1
    return out


def movable(arch) -> np.ndarray:
    """(DIMS,) whether a GLB factor may be moved out to DRAM to make the GLB tiles fit."""
    import numpy as np

    out = np.ones(len(DIMS), dtype=bool)
    out[list(arch.constraints.pinned(DRAM))] = False
    return out
