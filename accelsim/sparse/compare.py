"""The format-comparison experiment of Sparseloop (MICRO'22 Fig. 1; reference/sparsity.md): a 128 x 128 x 128
matmul, both operands sparse at the same density, on one MAC, bitmask + gating against a coordinate list +
skipping, in two setups (``SETUPS``): ``fig1``, the design that produced the published figure, and
``matmul_1pe``, this project's first stand-in (kept as the second row).

``fig1``: github.com/Accelergy-Project/micro22-sparseloop-artifact, workspace/2022.micro.artifact/
evaluation_setups/fig1_format_comparison_setup/ (``ART`` below; scripts/sweep.sh runs timeloop-mapper on
arch/arch.yaml, dataflow/mm.yaml, sparse-opt/{bitmask,coordinate_list}.yaml, mapper/mapper.yaml,
workload/spmspm.prob.D.yaml and ert_art/*.yaml; ref_outputs/ holds its results). Z[m,n] = A[m,k] B[n,k], 8-bit
values (arch.yaml datawidth 8): BackingStorage (dram; 64-bit vectors of 8 words, 28-bit metadata words) ->
Buffer (glb: A and B; 8-bit words, 28-bit metadata words) -> Reg (rf: Z) -> MAC. The mapping is the one the
mapper found at every density for both designs (ref_outputs/*/timeloop-mapper.map.txt): n (outer), m at the
BackingStorage, k at the Reg: A's row is refetched for every (n, m), B's row once per n. Densities (workload
files, fixed-structured, A and B alike): ``FIG1_DENSITIES``. Designs: the presets
``configs/sparse/sparseloop_fig1_bitmask.yaml`` (sparse-opt/bitmask.yaml) and
``sparseloop_fig1_coordinates.yaml`` (sparse-opt/coordinate_list.yaml: a 14-bit coordinate per nonzero; the
skipped accesses' coordinates are still read, as the run counts them: ``skipped_metadata: read``).
Energies: ert_art/ERT.yaml per action, as accelsim's prices per 8-bit word (a BackingStorage action moves 8
words; a metadata action one 28-bit word, so a metadata word of 8 bits costs ERT x 8 / 28), except two the
run did not use: the Reg (0.4874617 pJ per access, the run's energy_per_access in
ref_outputs/output_0.1_bitmask/timeloop-mapper.map+stats.xml; ERT.yaml's Reg "access" 0.009 pJ is not what
the run charged) and the gated MAC (0: the run reports 0 gated computes and MAC energy = effective MACs x
0.5608 pJ at every density, though ERT.yaml lists mac_gated 0.03642). The Reg's gated accesses cost 0 (its
energy is the same in both designs in every reference output).

Two accounting details of the reference run accelsim does not reproduce (bitmask design only; the tests
compute their energy from the source's counts): the bitmask bits of A's zero elements are read at the
Buffer's gated-metadata price (2e-5 pJ per 28-bit word) where accelsim charges every bit the metadata price,
and B's bitmask costs nothing at the Buffer and one bit per nonzero at the BackingStorage (the run's rank
assignment of bitmask.yaml's [UOP, (UOP,) B] to B's two dimensions) where accelsim counts one bit per element.
Not reproduced either: Sparseloop's bandwidth-bound cycles (accelsim's are the ideal compute-bound ones).
``SPARSELOOP_FIG1`` holds the run's results for comparison.

``matmul_1pe``, two designs:

- ``bitmask_gating``: operands in a bitmask (one bit per element) at DRAM and the GLB; the RF's
  operand reads gated on the other operand's zero, the MAC gated on either;
- ``coordinates_skipping``: operands as a coordinate list (one 14-bit coordinate, log2(128 x 128), per
  nonzero) at DRAM and the GLB; the same reads and MACs skipped.

The design (``matmul_1pe``): DRAM -> a 128 kB GLB -> one PE (RF) -> MAC, the ``os`` named mapping,
Eyeriss ISCA'16 normalized energies (MAC 1, RF 1, GLB 6, DRAM 200); metadata words priced as data
words of their level; gated actions at 0 (ideal clock gating, the same assumption as the eyeriss_v1
preset). Nothing is fitted: every fig1 value is the source's, the rest are the shipped presets'.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from accelsim.arch import arch_from_dict
from accelsim.mapping import Mapping
from accelsim.names import IFMAP, WEIGHT
from accelsim.sparse.density import Uniform
from accelsim.sparse.formats import parse_format
from accelsim.sparse.layer import sparse_layer
from accelsim.sparse.spec import GATE, META_READ, META_SKIP, SKIP, SparseSpec, load_spec, spec_from_dict
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
ART = ("github.com/Accelergy-Project/micro22-sparseloop-artifact, "
       "workspace/2022.micro.artifact/evaluation_setups/fig1_format_comparison_setup")
FIG1_WORD_BITS = 8            # arch.yaml: datawidth 8
FIG1_BACKING_BITS = 64        # arch.yaml: BackingStorage data_storage_width 64 (8 words per action)
FIG1_METADATA_BITS = 28       # arch.yaml: metadata_storage_width 28 (BackingStorage and Buffer)
# workload/spmspm.prob.*.yaml: density of A and of B (fixed-structured), the sweep's eight points
FIG1_DENSITIES = (0.01171875, 0.02, 0.04, 0.08, 0.1015625, 0.19921875, 0.3984375, 0.80078125)
# ert_art/ERT.yaml, pJ per action; reg_access and mac_gated as the reference run charged them (docstring)
FIG1_ERT = {"backing_read": 32.2859, "backing_write": 26.065, "backing_metadata_read": 14.0361,
            "buffer_read": 0.42568, "buffer_write": 0.58331, "buffer_gated_read": 0.00001,
            "buffer_metadata_read": 0.7383, "buffer_metadata_write": 1.42366,
            "reg_access": 0.487461722675879394, "mac_compute": 0.5608, "mac_gated": 0.0}
# ref_outputs/output_D_{bitmask,coordinate_list}/timeloop-mapper.stats.txt, Summary Stats: density ->
# (effective MACs, bitmask pJ per effective MAC, coordinate-list pJ per effective MAC, bitmask cycles,
# coordinate-list cycles); the energy is pJ/Compute "Total" x "Actual Computes" (pJ/Compute rounded to 0.01)
SPARSELOOP_FIG1 = {0.01171875: (289, 4619.82, 1335.84, 2113536, 34056),
                   0.02: (839, 1689.89, 734.63, 2113536, 58124),
                   0.04: (3356, 482.82, 350.22, 2113536, 116247),
                   0.08: (13422, 151.79, 171.75, 2113536, 232490),
                   0.1015625: (21633, 104.88, 135.02, 2113536, 295152),
                   0.19921875: (83233, 40.55, 69.30, 2113536, 578952),
                   0.3984375: (332929, 17.81, 35.66, 2113536, 1157904),
                   0.80078125: (1344801, 9.14, 18.89, 2113536, 3698200)}


def _fig1_pj() -> dict:
    """The ERT as accelsim's per-(component, action) prices of one 8-bit word (module docstring)."""
    e, wb = FIG1_ERT, FIG1_WORD_BITS
    bs, md = wb / FIG1_BACKING_BITS, wb / FIG1_METADATA_BITS
    reg = e["reg_access"]
    return {"dram": {"read": e["backing_read"] * bs, "drain": e["backing_read"] * bs,
                     "fill": e["backing_write"] * bs, "update": e["backing_write"] * bs,
                     "metadata_read": e["backing_metadata_read"] * md},
            "glb": {"read": e["buffer_read"], "fill": e["buffer_write"], "gated_read": e["buffer_gated_read"],
                    "metadata_read": e["buffer_metadata_read"] * md, "metadata_fill": e["buffer_metadata_write"] * md},
            "rf": {"read": reg, "drain": reg, "fill": reg, "update": reg, "gated_read": 0.0, "gated_update": 0.0},
            "mac": {"compute": e["mac_compute"], "gated_compute": e["mac_gated"]}}


# one MAC; the Buffer holds A and B (no Z: Z goes Reg -> BackingStorage), the Reg one Z; no network cost
# (the source has none). Sizes and bandwidths do not enter the ideal cycles or the energy.
FIG1_ARCH = {"version": 1, "name": "sparseloop_fig1", "clock_mhz": 200, "word_bits": FIG1_WORD_BITS,
             "pe_array": {"rows": 1, "cols": 1}, "rf": {"psum_words": 1},
             "glb": {"size_kb": 128, "banks": 1, "bandwidth_words_per_cycle": 4, "holds": [IFMAP, WEIGHT]},
             "dram": {"bandwidth_gb_per_s": 10, "latency_cycles": 100}, "noc": {"type": "bus"},
             "energy": {"preset": "normalized", "noc_hop_pj": 0, "pj": _fig1_pj()}, "dataflow": "os"}
FIG1_DESIGNS = {"bitmask_gating": "sparseloop_fig1_bitmask", "coordinates_skipping": "sparseloop_fig1_coordinates"}


def fig1_mapping() -> Mapping:
    """ref_outputs/*/timeloop-mapper.map.txt: n (K) then m (P) at the BackingStorage, k (C) inside the Reg;
    A, B kept at the Buffer, Z at the Reg only; no MAC operand registers (every MAC reads A and B from the
    Buffer)."""
    ones = (1,) * len(DIMS)
    dram = tuple(SIZE if d in ("K", "P") else 1 for d in DIMS)
    rf = tuple(SIZE if d == "C" else 1 for d in DIMS)
    rest = [i for i, d in enumerate(DIMS) if d not in ("K", "P")]
    order_dram = (DIMS.index("K"), DIMS.index("P"), *rest)
    order_rf = (DIMS.index("C"), *[i for i in range(len(DIMS)) if DIMS[i] != "C"])
    return Mapping(factors=(dram, ones, ones, ones, rf), orders=(order_dram, tuple(range(len(DIMS))), order_rf),
                   glb_keep=(True, True, False), rf_keep=(False, False, True), reg_keep=(False, False, False))


SETUPS = ("fig1", "matmul_1pe")
UNITS = {"fig1": "pJ (the source's energies)", "matmul_1pe": "normalized units (one MAC = 1)"}


@dataclass(frozen=True)
class Point:
    design: str
    density: float
    energy_pj: float            # pJ (fig1) or normalized units (matmul_1pe: one MAC = 1)
    cycles: float               # ideal: compute-bound, one PE (Sparseloop's points: its bandwidth-bound cycles)
    dense_energy_pj: float
    dense_cycles: int


def sparseloop_points() -> list[Point]:
    """The reference run's results (``SPARSELOOP_FIG1``) as points (dense figures not reported: 0)."""
    out = []
    for d, (macs, e_b, e_c, cyc_b, cyc_c) in SPARSELOOP_FIG1.items():
        out.append(Point("bitmask_gating", d, e_b * macs, cyc_b, 0.0, 0))
        out.append(Point("coordinates_skipping", d, e_c * macs, cyc_c, 0.0, 0))
    return out


def sweep(densities: tuple[float, ...] | None = None, setup: str = "fig1") -> list[Point]:
    """Both designs of ``setup`` at each density (default: ``FIG1_DENSITIES`` for fig1, ``DENSITIES`` else)."""
    from dataflows import registry

    layer = gemm("matmul", SIZE, SIZE, SIZE)
    if setup == "fig1":
        return _fig1_sweep(densities or FIG1_DENSITIES, fig1_specs(), FIG1_ARCH)
    if setup != "matmul_1pe":
        raise ValueError(f"unknown setup {setup!r}; setups: {', '.join(SETUPS)}")
    arch = arch_from_dict(ARCH, "matmul_1pe")
    specs = {name: spec_from_dict(d, name) for name, d in DESIGNS.items()}
    return _points(layer, arch, registry.get("os").named(layer, arch), specs, densities or DENSITIES)


def fig1_specs() -> dict[str, SparseSpec]:
    """The two fig1 presets by design name."""
    return {name: load_spec(preset) for name, preset in FIG1_DESIGNS.items()}


def _fig1_sweep(densities: tuple[float, ...], specs: dict[str, SparseSpec], arch: dict) -> list[Point]:
    layer = gemm("matmul", SIZE, SIZE, SIZE)
    return _points(layer, arch_from_dict(arch, "sparseloop_fig1"), fig1_mapping(), specs, densities)


def _points(layer, arch, m: Mapping, specs: dict[str, SparseSpec], densities: tuple[float, ...]) -> list[Point]:
    out = []
    for name, spec in specs.items():
        for dens in densities:
            sl = sparse_layer(layer, arch, m, spec, models(dens))
            out.append(Point(name, dens, sl.energy_pj, sl.actions.cycles, sl.dense_energy_pj, sl.actions.dense_cycles))
    return out


# fig1 with one source value or accounting rule changed at a time (docs/sparsity.md): label -> (coordinate
# bits, skipped_metadata of the coordinate list, gated MAC pJ)
FIG1_VARIANTS = {
    "as published (sparse-opt/coordinate_list.yaml: 14 bits)": (14, META_READ, 0.0),
    "7-bit coordinates (accelforge tests/input_files/fig1)": (7, META_READ, 0.0),
    "skipped accesses' coordinates not read (accelsim's default)": (14, META_SKIP, 0.0),
    "gated MACs at ERT.yaml's mac_gated 0.03642 pJ": (14, META_READ, 0.03642),
    "both accounting rules accelsim's / the ERT's (14 bits)": (14, META_SKIP, 0.03642),
    "all three changes": (7, META_SKIP, 0.03642),
}


def fig1_variant(label: str, densities: tuple[float, ...] = FIG1_DENSITIES) -> list[Point]:
    """The fig1 sweep with one of ``FIG1_VARIANTS``' changes."""
    bits, skipped_metadata, mac_gated = FIG1_VARIANTS[label]
    specs = fig1_specs()
    coords = specs["coordinates_skipping"]
    cp = parse_format({"ranks": [{"CP": bits}]}, "<variant>", "formats")
    specs["coordinates_skipping"] = replace(coords, formats=tuple((k, cp) for k, _ in coords.formats),
                                            skipped_metadata=skipped_metadata)
    pj = _fig1_pj()
    pj["mac"]["gated_compute"] = mac_gated
    arch = dict(FIG1_ARCH)
    arch["energy"] = {"preset": "normalized", "noc_hop_pj": 0, "pj": pj}
    return _fig1_sweep(densities, specs, arch)


def models(density: float) -> dict:
    """Both operands uniformly sparse at ``density`` (the source's fixed-structured operands have the same
    expected counts: every count here is linear in each operand's nonzeros)."""
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


def table(points: list[Point], reference: list[Point] | None = None) -> str:
    """Energy per dense MAC and cycles of both designs per density, the crossover; with ``reference``
    (Sparseloop's points at the same densities) its energy per dense MAC and cycles beside each."""
    ref = {(p.design, p.density): p for p in reference or ()}
    head = f"{'density':>10s} {'bitmask+gating E/MAC':>21s} {'cycles':>9s} {'coords+skipping E/MAC':>22s} {'cycles':>9s}"
    if ref:
        head += f"  | Sparseloop: {'bitmask E/MAC':>13s} {'cycles':>9s} {'coords E/MAC':>12s} {'cycles':>9s}"
    lines = [head]
    by = {(p.design, p.density): p for p in points}
    macs = SIZE ** 3
    for d in sorted({p.density for p in points}):
        b, c = by[("bitmask_gating", d)], by[("coordinates_skipping", d)]
        row = f"{d:10.8g} {b.energy_pj / macs:21.4f} {b.cycles:9.0f} {c.energy_pj / macs:22.4f} {c.cycles:9.0f}"
        rb, rc = ref.get(("bitmask_gating", d)), ref.get(("coordinates_skipping", d))
        if rb is not None and rc is not None:
            row += (f"  | {'':11s} {rb.energy_pj / macs:13.4f} {rb.cycles:9.0f} {rc.energy_pj / macs:12.4f} "
                    f"{rc.cycles:9.0f}")
        lines.append(row)
    x = crossover(points)
    line = f"energy crossover at density {x:.4f}" if x is not None else "no energy crossover in the sweep"
    if ref:
        xr = crossover(list(ref.values()))
        line += f" (Sparseloop's reference run: {xr:.4f})" if xr is not None else " (Sparseloop's: none)"
    lines.append(line)
    return "\n".join(lines)


__all__ = ["ART", "DENSITIES", "DESIGNS", "FIG1_ARCH", "FIG1_DENSITIES", "FIG1_DESIGNS", "FIG1_ERT", "SETUPS",
           "FIG1_VARIANTS", "SPARSELOOP_FIG1", "UNITS", "Point", "crossover", "fig1_mapping", "fig1_specs",
           "fig1_variant", "models", "sparseloop_points", "sweep",
           "table"]
