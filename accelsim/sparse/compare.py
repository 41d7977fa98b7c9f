"""The format-comparison experiment of Sparseloop (reference/sparsity.md): a 128 x 128 x 128 matmul,
both operands uniformly sparse at the same density, on one MAC, bitmask + gating against a coordinate
list + skipping, in two setups (``SETUPS``): ``fig1``, Sparseloop's own design re-typed from its source
(below), and ``matmul_1pe``, this project's first stand-in (kept as the second row).

``fig1`` (source: github.com/Accelergy-Project/accelforge, tests/input_files/fig1/: arch_energy.yaml,
mapping.yaml, workload.yaml, sparse_bitmask_energy.yaml, sparse_coord_list_energy.yaml; the Accelergy
project's re-typing of micro22-sparseloop-artifact Fig. 1, ERT values "from ARTIFACT_EVALUATION.md section
2.10"): Z[m,n] = A[m,k] B[n,k], 8-bit values; BackingStorage (dram) -> Buffer (glb: A, B) -> Reg (rf: Z)
-> MAC; loops n (outer) -> m above the Buffer, k below it: B's row is filled once per n, A's row once per
(n, m), each MAC reads A and B from the Buffer and Z from the Reg. The designs are the shipped presets
``configs/sparse/sparseloop_fig1_bitmask.yaml`` and ``sparseloop_fig1_coordinates.yaml``. Energies are the
source's ERT per action converted to accelsim's per-8-bit-word prices: a BackingStorage action moves 64 bits
(bits_per_action 64), a Buffer/Reg action 8; a metadata action moves one 28-bit metadata word
(metadata_storage_width 28), so its price per 8 bits of metadata is ERT x 8 / 28. Not carried over: the
source's gated metadata read (2e-5 pJ: accelsim reads a gated access's metadata at the metadata price) and
Sparseloop's bandwidth-bound cycles (accelsim's are the ideal compute-bound cycles).

``matmul_1pe``, two designs:

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
from accelsim.mapping import Mapping
from accelsim.names import IFMAP, WEIGHT
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import sparse_layer
from accelsim.sparse.spec import GATE, SKIP, load_spec, spec_from_dict
from workloads.layer import DIMS, gemm

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

# --- fig1: Sparseloop's design (sources in the module docstring) ---
FIG1_WORD_BITS = 8            # workload.yaml: bits_per_value All 8
FIG1_BACKING_BITS = 64        # arch_energy.yaml: BackingStorage bits_per_action 64
FIG1_METADATA_BITS = 28       # sparse_*_energy.yaml: metadata_storage_width 28
# arch_energy.yaml, pJ per action
FIG1_ERT = {"backing_read": 32.2859, "backing_write": 26.065, "backing_metadata_read": 14.0361,
            "buffer_read": 0.42568, "buffer_write": 0.58331, "buffer_gated_read": 0.00001,
            "buffer_metadata_read": 0.7383, "buffer_metadata_write": 1.42366,
            "reg_read": 0.49, "reg_write": 0.49, "mac_compute": 0.5608, "mac_gated_compute": 0.03642}


def _fig1_pj() -> dict:
    """The ERT as accelsim's per-(component, action) prices of one 8-bit word (module docstring)."""
    e, wb = FIG1_ERT, FIG1_WORD_BITS
    bs, md = wb / FIG1_BACKING_BITS, wb / FIG1_METADATA_BITS
    return {"dram": {"read": e["backing_read"] * bs, "drain": e["backing_read"] * bs,
                     "fill": e["backing_write"] * bs, "update": e["backing_write"] * bs,
                     "metadata_read": e["backing_metadata_read"] * md},
            "glb": {"read": e["buffer_read"], "fill": e["buffer_write"], "gated_read": e["buffer_gated_read"],
                    "metadata_read": e["buffer_metadata_read"] * md, "metadata_fill": e["buffer_metadata_write"] * md},
            "rf": {"read": e["reg_read"], "drain": e["reg_read"], "fill": e["reg_write"], "update": e["reg_write"]},
            "mac": {"compute": e["mac_compute"], "gated_compute": e["mac_gated_compute"]}}


# one MAC; the Buffer holds A and B (no Z: Z goes Reg -> BackingStorage), the Reg one Z; no network cost
# (the source has none). Sizes and bandwidths do not enter the ideal cycles or the energy.
FIG1_ARCH = {"version": 1, "name": "sparseloop_fig1", "clock_mhz": 200, "word_bits": FIG1_WORD_BITS,
             "pe_array": {"rows": 1, "cols": 1}, "rf": {"psum_words": 1},
             "glb": {"size_kb": 128, "banks": 1, "bandwidth_words_per_cycle": 4, "holds": [IFMAP, WEIGHT]},
             "dram": {"bandwidth_gb_per_s": 10, "latency_cycles": 100}, "noc": {"type": "bus"},
             "energy": {"preset": "normalized", "noc_hop_pj": 0, "pj": _fig1_pj()}, "dataflow": "os"}
FIG1_DESIGNS = {"bitmask_gating": "sparseloop_fig1_bitmask", "coordinates_skipping": "sparseloop_fig1_coordinates"}


def fig1_mapping() -> Mapping:
    """mapping.yaml: n (K) then m (P) at the BackingStorage, k (C) inside the Reg; A, B kept at the Buffer,
    Z at the Reg only; no MAC operand registers (every MAC reads A and B from the Buffer)."""
    ones = (1,) * len(DIMS)
    dram = tuple(SIZE if d in ("K", "P") else 1 for d in DIMS)
    rf = tuple(SIZE if d == "C" else 1 for d in DIMS)
    rest = [i for i, d in enumerate(DIMS) if d not in ("K", "P")]
    order_dram = (DIMS.index("K"), DIMS.index("P"), *rest)
    order_rf = (DIMS.index("C"), *[i for i in range(len(DIMS)) if DIMS[i] != "C"])
    return Mapping(factors=(dram, ones, ones, ones, rf), orders=(order_dram, tuple(range(len(DIMS))), order_rf),
                   glb_keep=(True, True, False), rf_keep=(False, False, True), reg_keep=(False, False, False))


SETUPS = ("fig1", "matmul_1pe")


@dataclass(frozen=True)
class Point:
    design: str
    density: float
    energy_pj: float            # normalized units (one MAC = 1)
    cycles: float               # ideal: compute-bound, one PE
    dense_energy_pj: float
    dense_cycles: int


def sweep(densities: tuple[float, ...] = DENSITIES, setup: str = "matmul_1pe") -> list[Point]:
    from dataflows import registry

    layer = gemm("matmul", SIZE, SIZE, SIZE)
    if setup == "fig1":
        arch = arch_from_dict(FIG1_ARCH, "sparseloop_fig1")
        m = fig1_mapping()
        specs = {name: load_spec(preset) for name, preset in FIG1_DESIGNS.items()}
    elif setup == "matmul_1pe":
        arch = arch_from_dict(ARCH, "matmul_1pe")
        m = registry.get("os").named(layer, arch)
        specs = {name: spec_from_dict(d, name) for name, d in DESIGNS.items()}
    else:
        raise ValueError(f"unknown setup {setup!r}; setups: {', '.join(SETUPS)}")
    out = []
    for name, spec in specs.items():
        for dens in densities:
            sl = sparse_layer(layer, arch, m, spec, models(dens))
            out.append(Point(name, dens, sl.energy_pj, sl.actions.cycles, sl.dense_energy_pj, sl.actions.dense_cycles))
    return out


def models(density: float) -> dict:
    """Both operands uniformly sparse at ``density``."""
    return {IFMAP: Uniform(density), WEIGHT: Uniform(density)}


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


__all__ = ["DENSITIES", "DESIGNS", "FIG1_ARCH", "FIG1_DESIGNS", "SETUPS", "Point", "crossover", "fig1_mapping",
           "models", "sweep", "table"]
