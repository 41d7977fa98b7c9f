"""The latency bound (Eyexam step 6): a layer needs at least its compute cycles, and at least the
cycles DRAM, the GLB and each NoC stream need to move its words at their bandwidths.

The one Python definition: the mapper scores with it (accelsim.mapper.score), Eyexam step 6
reports it, the simulator never finishes below it (tested). Its numba twin for batches of count
rows is accelsim.cost.fast.latency_bound_batch, tested equal on shipped archs.
"""

from __future__ import annotations

from accelsim.cost.counts import L_DRAM, L_GLB, L_NOC, Counts


def stream_words(counts: Counts) -> tuple[tuple[int, int], ...]:
    """Per NoC stream (ifmap, weight, psum in, psum out): (words PEs receive or send, distinct words
    crossing the array boundary)."""
    r, w, u = counts.reads[L_NOC], counts.writes[L_NOC], counts.noc_transfers
    return ((r[0], u[0]), (r[1], u[1]), (r[2], r[2]), (w[2], u[2] - r[2]))


def noc_cycles(counts: Counts, arch) -> tuple[float, ...]:
    """Per NoC stream, the cycles its network needs at least (the NoC model's bandwidth bound)."""
    from noc.registry import bandwidth_bound

    return tuple(a * delivered + b * distinct
                 for (a, b), (delivered, distinct) in zip(bandwidth_bound(arch), stream_words(counts)))


def bandwidth_cycles(counts: Counts, arch) -> tuple[float, float, float]:
    """Cycles the DRAM, the GLB and the busiest NoC stream need to move this layer's words."""
    dram_words = sum(counts.reads[L_DRAM]) + sum(counts.writes[L_DRAM])
    glb_words = sum(counts.reads[L_GLB]) + sum(counts.writes[L_GLB])
    dram_bw = arch.dram_words_per_cycle
    dram = 0.0 if dram_bw == float("inf") else dram_words / dram_bw
    return dram, glb_words / arch.glb.bandwidth_words_per_cycle, max(noc_cycles(counts, arch))


def latency_bound(counts: Counts, arch) -> float:
    """Cycles can be no fewer than compute or any level's traffic / bandwidth."""
    return max(float(counts.cycles), *bandwidth_cycles(counts, arch))


__all__ = ["bandwidth_cycles", "latency_bound", "noc_cycles", "stream_words"]
