"""The seven Eyexam steps for one layer (reference/eyexam.md): each an upper bound on MACs per cycle
that the next step can only lower; the last is the simulated performance.

1 layer size: every MAC at once.  2 dataflow: product of the dims it may spread spatially.
3 number of PEs: step 2 folded onto the PEs (with fragmentation).  4 array shape: the best split of
the dataflow's row dims over the rows and column dims over the columns (per-dimension
fragmentation).  5 storage: the chosen mapping, whose tiles must fit the RF and GLB.
6 average bandwidth: the roofline of every level (accelsim.cost.bound.latency_bound).
7 the simulation: bursts, NoC delivery, exposed transfers, fill and drain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from accelsim.cost.bound import bandwidth_cycles, latency_bound, noc_cycles
from accelsim.cost.counts import L_DRAM, L_GLB, Counts
from accelsim.mapper.space import allowed_dims
from accelsim.mapping import COLS, ROWS, Mapping
from noc.flow import STREAMS
from workloads.layer import DIMS, Layer

STEP_NAMES = (
    "layer size and shape",
    "dataflow loop nest",
    "number of PEs",
    "physical dimensions of the PE array",
    "fixed storage capacity",
    "fixed data bandwidth (average)",
    "varying data access patterns",
)


@dataclass(frozen=True)
class Step:
    step: int
    name: str
    macs_per_cycle: float
    limited_by: str

    def as_dict(self) -> dict:
        return {"step": self.step, "name": self.name, "macs_per_cycle": self.macs_per_cycle,
                "limited_by": self.limited_by}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=65536)
def _candidates(D: int, cap: int) -> tuple[int, ...]:
    """Spatial factors worth trying for a dim of size D on at most ``cap`` PEs: each value where
    ceil(D / s) changes (a larger s with the same folds only idles more PEs)."""
    out = set()
    q = max(1, ceil_div(D, max(cap, 1)))
    while True:                  # O(sqrt(D)) steps: jump to the next q where ceil(D / q) drops
        s = ceil_div(D, q)
        if s <= cap:
            out.add(s)
        if s == 1:
            break
        q = max(q + 1, ceil_div(D, s - 1))
    return tuple(sorted(out))


def _assignments(dims: tuple[int, ...], sizes: tuple[int, ...], cap: int) -> list[tuple[int, ...]]:
    """Factor vectors over ``dims`` with product <= cap."""
    out: list[tuple[int, ...]] = []

    def rec(i: int, left: int, acc: tuple[int, ...]) -> None:
        if i == len(dims):
            out.append(acc)
            return
        for s in _candidates(sizes[i], left):
            rec(i + 1, left // s, acc + (s,))

    rec(0, cap, ())
    return out


@lru_cache(maxsize=1024)
def best_shape(layer_dims: tuple[int, ...], row_dims: tuple[int, ...], col_dims: tuple[int, ...],
               rows: int, cols: int) -> tuple[float, tuple[int, ...], tuple[int, ...]]:
    """Max MACs/cycle over splits of the row dims on ``rows`` and column dims on ``cols``:
    prod D / prod ceil(D / (s_row * s_col)) over the spread dims. Returns (value, row s, col s)."""
    row_dims = tuple(d for d in row_dims if layer_dims[d] > 1)
    col_dims = tuple(d for d in col_dims if layer_dims[d] > 1)
    both = tuple(d for d in row_dims if d in col_dims)

    def value_of(f: dict[int, int]) -> float:
        v = 1.0
        for d, s in f.items():
            v *= layer_dims[d] / ceil_div(layer_dims[d], s)
        return v

    def side(ds: tuple[int, ...], cap: int) -> dict[tuple[int, ...], tuple[float, tuple[int, ...]]]:
        best: dict[tuple[int, ...], tuple[float, tuple[int, ...]]] = {}
        for a in _assignments(ds, tuple(layer_dims[d] for d in ds), cap):
            f = dict(zip(ds, a))
            key = tuple(f[d] for d in both)
            v = value_of({d: s for d, s in f.items() if d not in both})
            if key not in best or v > best[key][0]:
                best[key] = (v, a)
        return best

    rs, cs = side(row_dims, rows), side(col_dims, cols)
    top: tuple[float, tuple[int, ...], tuple[int, ...]] = (0.0, (), ())
    for rk, (rv, ra) in rs.items():
        for ck, (cv, ca) in cs.items():
            v = rv * cv * value_of({d: min(layer_dims[d], r * c) for d, r, c in zip(both, rk, ck)})
            if v > top[0]:
                top = (v, ra, ca)
    return top


def _fmt(x: float) -> str:
    return f"{x:,.1f}" if x < 1e5 else f"{x:.3g}"


def append_step(out: list[Step], value: float, reason: str) -> None:
    """The next step: never above the previous one ("no loss" when equal)."""
    prev = out[-1].macs_per_cycle if out else float("inf")
    value = min(prev, value)
    if out and value >= prev * (1 - 1e-12):
        reason = "no loss"
    out.append(Step(len(out) + 1, STEP_NAMES[len(out)], value, reason))


def steps(layer: Layer, arch, mapping: Mapping, counts: Counts, dataflow: str, sim) -> tuple[Step, ...]:
    """The seven steps; ``sim`` is the layer's SimResult (its cycles give step 7)."""
    from dataflows import registry

    flow = registry.get(dataflow)
    macs = layer.macs
    dims = layer.dims
    out: list[Step] = []

    def add(value: float, reason: str) -> None:
        append_step(out, value, reason)

    add(float(macs), f"finite workload: {macs:,} MACs")

    spread = sorted(set(flow.dim_ids("rows")) | set(flow.dim_ids("cols")))
    par2 = 1
    for d in spread:
        par2 *= dims[d]
    idle = [name for d, name in enumerate(DIMS) if d not in spread and dims[d] > 1]
    add(float(par2), f"dataflow {flow.name} spreads only {'/'.join(DIMS[d] for d in spread)}"
        + (f"; {'/'.join(idle)} stay temporal" if idle else ""))

    pes = arch.pes
    add(par2 / ceil_div(par2, pes), f"{pes} PEs: {par2:,} parallel MACs fold {ceil_div(par2, pes):,} times")

    # the dims each side may split: the dataflow's, minus those the hardware cannot (arch constraints)
    rows_ok, cols_ok = allowed_dims(arch, flow, ROWS), allowed_dims(arch, flow, COLS)
    v4, ra, ca = best_shape(dims, rows_ok, cols_ok, arch.pe_array.rows, arch.pe_array.cols)
    row_d = [d for d in rows_ok if dims[d] > 1]
    col_d = [d for d in cols_ok if dims[d] > 1]
    shape = ("rows " + "x".join(f"{DIMS[d]}{s}" for d, s in zip(row_d, ra) if s > 1) + ", cols "
             + "x".join(f"{DIMS[d]}{s}" for d, s in zip(col_d, ca) if s > 1))
    add(v4, f"{arch.pe_array.rows}x{arch.pe_array.cols} array: best split {shape} "
            f"({_fmt(v4)} of {pes} PEs busy on average)")

    v5 = macs / counts.cycles if counts.cycles else 0.0
    sp_r = "x".join(f"{DIMS[d]}{f}" for d, f in enumerate(mapping.factors[ROWS]) if f > 1) or "-"
    sp_c = "x".join(f"{DIMS[d]}{f}" for d, f in enumerate(mapping.factors[COLS]) if f > 1) or "-"
    add(v5, f"mapping that fits the RF ({arch.rf.total_words} words/PE) and GLB ({arch.glb.size_kb:g} kB): "
            f"rows {sp_r}, cols {sp_c}, {counts.active_pes} PEs, {counts.cycles:,} steps")

    bound = latency_bound(counts, arch)
    add(macs / bound if bound else 0.0, bandwidth_reason(counts, arch))
    add(macs / sim.cycles if sim.cycles else 0.0, sim_reason(sim))
    return tuple(out)


def bandwidth_reason(counts: Counts, arch) -> str:
    """Step 6's reason: the busiest of the DRAM, the GLB and the NoC's streams for ``counts`` (the
    bound's parts, ``cost.bound.bandwidth_cycles`` / ``noc_cycles``), its words and cycles."""
    dram_w = sum(counts.reads[L_DRAM]) + sum(counts.writes[L_DRAM])
    glb_w = sum(counts.reads[L_GLB]) + sum(counts.writes[L_GLB])
    dram_c, glb_c, _ = bandwidth_cycles(counts, arch)
    noc_c = noc_cycles(counts, arch)
    s_noc = max(range(len(noc_c)), key=lambda i: noc_c[i])
    if dram_c >= max(glb_c, noc_c[s_noc]):
        return f"DRAM: {dram_w:,.0f} words at {arch.dram_words_per_cycle:.3g} words/cycle = {dram_c:,.0f} cycles"
    if glb_c >= noc_c[s_noc]:
        return f"GLB: {glb_w:,.0f} words at {arch.glb.bandwidth_words_per_cycle:g} words/cycle = {glb_c:,.0f} cycles"
    return f"NoC: the {STREAMS[s_noc]} network needs {noc_c[s_noc]:,.0f} cycles at its width"


def sim_reason(sim) -> str:
    """Step 7's reason: the simulated cycles and the stalls by cause (``sim``: a SimResult)."""
    st = sim.stall_cycles
    top = max(st, key=lambda k: st[k]) if st else "dram"
    parts = ", ".join(f"{k} {v:,.0f}" for k, v in st.items() if v)
    return f"simulated {sim.cycles:,.0f} cycles; stalls {parts or 'none'} (mostly {top})"
