"""Tile-level simulation of an attention dataflow: tiles flow load -> array -> vector -> store.

The schedule is the closed form's (``accelsim.attention.model.Result``): tiles of ``plan.rows`` query
rows of one head (batch x head outermost); ``unfused`` runs its three kernels one after another
(a barrier between kernels), each kernel's tiles being one head's rows. Per tile, each resource's
work is the per-row share of the dataflow's steps times the tile's rows; DRAM loads are the tile's
Q rows, its K/V (on a head's first tile when resident, else on every tile), and for ``unfused`` the
kernel's inputs; the tile's outputs are stored after its compute.

Timing (cycles, integers): one DRAM channel for loads and stores; a tile's load starts when the
channel is free and the tile two back has finished computing (double buffering); the array starts
when the load is done and the array free; the vector unit when the array part is done and the unit
free (so the array works on tile i+1 while the vector unit finishes tile i); the store after the
vector part. A unit that is both array and vector (no vector unit) is one resource.

Invariants: work per resource summed over tiles equals the closed form's (tested); the simulated
cycles are at least the closed form's bound; stall cycles of a resource = total - busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from accelsim.attention.cascade import ARRAY
from accelsim.attention.model import DRAM_RES, Result


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


def _tile_plan(res: Result) -> list[tuple[int, list, dict, int, int]]:
    """Tiles as (phase index, steps, per-row op units by unit kind, load words, store words)."""
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
                    kv = s.keys * (s.e + s.f) if (first or not plan.kv_resident) else 0
                    load, store = rows * s.e + kv, rows * s.f
                out.append((k, names, {nm: per_row[nm] * rows for nm in names}, load, store))
    return out


def simulate(res: Result) -> SimResult:
    m = res.machine
    units = {st.name: (m.array, m.array_units) if st.unit == ARRAY else (m.vector, m.vector_lanes)
             for st in res.steps}
    bw = m.dram_words_per_cycle
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
    loaded: dict[int, int] = {}

    def load(i: int) -> None:
        """Issue tile i's load: after the kernel barrier and the compute of tile i - 2 (two buffers)."""
        k, _, _, words, _ = tiles[i]
        kernel_start = barrier if k == phase else end
        prior = [d for j, d in done.items() if j <= i - 2 and tiles[j][0] == k]
        ready = max([kernel_start] + prior[-1:])
        loaded[i] = run(DRAM_RES, ready, words, bw) if bw is not None else ready

    done: dict[int, int] = {}
    if tiles:
        load(0)
    for i, (k, names, opw, _, store) in enumerate(tiles):
        if k != phase:
            phase, barrier = k, end
            if i not in loaded or loaded[i] < end:
                loaded.pop(i, None)
                free[DRAM_RES] = max(free.get(DRAM_RES, 0), end)
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
        for r in order:
            t = run(r, t, by_res[r][0], by_res[r][1])
        done[i] = t
        if i + 1 < len(tiles) and tiles[i + 1][0] == k:
            load(i + 1)                      # prefetch the next tile before this one's store
        t = run(DRAM_RES, t, store, bw) if bw is not None else t
        end = max(end, t)
    return SimResult(end, busy, work, len(tiles))
