"""Tile-level simulation of an attention dataflow: tiles flow load -> array -> vector -> store.

The schedule is the closed form's (``accelsim.attention.model.Result``): tiles of ``plan.rows`` query
rows of one head (batch x head outermost); ``unfused`` runs its three kernels one after another
(a barrier between kernels), each kernel's tiles being one head's rows. Per tile, each resource's
work is the per-row share of the dataflow's steps times the tile's rows; DRAM loads are the tile's
Q rows, its K/V (on a head's first tile when resident, else on every tile; FLAT's off-chip tensors
once per array pass: ``_fused_load``), and for ``unfused`` the kernel's inputs; the tile's outputs are stored after its compute.

Timing (cycles, integers): DRAM is one channel for loads and stores when its level gives one
shared ``bandwidth``, else a read port for loads and a write port for stores (its busy cycles: the
busier port, as the bound counts it); a tile's load starts when the channel is free and the tile
two back has finished computing (double buffering); the array starts when the load is done and the
array free; the vector unit when the array part is done and the unit free (so the array works on
tile i+1 while the vector unit finishes tile i); every other part of the phase's bound (the
buffer's and the networks' bandwidth cycles, ``Phase.busy``) is shared out over the phase's tiles
by rows (integers summing to the part's cycles) and runs beside the array from the load on; the
tile's compute ends when its array, vector and buffer parts have; the store after that. A unit
that is both array and vector (no vector unit) is one resource.

Invariants: work per resource summed over tiles equals the closed form's (tested); every resource's
busy cycles are at least its bound part's, so the simulated cycles are at least the closed form's
bound; stall cycles of a resource = total - busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from accelsim.attention.cascade import ARRAY
from accelsim.attention.model import Result


@dataclass(frozen=True)
class SimResult:
    cycles: int
    busy: dict                 # resource -> busy cycles
    work: dict                 # resource -> units of work summed over tiles
    tiles: int

    @property
    def limit(self) -> str:
        """The busiest resource (the one the schedule waits on)."""
        return max(sorted(self.busy), key=lambda r: self.busy[r])

    def stalls(self) -> dict:
        return {r: self.cycles - b for r, b in self.busy.items()}


def _tile_plan(res: Result) -> list[tuple[int, list, dict, int, int, int]]:
    """Tiles as (phase index, steps, per-row op units by unit kind, load words, store words, rows)."""
    s, plan = res.shape, res.plan
    heads = s.batch * s.heads
    per_row = {st.name: st.count // (heads * s.queries) for st in res.steps}
    out = []
    kernels = ([("qk", ["qk"]), ("softmax", ["max", "exp", "sum", "divide"]), ("av", ["av"])]
               if res.dataflow == "unfused" else [("attention", [st.name for st in res.steps])])
    for k, (_, names) in enumerate(kernels):
        for _head in range(heads):
            for r0 in range(0, s.queries, plan.rows):
                rows = min(plan.rows, s.queries - r0)
                first = r0 == 0
                if res.dataflow == "unfused":
                    load, store = {0: (rows * s.e + (s.keys * s.e if first else 0), rows * s.keys),
                                   1: (rows * s.keys, rows * s.keys),
                                   2: (rows * s.keys + (s.keys * s.f if first else 0), rows * s.f)}[k]
                else:
                    load, store = _fused_load(res, rows, first), rows * s.f
                out.append((k, names, {nm: per_row[nm] * rows for nm in names}, load, store, rows))
    return out


def _fused_load(res: Result, rows: int, first: bool) -> int:
    """DRAM words a fused tile of ``rows`` query rows loads: on-chip Q once, on-chip K/V on the head's
    first tile (resident) or every tile; off-chip (``plan.onchip`` without it) Q once per pass over
    ``pass_cols`` keys and K/V once per pass over ``pass_rows`` query rows."""
    s, plan = res.shape, res.plan
    q = rows * s.e * (1 if "Q" in plan.onchip else ceil(s.keys / plan.pass_cols))
    kv = 0
    for t, width in (("K", s.e), ("V", s.f)):
        if t not in plan.onchip:
            kv += s.keys * width * ceil(rows / plan.pass_rows)
        elif first or not plan.kv_resident:
            kv += s.keys * width
    return q + kv


def _shares(res: Result, tiles: list) -> list[dict[str, int]]:
    """Per tile, its share of each bound part of its phase other than the array, the vector unit and
    DRAM: the part's cycles split by rows, cumulative floors so the shares add up to the part."""
    m = res.machine
    own = {m.array, m.vector, m.dram}
    rows_of = [0] * len(res.phases)
    for t in tiles:
        rows_of[t[0]] += t[5]
    out = []
    done = [0] * len(res.phases)
    for k, *_, rows in tiles:
        before, done[k] = done[k], done[k] + rows
        out.append({r: c * done[k] // rows_of[k] - c * before // rows_of[k]
                    for r, c in res.phases[k].busy.items() if r not in own})
    return out


def simulate(res: Result) -> SimResult:
    m = res.machine
    units = {st.name: (m.array, m.array_units) if st.unit == ARRAY else (m.vector, m.vector_lanes)
             for st in res.steps}
    bw = m.dram_words_per_cycle
    wbw = m.dram_write_words_per_cycle
    store_port = m.dram if wbw is None else f"{m.dram}:write"
    free: dict[str, int] = {}
    busy: dict[str, int] = {}
    work: dict[str, int] = {}
    barrier, phase, end = 0, 0, 0

    def run(resource: str, start: int, amount: int, rate: float) -> int:
        if amount == 0:
            return start
        t0 = max(start, free.get(resource, 0))
        dt = ceil(amount / rate)
        free[resource] = t0 + dt
        busy[resource] = busy.get(resource, 0) + dt
        work[resource] = work.get(resource, 0) + amount
        return t0 + dt

    tiles = _tile_plan(res)
    shares = _shares(res, tiles)
    loaded: dict[int, int] = {}

    def load(i: int) -> None:
        """Issue tile i's load: after the kernel barrier and the compute of tile i - 2 (two buffers)."""
        k, _, _, words, _, _ = tiles[i]
        kernel_start = barrier if k == phase else end
        prior = [d for j, d in done.items() if j <= i - 2 and tiles[j][0] == k]
        ready = max([kernel_start] + prior[-1:])
        loaded[i] = run(m.dram, ready, words, bw) if bw is not None else ready

    done: dict[int, int] = {}
    if tiles:
        load(0)
    for i, (k, names, opw, _, store, _) in enumerate(tiles):
        if k != phase:
            phase, barrier = k, end
            if i not in loaded or loaded[i] < end:
                loaded.pop(i, None)
                free[m.dram] = max(free.get(m.dram, 0), end)
                load(i)
        t = loaded[i]
        # the steps in cascade order, grouped by the resource that runs them
        by_res: dict[str, tuple[int, float]] = {}
        order: list[str] = []
        for nm in names:
            r, rate = units[nm]
            if r not in by_res:
                order.append(r)
            w, _ = by_res.get(r, (0, rate))
            by_res[r] = (w + opw[nm], rate)
        t0 = t
        for r in order:
            t = run(r, t, by_res[r][0], by_res[r][1])
        for r, c in shares[i].items():       # the buffer's and networks' cycles, beside the array
            t = max(t, run(r, t0, c, 1))
        done[i] = t
        if i + 1 < len(tiles) and tiles[i + 1][0] == k:
            load(i + 1)                      # prefetch the next tile before this one's store
        if bw is not None:
            t = run(store_port, t, store, bw if wbw is None else wbw)
        end = max(end, t)
    if store_port in busy:                   # two DRAM ports: busy as the bound counts it, work in words
        busy[m.dram] = max(busy.get(m.dram, 0), busy.pop(store_port))
        work[m.dram] = work.get(m.dram, 0) + work.pop(store_port)
    for r in list(work):
        if r not in (m.array, m.vector, m.dram):
            work.pop(r)                      # bound parts in cycles, not units of work
    return SimResult(end, dict(sorted(busy.items())), dict(sorted(work.items())), len(tiles))
