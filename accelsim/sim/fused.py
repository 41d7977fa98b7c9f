"""Simulation of a fused group: tiles flow through the layers, one layer's tile at a time (simpy).

The unit of work is a **step**: one layer computing its part of one tile (``accelsim.fused.Geometry``,
tiles in loop order batch, rows, columns), for the cycles of that tile's exact bound on the inner
hierarchy (``accelsim.cost.fused_levels.tile_cycles``: the layer's own inner mapping on the tile's
problem; 0 where the layer computes nothing in the tile). Each core (``group.cores`` blocks of rows
of tiles) has one array that runs one step at a time; among the steps that are ready it takes the
oldest in program order (tile, then layer). Step (t, j) is ready when
- its data is there: tile t loaded (j = 0) or step (t, j-1) done;
- the layer has done tile t-1 of the core (a kept halo is computed in tile order);
- its output has a buffer: intermediate j (between layers j and j+1) holds **one** tile band, freed
  when step (t, j+1) is done (the capacity ``accelsim.cost.fused`` counts); the last layer's output
  has **two** tile buffers, each freed when its store to DRAM is done.
The input side has two tile buffers per core: the core's loader fetches tile t (its new input band,
outside operands, and the weights every tile when they are not resident) into a free one, freed
when step (t, 0) is done. Resident weights are fetched once, first, before any step. One DRAM
channel of ``words_per_cycle`` serves every load and store in order of request (cores' loaders in
core order at time 0). A store writes the tile's output and the new part of an intermediate also
read outside the group.

Stalls (cycles a core's array is idle while steps remain, charged to the cause the next step to run
waited on last): ``input`` (its tile, or the resident weights, not loaded yet), ``intermediate``
(the band buffer after it still held), ``output`` (both output buffers still being stored). A step's
other waits (the previous layer on the tile, the layer's previous tile) are steps of the same array,
so they never leave it idle; for the same reason ``intermediate`` stays 0 while one array runs all
the layers of a core (it is there for a design that gives layers their own arrays). ``cycles`` is
when the last store is done. Invariants (tests/test_fusion_sim.py): the DRAM words equal the group's exact
counts; per core, compute + stalls = the time its last step is done <= cycles; cycles >=
max(the busiest core's compute, DRAM words / bandwidth) (Eyexam steps, ``accelsim.eyexam.fused``);
unlimited bandwidth with one core: no stall and cycles = compute; a hand-computed schedule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import simpy

from accelsim.cost.fused import input_channels, side_channels
from accelsim.fused import FusedGroup, Geometry, channels_out, check_group

STALLS = ("input", "intermediate", "output")


@dataclass(frozen=True)
class TileWork:
    core: int
    load: int                     # words fetched before its first step (weights too when not resident)
    steps: tuple[float, ...]      # per layer: cycles of the layer's step on this tile
    store: int                    # words written to DRAM after its last step


@dataclass(frozen=True)
class CoreSim:
    compute: float                # cycles its array computed
    stalls: dict                  # cause -> cycles its array was idle
    done: float                   # when its last step was done


@dataclass(frozen=True)
class GroupSim:
    cycles: float                 # the last store done
    compute: float                # the busiest core's compute cycles
    stalls: dict                  # cause -> idle cycles, summed over the cores
    dram_words: int
    tiles: int
    cores: tuple[CoreSim, ...]


def tile_work(group: FusedGroup, graph, cycles: Sequence[tuple[int, tuple[float, ...]]]) -> tuple[list[TileWork], int]:
    """(per tile its work, resident weight words fetched once first). ``cycles``: per tile in loop
    order (core, per layer the step's cycles), as ``cost.fused_levels.tile_cycles`` gives them."""
    layers = check_group(group, graph)
    geo = Geometry(layers, group)
    n = len(layers)
    last = layers[-1]
    n_rows, n_cols = len(geo.rows(n - 1).need), len(geo.cols(n - 1).need)
    weights = sum(layer.weight_elems for layer in layers)
    names = set(group.layers)
    spilled = [j for j, layer in enumerate(layers[:-1])        # intermediates also read outside the group
               if any(c not in names for c in graph.consumers(layer.name))]
    out: list[TileWork] = []
    for b0 in range(0, last.N, group.batch):
        nb = min(group.batch, last.N - b0)
        for r in range(n_rows):
            for c in range(n_cols):
                def area(i: int, r: int = r, c: int = c) -> int:
                    (a, b), (x, y) = geo.rows(i).new[r], geo.cols(i).new[c]
                    return max(0, b - a) * max(0, y - x)
                load = nb * input_channels(layers[0]) * area(-1)
                for j in range(1, n):
                    load += nb * side_channels(layers[j], layers[j - 1]) * area(j - 1)
                if not group.weights_resident:
                    load += weights
                store = nb * channels_out(last) * area(n - 1)
                store += sum(nb * channels_out(layers[j]) * area(j) for j in spilled)
                core, steps = cycles[len(out)]
                out.append(TileWork(core, load, tuple(steps), store))
    if len(out) != len(cycles):
        raise ValueError(f"{len(cycles)} tiles of cycles for a group of {len(out)} tiles")
    return out, weights if group.weights_resident else 0


def simulate_tiles(work: Sequence[TileWork], words_per_cycle: float, first_load: int = 0) -> GroupSim:
    """The schedule of the module docstring over ``work`` (tiles in loop order, each on its core)."""
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    n = len(work[0].steps) if work else 0
    cores = sorted({w.core for w in work})
    mine = {c: [t for t, w in enumerate(work) if w.core == c] for c in cores}
    array = {c: simpy.PriorityResource(env, capacity=1) for c in cores}
    in_free = {c: simpy.Container(env, capacity=2, init=2) for c in cores}
    out_free = {c: simpy.Container(env, capacity=2, init=2) for c in cores}
    band_free = {(c, j): simpy.Container(env, capacity=1, init=1) for c in cores for j in range(n - 1)}
    loaded = [env.event() for _ in work]
    done = [[env.event() for _ in range(n)] for _ in work]
    weights = env.event()
    busy = {c: 0.0 for c in cores}
    stalls = {c: dict.fromkeys(STALLS, 0.0) for c in cores}
    released = {c: 0.0 for c in cores}       # when the core's array last became free
    finished = {c: 0.0 for c in cores}

    def transfer(words: int):
        with dram.request() as req:
            yield req
            if words:
                yield env.timeout(words / words_per_cycle)

    def fetch_weights():
        yield env.process(transfer(first_load))
        weights.succeed()

    def loader(c: int):
        for t in mine[c]:
            yield in_free[c].get(1)
            yield env.process(transfer(work[t].load))
            loaded[t].succeed()

    def store(c: int, t: int):
        yield env.process(transfer(work[t].store))
        yield out_free[c].put(1)

    def step(c: int, k: int, j: int):
        t = mine[c][k]
        cause = "input"
        waits = [("input", weights), ("input", loaded[t]) if j == 0 else ("data", done[t][j - 1])]
        if k:
            waits.append(("data", done[mine[c][k - 1]][j]))
        for why, ev in waits:
            if not ev.processed:
                yield ev
                cause = why
        start = env.now
        yield (band_free[(c, j)].get(1) if j < n - 1 else out_free[c].get(1))
        if env.now > start:
            cause = "intermediate" if j < n - 1 else "output"
        with array[c].request(priority=t * n + j) as req:
            yield req
            if env.now > released[c]:
                stalls[c][cause] += env.now - released[c]
            yield env.timeout(work[t].steps[j])
            busy[c] += work[t].steps[j]
            released[c] = env.now
        if j == 0:
            yield in_free[c].put(1)
        else:
            yield band_free[(c, j - 1)].put(1)
        finished[c] = max(finished[c], env.now)
        done[t][j].succeed()
        if j == n - 1:
            env.process(store(c, t))

    env.process(fetch_weights())
    for c in cores:
        env.process(loader(c))
    for c in cores:
        for k in range(len(mine[c])):
            for j in range(n):
                env.process(step(c, k, j))
    env.run()
    assert all(ev.processed for row in done for ev in row)
    per_core = tuple(CoreSim(busy[c], stalls[c], finished[c]) for c in cores)
    total = {s: sum(cs.stalls[s] for cs in per_core) for s in STALLS}
    words = first_load + sum(w.load + w.store for w in work)
    return GroupSim(env.now, max((cs.compute for cs in per_core), default=0.0), total, words, len(work), per_core)


def simulate_group(group: FusedGroup, graph, hierarchy, nest_for, words_per_cycle: float,
                   cache: dict | None = None) -> GroupSim:
    """The group's tiles with their exact per-tile cycles (``tile_cycles`` on ``hierarchy`` with the
    layers' inner mappings ``nest_for``) through :func:`simulate_tiles`."""
    from accelsim.cost.fused_levels import tile_cycles

    work, first = tile_work(group, graph, tile_cycles(group, graph, hierarchy, nest_for, cache))
    return simulate_tiles(work, words_per_cycle if words_per_cycle > 0 else math.inf, first)
