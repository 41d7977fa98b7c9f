"""simulate_layer: a layer's schedule (from its mapping) timed on the arch's DRAM, GLB, NoC and array.

Pure: same inputs, same result. The steps: the passes and tiles of the mapping with their exact
traffic (passes.py), the time of one pass of each class (timing.py, asking the arch's NoC model),
then the tiles through simpy (engine.py). Invariants (tested): with unlimited bandwidth and no
latency the cycles equal the cost model's ideal cycles exactly (plus, on a systolic array, its
fold skew); with finite bandwidth they are never below the Eyexam step-6 bound; the traffic the
passes move sums exactly to the cost model's counts.
"""

from __future__ import annotations

import math
from dataclasses import replace

from accelsim.cost.counts import Counts, count_tuples
from accelsim.cost.nest import build_nest
from accelsim.energy import TENSORS
from accelsim.mapping import COLS, ROWS, Mapping
from accelsim.names import GLB
from accelsim.sim import engine
from accelsim.sim.passes import Schedule, schedule
from accelsim.sim.result import STALL_CAUSES, SimResult
from accelsim.sim.timing import Context, PassTime, Rooms, overlapped, pass_time, prefetch_share
from accelsim.tiles import tile_words
from noc import registry as noc_registry
from noc.flow import STREAMS, layout
from workloads.layer import Layer

INF = float("inf")


def unlimited(arch):
    """The same arch with unlimited DRAM, GLB and NoC bandwidth and no latencies (a systolic
    array keeps its fold skew: that is the array's structure, not a bandwidth)."""
    model = noc_registry.model(arch.noc.type)
    params = model.unlimited(noc_registry.settings(arch.noc))
    noc = replace(arch.noc, params=tuple(sorted(params.items())))
    return replace(arch, dram=replace(arch.dram, bandwidth_gb_per_s=None, latency_cycles=0),
                   glb=replace(arch.glb, bandwidth_words_per_cycle=INF), noc=noc)


def _stationary_hop(sched: Schedule):
    hops = [h for h in sched.hops if h.kind == "deliver"]
    return min(hops, key=lambda h: (h.trigger, h.tensor)) if hops else None


def _fold_sums(sched: Schedule, trigger: int) -> tuple[int, int, int]:
    """(folds, sum over folds of rows used, of columns used): exact under ceil tiling."""
    layer, m = sched.layer, sched.mapping
    nest = build_nest(m)
    temporal = [i for i in range(nest.rf_cut) if not nest.loops[i].spatial]
    pos = {i: k for k, i in enumerate(temporal)}
    out = []
    for extra in (None, ROWS, COLS):
        total = 1
        for d, D in enumerate(layer.dims):
            loops = [(lp.factor, lp.span, (i in pos and pos[i] <= trigger) or lp.level == extra)
                     for i, lp in enumerate(nest.loops) if lp.dim == d]
            total *= count_tuples(D, loops)
        out.append(total)
    return out[0], out[1], out[2]


def _largest_remainder(values: dict, total: int, order: tuple = STALL_CAUSES, fallback: str = "dram") -> dict:
    """Integers proportional to ``values`` summing to ``total`` (ties by ``order``; all of it to
    ``fallback`` when every value is 0)."""
    total = max(0, total)
    s = sum(values.values())
    if s <= 0:
        out = dict.fromkeys(values, 0)
        if total:
            out[fallback] = total
        return out
    scaled = {k: v * total / s for k, v in values.items()}
    out = {k: int(math.floor(v)) for k, v in scaled.items()}
    left = total - sum(out.values())
    for k in sorted(scaled, key=lambda k: (-(scaled[k] - out[k]), order.index(k)))[:left]:
        out[k] += 1
    return out


def _blocks(sched: Schedule, times: list[PassTime], fill_read: list[float], fill_write: list[float],
            early: list[float], fd_first: float, fd_last: float, fd_tile: float) -> list[engine.Block]:
    """Group the tiles into at most engine.MAX_BLOCKS blocks (one iteration of the outer DRAM loops
    each); per block, float counts of the passes of each class (totals exact)."""
    a = sched.dram_loops
    f = sched.factors
    levels = sched.levels
    outer = 0
    n_full = 1
    while outer < a and n_full * f[outer] <= engine.MAX_BLOCKS:
        n_full *= f[outer]
        outer += 1
    classes = []
    digits = [0] * outer
    for idx in range(n_full):
        if idx == 0:
            classes.append(-1)
        else:
            i = outer - 1
            while digits[i] == f[i] - 1:
                digits[i] = 0
                i -= 1
            digits[i] += 1
            classes.append(i)
    full_count = {j: classes.count(j) for j in set(classes)}
    inner = {j: sched.passes[j + 1] / n_full for j in range(outer, levels)}

    def split(j: int) -> tuple[float, float]:
        """(prefetchable, exposed) DRAM words of one tile fetch of class j."""
        words = fill_read[j + 1]
        pre = min(words, early[j + 1])
        return pre, words - pre

    blocks = []
    for k, jk in enumerate(classes):
        counts = dict(inner)
        counts[jk] = sched.passes[jk + 1] / full_count[jk]
        first = counts[jk]
        pre0, exp0 = split(jk)
        rest = [(counts[j], *split(j)) for j in range(outer, a)]
        tiles = first + sum(c for c, _, _ in rest)
        compute = sum(c * times[j + 1].duration for j, c in counts.items()) + tiles * fd_tile
        compute += (fd_first if k == 0 else 0.0) + (fd_last if k == n_full - 1 else 0.0)
        exposed_fetches = (first if exp0 > 1e-9 else 0.0) + sum(c for c, _, e in rest if e > 1e-9)
        blocks.append(engine.Block(
            prefetch=first * pre0,
            exposed=first * exp0 + sum(c * e for c, _, e in rest),
            exposed_fetches=exposed_fetches,
            overlap=sum(c * p for c, p, _ in rest),
            compute=compute,
            bypass=sum(c * times[j + 1].dram_words for j, c in counts.items()),
            writeback=sum(c * fill_write[j + 1] for j, c in counts.items() if j < a),
        ))
    return blocks


def simulate_layer(layer: Layer, arch, mapping: Mapping, counts: Counts, *, trace: bool = False,
                   rooms: Rooms | None = None) -> SimResult:
    """Simulate one layer under ``mapping``; ``counts`` are the cost model's counts of it.

    ``rooms``: a sparse view's tiles (``sparse.layer.sparse_rooms``, with its counts
    ``sparse.layer.bandwidth_counts``): the double-buffering room beside the compressed tiles
    (accelsim.sim.timing) instead of the dense ones.

    ``trace`` keeps the busy intervals (see :func:`accelsim.sim.result.save_trace`). The Eyexam
    steps are attached above the simulator (accelsim.eyexam.examine).
    """
    sched = schedule(layer, mapping, counts)
    ctx = Context.of(arch)
    model, settings = ctx.noc, ctx.settings
    systolic = model.fold_skew is not None
    levels = sched.levels
    total_passes = sched.total_passes
    ideal = counts.cycles

    # which streams overlap the compute
    exposed = dict.fromkeys(STREAMS, False)
    for h in sched.hops:
        if h.kind == "fill":
            continue
        if h.kind == "stream":
            continue
        slide_pe = 0.0
        if h.slide:
            slide_pe = h.per_pass("delivered_in", h.trigger, sched.passes) / max(1, mapping.active_pes)
        over = overlapped(layer, mapping, arch, h.tensor, slide_pe, systolic, rooms)
        names = ("psum_in", "psum_out") if h.tensor == "psum" else (h.tensor,)
        for s in names:
            exposed[s] = not over

    # systolic skew per fold, spread over the passes that start a fold
    skew_per_fold, stat_trigger, tail = 0.0, -2, 0.0
    if systolic:
        stat = _stationary_hop(sched)
        if stat is not None:
            stat_trigger = stat.trigger
            folds, rows_sum, cols_sum = _fold_sums(sched, stat.trigger)
            if settings.get("timing") == "scalesim":
                assert model.fold_skew is not None, "a systolic NoC model states its fold skew"
                total_skew = folds * model.fold_skew(0, 0, stat.tensor, settings, arch.pe_array.rows,
                                                     arch.pe_array.cols)
            else:
                total_skew = 2 * rows_sum + cols_sum - 2 * folds
            tail = model.fold_tail(settings)
            events = sum(sched.passes[:stat.trigger + 2])
            skew_per_fold = total_skew / events if events else 0.0

    compute = ideal / total_passes if total_passes else 0.0
    fill_glb = sum(h.totals["glb"] for h in sched.hops if h.kind == "fill") / max(1, total_passes)
    # the part of an overlapped input's RF refill that fits beside the current tile arrives
    # during the run of passes that use it (charged once per run, not in the pass that starts it)
    prefetch = {} if systolic else {(t, "deliver"): prefetch_share(layer, mapping, arch, t, rooms)
                                    for t in ("ifmap", "weight") if not exposed[t]}
    # the GLB's free space decides how much of the next tile can be prefetched (and of the next
    # pass's per-pass tile: the free words of its own part, beside the current tile)
    glb_tiles: list[float] = list(tile_words(layer, mapping)["glb"])
    groups = arch.glb.capacity_groups(arch.word_bits)
    free_of = [max(0, cap - sum(w for w, k, g in zip(glb_tiles, mapping.glb_keep, group) if k and g))
               for group, cap in groups]
    if rooms is not None:          # a sparse view: the room beside the group's compressed tiles
        glb_tiles = [rooms[(GLB, t)][0] if (GLB, t) in rooms else w for t, w in zip(TENSORS, glb_tiles)]
        free_of = [next((rooms[(GLB, t)][1] for t, g in zip(TENSORS, group) if g and (GLB, t) in rooms), f)
                   for (group, _), f in zip(groups, free_of)]
    for h in sched.hops:
        if sched.in_tile(h):
            t = TENSORS.index(h.tensor)
            room = sum(f for (group, _), f in zip(groups, free_of) if group[t])
            prefetch[(h.tensor, "fill")] = min(1.0, room / glb_tiles[t]) if glb_tiles[t] else 0.0
    times = []
    for j in range(-1, levels):
        skew = skew_per_fold if j <= stat_trigger else 0.0
        times.append(pass_time(sched, j, ctx, arch, exposed, compute, fill_glb, skew, prefetch))

    fills = [h for h in sched.hops if h.kind == "fill" and not sched.in_tile(h)]
    fill_read = [sum(h.per_pass("dram_read", j, sched.passes) for h in fills) for j in range(-1, levels)]
    # per class, the words of a tile fetch that fit the free space of their own GLB part
    early = [sum(min(free, sum(h.per_pass("dram_read", j, sched.passes) for h in fills
                               if group[TENSORS.index(h.tensor)]))
                 for (group, _), free in zip(groups, free_of)) for j in range(-1, levels)]
    fill_write = [sum(h.per_pass("dram_write", j, sched.passes) for h in fills) for j in range(-1, levels)]
    prefetched = all(fill_read[j + 1] <= early[j + 1] + 1e-9 for j in range(-1, sched.dram_loops)
                     if fill_read[j + 1] > 0)

    # pipeline fill and drain of the array (systolic arrays: inside the skew). A pass's streamed
    # inputs arrive during the previous pass, so a run of passes costs one extra stage at each end:
    # the first delivery and the last psum drain, each overlapping nothing, i.e. min(compute, that
    # transfer) more than the per-pass maxima count, plus the network latency. Paid once per layer
    # when tiles are prefetched, else at every tile.
    fd_first = fd_last = fd_tile = 0.0
    if not systolic:
        lat = model.latency(layout(layer, mapping, "psum", ctx.array_rows, ctx.array_cols), settings)
        first_in = max((times[0].noc[s] for s in ("ifmap", "weight", "psum_in") if not exposed[s]), default=0.0)
        last_out = times[-1].noc["psum_out"] if not exposed["psum_out"] else 0.0
        fd_first = lat + min(compute, first_in)
        fd_last = (lat + min(compute, last_out)) if last_out else 0.0
        if not prefetched:
            fd_tile, fd_first, fd_last = fd_first + fd_last, 0.0, 0.0

    blocks = _blocks(sched, times, fill_read, fill_write, early, fd_first, fd_last, fd_tile)
    dram_bw_sim = ctx.dram_bw if ctx.dram_bw != INF else 1e300
    res = engine.run(blocks, dram_bw_sim, float(arch.dram.latency_cycles), want_trace=trace)

    end = res.end + tail
    cycles = max(int(math.ceil(end - 1e-9 * max(1.0, end))), 0)
    stalls_f = dict.fromkeys(STALL_CAUSES, 0.0)
    for j in range(-1, levels):
        for c, v in times[j + 1].stalls.items():
            stalls_f[c] += sched.passes[j + 1] * v
    n_tiles = sched.tiles
    stalls_f["fill_drain"] += fd_first + fd_last + n_tiles * fd_tile
    stalls_f["fill_drain"] = max(0.0, stalls_f["fill_drain"] + tail)
    stalls_f["dram"] += res.array_idle
    stalls = _largest_remainder(stalls_f, cycles - ideal)

    denom = max(cycles, 1)
    busy = {"array": ideal / denom if cycles else 0.0, "dram": res.dram_busy / denom,
            "glb": sum(sched.passes[j + 1] * times[j + 1].glb for j in range(-1, levels)) / denom}
    for s in STREAMS:
        busy[f"noc_{s}"] = sum(sched.passes[j + 1] * times[j + 1].noc[s] for j in range(-1, levels)) / denom
    busy = {k: min(1.0, max(0.0, v)) for k, v in busy.items()}

    return SimResult(cycles=cycles, ideal_cycles=ideal, stall_cycles=stalls, busy=busy, passes=total_passes,
                       tiles=n_tiles, blocks=len(blocks), events=res.events, prefetched=prefetched,
                       exposed=exposed, trace=res.trace if trace else None)


def simulate_sparse(layer, arch, m, sl, spec, models):
    """The fixed shape's simulation of mapping ``m``'s schedule on a sparse view's counts
    (``sparse.layer.bandwidth_counts`` of ``sl``, a ``SparseLayer``: compressed data + metadata + gated words
    per level, the sparse ideal cycles with skipping and load imbalance) with its compressed tiles'
    double-buffering room (``sparse.layer.sparse_rooms``): a SimResult (``accelsim run``'s ``sparse sim``,
    ``accelsim explain``'s step 7)."""
    from accelsim.sparse.layer import bandwidth_counts, sparse_rooms

    return simulate_layer(layer, arch, m, bandwidth_counts(sl), rooms=sparse_rooms(layer, arch, m, spec, models))
