"""How long one pass of each class takes, and why it takes longer than its compute.

Per pass the array computes (ideal cycles / passes); the streams (ifmap, weight, psum in, psum out)
move their words over their own networks (the arch's NoC model gives the cycles), through the GLB
(its port bandwidth) or straight from DRAM (a bypass). A stream *overlaps* the compute when its
next RF tile can arrive while the current one is still in use: the RF beside the current tile plus
the PE's input FIFO (``pe_array.input_fifo_words``) hold a whole tile, or the new part of a sliding
window, or the PE's outermost loop walks through the tensor so
finished parts can be replaced one by one (RS's psums and filter rows); systolic forwarding always
overlaps (its cost is the skew). Otherwise the stream is *exposed*: inputs must arrive before the
compute starts and psums leave after it ends.

    array time = exposed in + compute + PE cycles the NoC costs + exposed out + systolic skew
    pass time  = max(array time, each network's busy time, GLB words / GLB bandwidth,
                     bypass DRAM words / DRAM bandwidth)

The DRAM words of a per-pass GLB tile's refill (``Schedule.in_tile``) count with the bypass words
of the passes that refill it, less the share that fits the free words of its GLB part beside the
current tile (spread over all passes, as an RF refill's prefetched share is).

A sparse view's tiles (``Rooms``: per (level name, tensor), the words its compressed tile takes and
the free words beside its group's tiles, ``sparse.layer.sparse_rooms``) replace the dense tile words
and the capacity left beside them in every room rule above: a compressed tile leaves the room its
compressed words leave, as the level-list simulator's (``sim.general.room_of``).

Every cycle beyond the compute is attributed to one cause: the resource that set an exposed
transfer's time or stretched the pass (dram, glb, noc), the PE cycles the network costs (noc),
or the skew (fill_drain).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.energy import TENSORS
from accelsim.mapping import RELEVANT, RF, Mapping
from accelsim.names import RF as RF_LEVEL
from accelsim.sim.passes import Schedule
from accelsim.tiles import tile_extents
from noc.flow import STREAMS, Flow, layout
from noc.model import NocModel

CAUSES = ("dram", "glb", "noc", "fill_drain")
IN_STREAM = {"ifmap": "ifmap", "weight": "weight", "psum": "psum_in"}


@dataclass(frozen=True)
class PassTime:
    duration: float
    compute: float
    stalls: dict                 # cause -> cycles per pass
    noc: dict                    # stream -> network busy cycles per pass
    glb: float                   # GLB port busy cycles per pass
    dram: float                  # bypass DRAM busy cycles per pass (DRAM words / bandwidth)
    dram_words: float            # bypass DRAM words per pass


Rooms = dict[tuple[str, str], tuple[float, float]]   # (level, tensor) -> (tile words, free words beside)


@dataclass(frozen=True)
class Context:
    """What the per-pass timing needs about the arch, resolved once per layer."""

    noc: NocModel
    settings: dict
    glb_bw: float
    dram_bw: float
    dram_latency: float
    array_rows: int
    array_cols: int

    @classmethod
    def of(cls, arch) -> Context:
        from noc import registry as noc_registry

        return cls(noc_registry.model(arch.noc.type), noc_registry.settings(arch.noc),
                   arch.glb.bandwidth_words_per_cycle, arch.dram_words_per_cycle, float(arch.dram.latency_cycles),
                   arch.pe_array.rows, arch.pe_array.cols)


def rf_room(layer, m: Mapping, arch, tensor: str, rooms: Rooms | None = None) -> tuple[float, float]:
    """(words of ``tensor``'s RF tile, words beside the RF's tiles that the next one can use): the
    dense tile and the RF capacity (its part, or the shared RF less the other kept tiles) left beside
    it, or a sparse view's compressed ones (``rooms``)."""
    if rooms is not None and (RF_LEVEL, tensor) in rooms:
        return rooms[(RF_LEVEL, tensor)]
    t = TENSORS.index(tensor)
    rf_tiles = tile_extents(layer, m, (RF,))
    tile = rf_tiles[tensor]
    if arch.rf.shared is not None:
        others = sum(rf_tiles[o] for i, o in enumerate(TENSORS) if i != t and m.rf_keep[i])
        cap = arch.rf.shared - others
    else:
        cap = arch.rf.capacity(tensor) or 0
    return tile, cap - tile


def overlapped(layer, m: Mapping, arch, tensor: str, slide_words_per_pe: float, systolic: bool,
               rooms: Rooms | None = None) -> bool:
    """Can the next RF tile of ``tensor`` arrive while the current one is in use?"""
    if systolic:
        return True
    tile, free = rf_room(layer, m, arch, tensor, rooms)
    room = free + arch.pe_array.fifo_words(tensor)     # words of the next tile that can wait
    if room >= tile or (slide_words_per_pe and room >= slide_words_per_pe):
        return True
    for d in m.orders[2]:                      # the PE's outermost loop that iterates
        if m.factors[RF][d] > 1:
            return RELEVANT[tensor][d]
    return False


def prefetch_share(layer, m: Mapping, arch, tensor: str, rooms: Rooms | None = None) -> float:
    """Fraction of an input's next RF tile that fits in the RF beside the current one and in the
    PE's input FIFO (1 when they hold a whole tile): that part of a refill arrives while the passes
    that use the current tile run, the rest when the tile is replaced. 0 for a sliding window, a
    shared RF or no RF."""
    t = TENSORS.index(tensor)
    if tensor == "psum" or not m.rf_keep[t] or arch.rf.shared is not None:
        return 0.0
    tile, free = rf_room(layer, m, arch, tensor, rooms)
    room = free + arch.pe_array.fifo_words(tensor)
    return max(0.0, min(1.0, room / tile)) if tile else 0.0


def _hop_words(sched: Schedule, h, category: str, j: int, prefetch: dict[tuple[str, str], float]) -> float:
    """A hop's words in one pass of class ``j``: a refill (j <= its trigger) less the part the
    buffer prefetched (``prefetch``: (tensor, hop kind) -> share), plus that part of every refill
    spread over all passes (an input's refill is charged once per run of passes that use the tile,
    not in the pass that starts the run)."""
    f = 0.0 if h.slide else prefetch.get((h.tensor, h.kind), 0.0)
    own = h.per_pass(category, j, sched.passes) if j <= h.trigger or h.kind != "deliver" else 0.0
    if not f:
        return own
    return (1.0 - f) * own + f * h.totals[category] / max(1, sched.total_passes)


def flows_of_class(sched: Schedule, j: int, ctx: Context, arch, prefetch: dict[tuple[str, str], float] | None = None
                   ) -> dict[str, Flow]:
    """The traffic of one pass of carry level ``j`` (``-1``: the first pass), per stream;
    ``prefetch`` as in :func:`pass_time`."""
    out = {}
    prefetch = prefetch or {}
    layer, m = sched.layer, sched.mapping
    for h in sched.hops:
        spread = h.kind == "deliver" and not h.slide and prefetch.get((h.tensor, h.kind), 0.0) > 0
        if h.kind == "fill" or (h.kind == "deliver" and j > h.trigger and not spread):
            continue
        lay = layout(layer, m, h.tensor, ctx.array_rows, ctx.array_cols)
        u_in = _hop_words(sched, h, "unique_in", j, prefetch)
        d_in = _hop_words(sched, h, "delivered_in", j, prefetch)
        if u_in or d_in:
            out[IN_STREAM[h.tensor]] = Flow(IN_STREAM[h.tensor], u_in, d_in, lay)
        u_out = h.per_pass("unique_out", j, sched.passes)
        d_out = h.per_pass("delivered_out", j, sched.passes)
        if u_out or d_out:
            out["psum_out"] = Flow("psum_out", u_out, d_out, lay)
    return out


def pass_time(sched: Schedule, j: int, ctx: Context, arch, exposed: dict[str, bool], compute: float,
              fill_glb_per_pass: float, skew: float, prefetch: dict[tuple[str, str], float] | None = None
              ) -> PassTime:
    """Timing of one pass of carry level ``j``; ``prefetch``: per (input tensor, hop kind), the
    share of its refills that arrives during the previous run of passes (``deliver``: the RF's,
    :func:`prefetch_share`; ``fill``: a per-pass GLB tile's)."""
    prefetch = prefetch or {}
    flows = flows_of_class(sched, j, ctx, arch, prefetch)
    noc = {s: ctx.noc.delivery_cycles(f, ctx.settings) for s, f in flows.items()}
    pe_extra = sum(ctx.noc.pe_cycles(f, ctx.settings) for f in flows.values())
    glb_words, dram_words = fill_glb_per_pass, 0.0
    src_glb: dict[str, float] = {}
    src_dram: dict[str, float] = {}
    for h in sched.hops:
        if sched.in_tile(h):        # a per-pass GLB tile's refill: DRAM words of this pass (GLB: fill_glb)
            dram_words += (_hop_words(sched, h, "dram_read", j, prefetch)
                           + _hop_words(sched, h, "dram_write", j, prefetch))
            continue
        spread = h.kind == "deliver" and not h.slide and prefetch.get((h.tensor, h.kind), 0.0) > 0
        if h.kind == "fill" or (h.kind == "deliver" and j > h.trigger and not spread):
            continue
        g = _hop_words(sched, h, "glb", j, prefetch)
        dw = _hop_words(sched, h, "dram_read", j, prefetch) + _hop_words(sched, h, "dram_write", j, prefetch)
        glb_words += g
        dram_words += dw
        for s in ((IN_STREAM[h.tensor], "psum_out") if h.tensor == "psum" else (IN_STREAM[h.tensor],)):
            share = 0.5 if h.tensor == "psum" else 1.0
            src_glb[s] = src_glb.get(s, 0.0) + share * g
            src_dram[s] = src_dram.get(s, 0.0) + share * dw
    glb_time = glb_words / ctx.glb_bw
    dram_time = dram_words / ctx.dram_bw

    def exposed_phase(streams: tuple[str, ...]) -> tuple[float, str]:
        best, cause = 0.0, "noc"
        for s in streams:
            if s not in flows or not exposed.get(s, False):
                continue
            parts = {"noc": noc.get(s, 0.0), "glb": src_glb.get(s, 0.0) / ctx.glb_bw,
                     "dram": src_dram.get(s, 0.0) / ctx.dram_bw
                     + (ctx.dram_latency if src_dram.get(s, 0.0) else 0.0)}
            c = max(parts, key=lambda k: (parts[k], k == "noc"))
            if parts[c] > best:
                best, cause = parts[c], c
        return best, cause

    exp_in, cause_in = exposed_phase(("ifmap", "weight", "psum_in"))
    exp_out, cause_out = exposed_phase(("psum_out",))
    array = exp_in + compute + pe_extra + exp_out + skew
    limits = {"noc": max(noc.values(), default=0.0), "glb": glb_time, "dram": dram_time}
    bind = max(limits, key=lambda k: limits[k])
    duration = max(array, limits[bind])
    stalls = dict.fromkeys(("dram", "glb", "noc", "fill_drain"), 0.0)
    stalls[cause_in] += exp_in
    stalls[cause_out] += exp_out
    stalls["noc"] += pe_extra
    stalls["fill_drain"] += skew
    stalls[bind] += duration - array
    return PassTime(duration, compute, stalls, {s: noc.get(s, 0.0) for s in STREAMS}, glb_time, dram_time,
                    dram_words)
