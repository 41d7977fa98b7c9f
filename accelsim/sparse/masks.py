"""Actual-data counts: how many MACs of a problem have both operands nonzero under given masks.

:func:`effective_macs` reduces the einsum of the two masks without visiting the MAC box: with
``D_x``, ``D_w`` the dims indexing the ifmap and the weight, it loops over the shared dims that
appear in a coupled coordinate (a conv's R, S), and for each such point sums the gathered ifmap mask
over its private dims and the weight mask over its private dims per value of the other shared dims,
then multiplies (times the sizes of dims indexing neither operand). Padding reads zero, so a MAC on
padding is never effective. The ground truths it is tested against (tests/test_sparse.py): the
functional mode executing a loop nest on the masks, and a walk over every MAC.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from accelsim.errors import ConfigError
from accelsim.names import IFMAP, WEIGHT
from accelsim.problem import Problem


def check_mask(problem: Problem, role: str, mask: np.ndarray, source: str) -> None:
    want = tuple(c.size for c in problem.tensor(role).coords)
    if tuple(mask.shape) != want:
        raise ConfigError(f"mask shape {tuple(mask.shape)} does not match {role} of {problem.name} {want}",
                          source=source, key=role)


def _gather(problem: Problem, role: str, mask: np.ndarray | None, dims: list[str], fixed: dict[str, int]) -> np.ndarray:
    """mask[coords(point)] over the grid of ``dims`` (padding -> 0), the dims in ``fixed`` at their value;
    ``mask`` None: every point counts (no condition on this operand, padding included)."""
    shape = tuple(problem.size(d) for d in dims)
    if mask is None:
        return np.ones(shape, dtype=np.int64)
    grids = np.meshgrid(*[np.arange(problem.size(d)) for d in dims], indexing="ij") if dims else []
    at = dict(zip(dims, grids))
    idx, ok = [], np.ones(shape, dtype=bool)
    for c in problem.tensor(role).coords:
        v = np.full(shape, c.offset, dtype=np.int64)
        for d, k in c.terms:
            v = v + k * (at[d] if d in at else fixed[d])
        ok &= (v >= 0) & (v < c.size)
        idx.append(np.clip(v, 0, c.size - 1))
    return np.where(ok, mask[tuple(idx)] != 0, False).astype(np.int64)


def effective_macs(problem: Problem, ifmap_mask: np.ndarray | None, weight_mask: np.ndarray | None) -> int:
    """MACs whose ifmap and weight elements are both nonzero (padding counts as zero). Exact. A mask of
    None puts no condition on that operand (every MAC passes it, padding included)."""
    if ifmap_mask is not None:
        check_mask(problem, IFMAP, ifmap_mask, "ifmap mask")
    if weight_mask is not None:
        check_mask(problem, WEIGHT, weight_mask, "weight mask")
    dx, dw = problem.relevant(IFMAP), problem.relevant(WEIGHT)
    coupled = {d for r in (IFMAP, WEIGHT) for c in problem.tensor(r).coords if len(c.terms) > 1 for d, _ in c.terms}
    loop = [d for d in problem.dim_names if d in dx and d in dw and d in coupled]
    shared = [d for d in problem.dim_names if d in dx and d in dw and d not in loop]
    px = [d for d in problem.dim_names if d in dx and d not in dw]
    pw = [d for d in problem.dim_names if d in dw and d not in dx]
    neither = math.prod(problem.size(d) for d in problem.dim_names if d not in dx and d not in dw)
    total = 0
    for vals in itertools.product(*[range(problem.size(d)) for d in loop]):
        fixed = dict(zip(loop, vals))
        gx = _gather(problem, IFMAP, ifmap_mask, shared + px, fixed)
        gw = _gather(problem, WEIGHT, weight_mask, shared + pw, fixed)
        sx = gx.reshape(gx.shape[: len(shared)] + (-1,)).sum(axis=-1)
        sw = gw.reshape(gw.shape[: len(shared)] + (-1,)).sum(axis=-1)
        total += int((sx * sw).sum())
    return total * neither


__all__ = ["check_mask", "effective_macs"]
