"""Sparseloop's format comparison (reference/sparsity.md): a 128^3 matmul, bitmask + gating vs a
coordinate list + skipping, densities 0.01-0.8 (accelsim.sparse.compare states the design and every
assumption). Published: bitmask cycles constant at every density; coordinate list wins on energy only
below a density of roughly 0.05-0.08."""

from __future__ import annotations

from functools import cache

import pytest

from accelsim.sparse import compare


@cache
def points() -> tuple[compare.Point, ...]:
    pts = compare.sweep()
    print()
    print("format comparison, 128^3 matmul on matmul_1pe (python -c 'from accelsim.sparse.compare import sweep, "
          "table; print(table(sweep()))'); energy per dense MAC in normalized units")
    print(compare.table(pts))
    return tuple(pts)


def test_bitmask_gating_cycles_are_constant_and_dense():
    b = [p for p in points() if p.design == "bitmask_gating"]
    assert {p.cycles for p in b} == {b[0].dense_cycles}


def test_coordinate_skipping_cycles_scale_with_both_densities():
    """One PE: effective MACs = MACs x d x d, and the cycles with them (exact)."""
    for p in points():
        if p.design == "coordinates_skipping":
            assert p.cycles == pytest.approx(p.dense_cycles * p.density ** 2)


def test_coordinates_win_on_energy_at_low_density_and_lose_at_high():
    by = {(p.design, p.density): p.energy_pj for p in points()}
    assert by[("coordinates_skipping", 0.01)] < by[("bitmask_gating", 0.01)]
    assert by[("coordinates_skipping", 0.8)] > by[("bitmask_gating", 0.8)]
    assert compare.crossover(list(points())) is not None


@pytest.mark.xfail(strict=True, reason="crossover at density 0.1129, above the published 0.05-0.08: this design "
                                       "(one PE fed per MAC from the GLB, ISCA'16 normalized energies, gated actions "
                                       "free, a 14-bit flattened coordinate per nonzero) is not Sparseloop's; its "
                                       "architecture and Accelergy energies are not in the reference")
def test_energy_crossover_in_published_range():
    x = compare.crossover(list(points()))
    assert x is not None and 0.05 <= x <= 0.08, x
