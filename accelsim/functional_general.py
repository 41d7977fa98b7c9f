"""Functional mode over any problem and loop nest: run the schedule on real numbers.

:func:`execute` walks every loop of the flattened nest (temporal and spatial), skips points outside
the dims (ceil tiling), and performs ``out[out coords] += ifmap[coords] * weight[coords]``, an operand
coordinate outside its tensor reading zero (padding). It checks that every output element receives
exactly (MACs / output elements) contributions. :func:`reference` is the NumPy oracle: the same
einsum computed by vectorised gathers over the whole dim box, independent of any nest.
"""

from __future__ import annotations

import itertools

import numpy as np

from accelsim.loopnest import LoopNest, flatten
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import Problem


def shape(problem: Problem, role: str) -> tuple[int, ...]:
    return tuple(c.size for c in problem.tensor(role).coords)


def _value(arr: np.ndarray, coords: tuple[int, ...]) -> int:
    if all(0 <= v < n for v, n in zip(coords, arr.shape)):
        return int(arr[coords])
    return 0


def execute(problem: Problem, nest: LoopNest, ifmap: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The output the schedule of ``nest`` computes (small problems only)."""
    flat = flatten(problem, nest)
    dims = problem.dim_names
    size = [problem.size(d) for d in dims]
    col = {d: k for k, d in enumerate(dims)}
    coords = {r: problem.tensor(r).coords for r in (IFMAP, WEIGHT, PSUM)}

    def at(role: str, idx: list[int]) -> tuple[int, ...]:
        return tuple(sum(k * idx[col[d]] for d, k in c.terms) + c.offset for c in coords[role])

    out = np.zeros(shape(problem, PSUM), dtype=np.int64)
    hits = np.zeros_like(out)
    for digits in itertools.product(*[range(lp.factor) for lp in flat.loops]):
        idx = [0] * len(dims)
        for lp, v in zip(flat.loops, digits):
            idx[col[lp.dim]] += v * lp.span
        if any(x >= n for x, n in zip(idx, size)):
            continue
        o = at(PSUM, idx)
        hits[o] += 1
        out[o] += _value(ifmap, at(IFMAP, idx)) * _value(weight, at(WEIGHT, idx))
    per_output = problem.macs // max(1, out.size)
    if not (hits == per_output).all():
        raise AssertionError(f"schedule does not visit every output exactly {per_output} times")
    return out


def reference(problem: Problem, ifmap: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The einsum by vectorised gathers over the whole dim box (padding reads zero); integer operands
    give exact int64, floating ones float64 (the network run of ``accelsim.sparse.actual``)."""
    grids = np.meshgrid(*[np.arange(problem.size(d)) for d in problem.dim_names], indexing="ij")
    at = {d: g.ravel() for d, g in zip(problem.dim_names, grids)}

    def gather(role: str) -> tuple[list[np.ndarray], np.ndarray]:
        cs, ok = [], np.ones(grids[0].size, dtype=bool)
        for c in problem.tensor(role).coords:
            v = sum(k * at[d] for d, k in c.terms) + c.offset
            ok &= (v >= 0) & (v < c.size)
            cs.append(np.clip(v, 0, c.size - 1))
        return cs, ok

    xi, xok = gather(IFMAP)
    wi, wok = gather(WEIGHT)
    oi, _ = gather(PSUM)
    dt = np.result_type(ifmap.dtype, weight.dtype, np.int64)      # integers stay exact int64; floats float64
    prod = np.where(xok & wok, ifmap[tuple(xi)].astype(dt) * weight[tuple(wi)].astype(dt), 0)
    out = np.zeros(shape(problem, PSUM), dtype=dt)
    np.add.at(out, tuple(oi), prod)
    return out
