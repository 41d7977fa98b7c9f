"""Sparseloop's format comparison (reference/sparsity.md): a 128^3 matmul, bitmask + gating vs a
coordinate list + skipping, densities 0.01-0.8 (accelsim.sparse.compare states both setups and every
assumption). Published: bitmask cycles constant at every density; coordinate list wins on energy only
below a density of roughly 0.05-0.08.

Two setups: ``fig1``, Sparseloop's own design re-typed from its source (Accelergy-Project/accelforge,
tests/input_files/fig1/), and ``matmul_1pe``, the earlier stand-in, printed beside it."""

from __future__ import annotations

from functools import cache

import pytest

from accelsim.arch import arch_from_dict
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.sparse import compare
from accelsim.sparse.layer import sparse_layer
from accelsim.sparse.spec import load_spec
from workloads.layer import gemm


@cache
def points(setup: str) -> tuple[compare.Point, ...]:
    pts = compare.sweep(setup=setup)
    unit = "pJ (the source's ERT)" if setup == "fig1" else "normalized units (one MAC = 1)"
    print()
    print(f"format comparison, 128^3 matmul, setup {setup} (python -c 'from accelsim.sparse.compare import "
          f"sweep, table; print(table(sweep(setup=\"{setup}\")))'); energy per dense MAC in {unit}")
    print(compare.table(pts))
    return tuple(pts)


@pytest.mark.parametrize("setup", compare.SETUPS)
def test_bitmask_gating_cycles_are_constant_and_dense(setup):
    b = [p for p in points(setup) if p.design == "bitmask_gating"]
    assert {p.cycles for p in b} == {b[0].dense_cycles} == {compare.SIZE ** 3}


@pytest.mark.parametrize("setup", compare.SETUPS)
def test_coordinate_skipping_cycles_scale_with_both_densities(setup):
    """One MAC: effective MACs = MACs x d x d, and the cycles with them (exact)."""
    for p in points(setup):
        if p.design == "coordinates_skipping":
            assert p.cycles == pytest.approx(p.dense_cycles * p.density ** 2)


@pytest.mark.parametrize("setup", compare.SETUPS)
def test_coordinates_win_on_energy_at_low_density_and_lose_at_high(setup):
    by = {(p.design, p.density): p.energy_pj for p in points(setup)}
    assert by[("coordinates_skipping", 0.01)] < by[("bitmask_gating", 0.01)]
    assert by[("coordinates_skipping", 0.8)] > by[("bitmask_gating", 0.8)]
    assert compare.crossover(list(points(setup))) is not None


# Sparseloop's reference action counts for fig1 at d_A = d_B = 0.1015625 (13/128), as quoted from
# micro22-sparseloop-artifact's ARTIFACT_EVALUATION.md in Accelergy-Project/accelforge,
# tests/test_sparse_integration.py (identical for both formats there: gating and skipping differ in price,
# not in the count of actual accesses). (level, role, action) -> words; MACs 21,633 in Sparseloop.
FIG1_DENSITY = 0.1015625
FIG1_REFERENCE = {("dram", IFMAP, "read"): 212_992, ("dram", WEIGHT, "read"): 1_664,
                  ("dram", PSUM, "update"): 16_384,
                  ("glb", IFMAP, "fill"): 212_992, ("glb", WEIGHT, "fill"): 1_664,
                  ("glb", IFMAP, "read"): 21_632, ("glb", WEIGHT, "read"): 21_632,
                  ("rf", PSUM, "update"): 21_632}
FIG1_REFERENCE_MACS = 21_633


@pytest.mark.parametrize("design", sorted(compare.FIG1_DESIGNS))
def test_fig1_actual_access_counts_match_sparseloop(design):
    arch = arch_from_dict(compare.FIG1_ARCH, "sparseloop_fig1")
    layer = gemm("matmul", compare.SIZE, compare.SIZE, compare.SIZE)
    sl = sparse_layer(layer, arch, compare.fig1_mapping(), load_spec(compare.FIG1_DESIGNS[design]),
                      compare.models(FIG1_DENSITY))
    got = {k: sl.actions.data.storage.get(k, 0.0) for k in FIG1_REFERENCE}
    assert got == pytest.approx(FIG1_REFERENCE, rel=1e-6)
    assert sl.actions.effective_macs == pytest.approx(FIG1_REFERENCE_MACS, abs=1)


@pytest.mark.xfail(strict=True, reason=(
    "crossover at density 0.1717 on Sparseloop's own fig1 design (re-typed from Accelergy-Project/accelforge "
    "tests/input_files/fig1: its mapping, formats, 7-bit CSR coordinates and ERT), 0.1129 on the matmul_1pe "
    "stand-in; published 0.05-0.08. The fig1 data access counts match Sparseloop's (test above); the energy is "
    "dominated by A's metadata read from the BackingStorage 128 times (1 bit per element for the bitmask vs 7 "
    "bits per nonzero for the coordinates: metadata alone breaks even at d = 1/7), and the source is "
    "inconsistent on that width: its design file says 7 bits, its own energy test counts 14 per nonzero, "
    "which gives 0.0868, also outside (docs/sparsity.md)"))
def test_energy_crossover_in_published_range():
    x = compare.crossover(list(points("fig1")))
    old = compare.crossover(list(points("matmul_1pe")))
    print(f"energy crossover: fig1 {x:.4f}, matmul_1pe {old:.4f}")
    assert x is not None and 0.05 <= x <= 0.08, x
