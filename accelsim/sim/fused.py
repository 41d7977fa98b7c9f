"""Simulation of a fused group: tiles flow through the layers (simpy), stalls by cause.

Per tile (``accelsim.fused.Geometry``, loop order batch, rows, columns) the DRAM channel loads what
the tile fetches (its new input band, outside operands, the weights: once when resident, else every
tile) and, after compute, stores the tile's output; the array computes the group's layers one after
the other on the tile, each for its layer-by-layer cycles scaled by the share of its outputs the
tile computes (``cycles * computed_in_tile / outputs``); the store includes the new part of an
intermediate that a layer outside the group also reads. Two tile buffers on each side (double
buffering): the load of tile ``t + 1`` overlaps the compute of tile ``t``; one DRAM channel of the
arch's bandwidth serves loads and stores in order of request.

Stalls (cycles the array waits, by cause): ``input`` (the tile's data not loaded yet), ``output``
(both output buffers still being written to DRAM). Invariants (tests/test_fusion_sim.py): total
cycles >= max(compute, DRAM words / bandwidth) (the group's Eyexam bound,
``accelsim.eyexam.fused``); the DRAM words equal the group's exact counts; with unlimited bandwidth,
cycles == compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from accelsim.cost.fused import input_channels, side_channels
from accelsim.fused import FusedGroup, Geometry, channels_out, check_group


@dataclass(frozen=True)
class GroupSim:
    cycles: float
    compute: float
    stalls: dict              # cause -> cycles the array waited
    dram_words: int
    tiles: int


def tile_work(group: FusedGroup, graph, layer_cycles: dict[str, float]) -> list[tuple[int, float, int]]:
    """Per tile: (words loaded, compute cycles, words stored)."""
    layers = check_group(group, graph)
    geo = Geometry(layers, group)
    n = len(layers)
    last = layers[-1]
    n_rows, n_cols = len(geo.rows(n - 1).need), len(geo.cols(n - 1).need)
    weights = sum(layer.weight_elems for layer in layers)
    names = set(group.layers)
    spilled = [j for j, layer in enumerate(layers[:-1])        # intermediates also read outside the group
               if any(c not in names for c in graph.consumers(layer.name))]
    out: list[tuple[int, float, int]] = []
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
                if not group.weights_resident or not out:
                    load += weights
                compute = sum(layer_cycles[layer.name] * nb * channels_out(layer) * area(j) / layer.output_elems
                              for j, layer in enumerate(layers))
                store = nb * channels_out(last) * area(n - 1)
                store += sum(nb * channels_out(layers[j]) * area(j) for j in spilled)
                out.append((load, compute, store))
    return out


def simulate_group(group: FusedGroup, graph, layer_cycles: dict[str, float], words_per_cycle: float) -> GroupSim:
    work = tile_work(group, graph, layer_cycles)
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    loaded = [env.event() for _ in work]
    in_free = simpy.Container(env, capacity=2, init=2)     # input tile buffers
    out_free = simpy.Container(env, capacity=2, init=2)    # output tile buffers
    stalls = {"input": 0.0, "output": 0.0}
    busy = {"compute": 0.0}

    def transfer(words: int):
        with dram.request() as req:
            yield req
            if words:
                yield env.timeout(words / words_per_cycle)

    def loader():
        for t, (load, _, _) in enumerate(work):
            yield in_free.get(1)
            yield env.process(transfer(load))
            loaded[t].succeed()

    def storer(words: int):
        yield env.process(transfer(words))
        yield out_free.put(1)

    def array():
        for t, (_, compute, store) in enumerate(work):
            start = env.now
            yield loaded[t]
            stalls["input"] += env.now - start
            start = env.now
            yield out_free.get(1)
            stalls["output"] += env.now - start
            yield env.timeout(compute)
            busy["compute"] += compute
            yield in_free.put(1)
            env.process(storer(store))

    env.process(loader())
    done = env.process(array())
    env.run()
    assert done.triggered
    words = sum(w[0] + w[2] for w in work)
    return GroupSim(env.now, busy["compute"], stalls, words, len(work))
