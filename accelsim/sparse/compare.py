"""The format-comparison experiment of Sparseloop (reference/sparsity.md): a 128 x 128 x 128 matmul,
both operands uniformly sparse at the same density, on one PE, in two designs:

- ``bitmask_gating``: operands in a bitmask (one bit per element) at DRAM and the GLB; the RF's
  operand reads gated on the other operand's zero, the MAC gated on either;
- ``coordinates_skipping``: operands as a coordinate list (one 14-bit coordinate, log2(128 x 128), per
  nonzero) at DRAM and the GLB; the same reads and MACs skipped.

The design (``matmul_1pe``): DRAM -> a 128 kB GLB -> one PE (RF) -> MAC, the ``os`` named mapping,
Eyeriss ISCA'16 normalized energies (MAC 1, RF 1, GLB 6, DRAM 200); metadata words priced as data
words of their level; gated actions at 0 (ideal clock gating, the same assumption as the eyeriss_v1
preset). Nothing is fitted: the coordinate width is the tile's, the rest are the shipped presets'.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.arch import arch_from_dict
from accelsim.names import IFMAP, WEIGHT
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import sparse_layer
from accelsim.sparse.spec import GATE, SKIP, spec_from_dict
from workloads.layer import gemm

SIZE = 128
COORD_BITS = 14                     # log2(128 * 128): one flattened coordinate per nonzero
DENSITIES = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
ARCH = {"version": 1, "name": "matmul_1pe", "clock_mhz": 200, "word_bits": 16, "pe_array": {"rows": 1, "cols": 1},
        "rf": {"ifmap_words": 1, "weight_words": 1, "psum_words": 128},
        "glb": {"size_kb": 128, "banks": 1, "bandwidth_words_per_cycle": 4, "holds": [IFMAP, WEIGHT, "psum"]},
        "dram": {"bandwidth_gb_per_s": 10, "latency_cycles": 100}, "noc": {"type": "bus"},
        "energy": {"preset": "normalized"}, "dataflow": "os"}


def _design(fmt, name: str, kind: str) -> dict:
    levels = {lv: {IFMAP: fmt, WEIGHT: fmt} for lv in ("dram", "glb")}
    feats = [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}, {"level": "mac", "on_zero": [IFMAP, WEIGHT]}]
    return {"name": name, "formats": levels, kind: feats}


DESIGNS = {"bitmask_gating": _design("bitmask", "bitmask_gating", GATE),
           "coordinates_skipping": _design({"ranks": [{"CP": COORD_BITS}]}, "coordinates_skipping", SKIP)}


@dataclass(frozen=True)
class Point:
    design: str
    density: float
    energy_pj: float            # normalized units (one MAC = 1)
    cycles: float               # ideal: compute-bound, one PE
    dense_energy_pj: float
    dense_cycles: int


def sweep(densities: tuple[float, ...] = DENSITIES) -> list[Point]:
    from dataflows import registry

    arch = arch_from_dict(ARCH, "matmul_1pe")
    layer = gemm("matmul", SIZE, SIZE, SIZE)
    m = registry.get("os").named(layer, arch)
    out = []
    for name, d in DESIGNS.items():
        spec = spec_from_dict(d, name)
        for dens in densities:
            sl = sparse_layer(layer, arch, m, spec, {IFMAP: Uniform(dens), WEIGHT: Uniform(dens)})
            out.append(Point(name, dens, sl.energy_pj, sl.actions.cycles, sl.dense_energy_pj, sl.actions.dense_cycles))
    return out


def crossover(points: list[Point]) -> float | None:
    """The density below which coordinates + skipping takes less energy than bitmask + gating
    (linear interpolation between the sweep's densities); None if it never does or always does."""
    by = {(p.design, p.density): p.energy_pj for p in points}
    ds = sorted({p.density for p in points})
    diff = [by[("coordinates_skipping", d)] - by[("bitmask_gating", d)] for d in ds]
    for (d0, e0), (d1, e1) in zip(zip(ds, diff), zip(ds[1:], diff[1:])):
        if e0 < 0 <= e1:
            return d0 + (d1 - d0) * (-e0) / (e1 - e0)
    return None


def table(points: list[Point]) -> str:
    lines = [f"{'density':>8s} {'bitmask+gating E/MAC':>21s} {'cycles':>9s} {'coords+skipping E/MAC':>22s} "
             f"{'cycles':>9s}"]
    by = {(p.design, p.density): p for p in points}
    for d in sorted({p.density for p in points}):
        b, c = by[("bitmask_gating", d)], by[("coordinates_skipping", d)]
        macs = SIZE ** 3
        lines.append(f"{d:8.2f} {b.energy_pj / macs:21.4f} {b.cycles:9.0f} {c.energy_pj / macs:22.4f} {c.cycles:9.0f}")
    x = crossover(points)
    lines.append(f"energy crossover at density {x:.4f}" if x is not None else "no energy crossover in the sweep")
    return "\n".join(lines)


__all__ = ["DENSITIES", "DESIGNS", "Point", "crossover", "sweep", "table"]
