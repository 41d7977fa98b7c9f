"""The simpy model: the DRAM channel, GLB refills (tiles) and the array working through them.

A *block* is a run of consecutive tiles (one tile each when a layer has few; otherwise one
iteration of the outer DRAM loops, so a layer never needs more than ``MAX_BLOCKS`` of them). A
tile's DRAM fetch splits in two: the part that fits the GLB's free space (GLB size minus the tiles
in use) is prefetched while the previous tile computes; the rest must wait until the array is done
with the previous tile (exposed), paying the DRAM latency. Per block: wait for its prefetch, fetch
its exposed part, then compute (all its passes, whose time the per-pass model gave) while its
other tiles' prefetchable parts and any GLB-bypass traffic stream over the same DRAM channel; its
partial sums / outputs are written back behind it.

The DRAM channel is one simpy resource held for words / bandwidth, in chunks so that concurrent
transfers interleave like a controller serving requests. Array idle time is attributed to DRAM.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

MAX_BLOCKS = 64
CHUNKS_PER_LAYER = 256


@dataclass(frozen=True)
class Block:
    prefetch: float          # DRAM words of its first tile fetched during the previous block
    exposed: float           # DRAM words fetched while the array waits (all its tiles)
    exposed_fetches: float   # fetches with an exposed part (each pays the DRAM latency)
    overlap: float           # DRAM words of its other tiles fetched while it computes
    compute: float           # array cycles of its passes (compute + stalls inside the passes)
    bypass: float            # DRAM words moved by its passes directly (GLB bypass)
    writeback: float         # DRAM words written back behind it


@dataclass(frozen=True)
class EngineResult:
    end: float
    array_idle: float        # cycles the array waited for DRAM (fetch, bypass contention, last write-back)
    dram_busy: float
    events: int
    trace: tuple             # (resource, start, end) per busy interval


def run(blocks: list[Block], dram_bw: float, dram_latency: float, want_trace: bool = False) -> EngineResult:
    env = simpy.Environment()
    channel = simpy.Resource(env, capacity=1)
    total_words = sum(b.prefetch + b.exposed + b.overlap + b.bypass + b.writeback for b in blocks)
    chunk = max(total_words / CHUNKS_PER_LAYER, 1.0)
    trace: list[tuple[str, float, float]] = []
    stats = {"busy": 0.0, "idle": 0.0, "events": 0}

    def transfer(words: float, label: str):
        left = words
        while left > 1e-9:
            w = min(chunk, left)
            with channel.request() as req:
                yield req
                t0 = env.now
                yield env.timeout(w / dram_bw)
                stats["busy"] += env.now - t0
                stats["events"] += 1
                if want_trace:
                    trace.append((label, t0, env.now))
            left -= w

    def fetch(words: float, latency: float):
        if words > 1e-9:
            yield from transfer(words, "dram_read")
            yield env.timeout(latency)

    def compute(block: Block):
        t0 = env.now
        work: list[simpy.Event] = [env.timeout(block.compute)]
        if block.bypass > 0:
            work.append(env.process(transfer(block.bypass, "dram_bypass")))
        if block.overlap > 0:
            work.append(env.process(transfer(block.overlap, "dram_read")))
        yield simpy.AllOf(env, work)
        stats["idle"] += (env.now - t0) - block.compute
        if want_trace:
            trace.append(("array", t0, env.now))

    def layer():
        writebacks = []
        pending = env.process(fetch(blocks[0].prefetch, dram_latency)) if blocks else None
        for i, b in enumerate(blocks):
            t_wait = env.now
            yield pending
            yield env.process(fetch(b.exposed, dram_latency * max(1.0, b.exposed_fetches)))
            stats["idle"] += env.now - t_wait
            if i + 1 < len(blocks):
                pending = env.process(fetch(blocks[i + 1].prefetch, dram_latency))
            yield env.process(compute(b))
            if b.writeback > 0:
                writebacks.append(env.process(transfer(b.writeback, "dram_write")))
        t_end = env.now
        yield simpy.AllOf(env, writebacks)
        stats["idle"] += env.now - t_end

    env.process(layer())
    env.run()
    return EngineResult(env.now, stats["idle"], stats["busy"], int(stats["events"]), tuple(trace))
