"""A layer's schedule as passes and tiles, with the exact traffic of each, from its mapping.

The temporal loops above the PE register files (DRAM loops, then GLB loops, in nest order) are a
mixed-radix counter. One iteration of all of them is a *pass* (the PEs' RF tiles are refilled,
the array computes, psums go out); one iteration of the DRAM loops alone is a *tile* (the GLB is
refilled). Every pass has a *carry level* J: the outermost loop whose index changed since the
previous pass (J = -1 for the very first pass). A buffer's tile of a tensor is refilled exactly
when J <= the innermost loop above it that indexes the tensor (its *trigger*), so passes of the
same carry level move the same kinds of data: the schedule has at most (number of loops + 1)
classes of pass, and a tile starts with every pass whose J is a DRAM loop. A per-pass GLB tile
(``Mapping.glb_pass``) is refilled by a GLB loop: its fill is *in the tile* (``Schedule.in_tile``),
DRAM traffic of the passes that refill it, not a tile fetch.

Per hop of a tensor's buffer chain (DRAM -> [GLB] -> [RF] -> MAC) the layer's exact word counts
(accelsim.cost.counts) are split over the classes that refill it, in proportion to how many
passes each class has; when the refill slides a window (ifmap, trigger loop over P/Q/R/S), the
full refills take a whole tile's words and the slides the rest. Class totals are integers that
sum exactly to the counts, so the simulated traffic is the analytical traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from accelsim.cost.counts import L_DRAM, L_GLB, L_NOC, Counts, count_tuples
from accelsim.cost.nest import Nest, build_nest
from accelsim.energy import TENSORS
from accelsim.mapping import COLS, DRAM, GLB, RELEVANT, RF, ROWS, Mapping
from accelsim.tiles import glb_tile, tile_extents
from workloads.layer import Layer, P, Q, R, S

# word categories a hop may carry (per pass or per tile)
CATEGORIES = ("dram_read", "dram_write", "glb", "unique_in", "delivered_in", "unique_out", "delivered_out")


@dataclass(frozen=True)
class Hop:
    """One parent -> child move of a tensor, with its layer totals split over pass classes."""

    tensor: str
    parent: str                 # "dram" | "glb" | "rf"
    child: str                  # "glb" | "rf" | "mac"
    kind: str                   # "fill" (-> GLB, per tile), "deliver" (-> RF, per pass), "stream" (-> MAC)
    trigger: int                # carry level up to which a pass refills it (-1: first pass only)
    slide: bool
    totals: dict                # category -> exact layer total (int)
    by_class: dict              # category -> tuple of class totals (ints), index J + 1

    def per_pass(self, category: str, j: int, passes: tuple[int, ...]) -> float:
        n = passes[j + 1]
        return self.by_class[category][j + 1] / n if n else 0.0


@dataclass(frozen=True)
class Schedule:
    layer: Layer
    mapping: Mapping
    factors: tuple[int, ...]            # temporal loops above the RFs, outer -> inner
    dims: tuple[int, ...]               # their loop dimension
    dram_loops: int                     # how many of them are DRAM loops (tile loops)
    passes: tuple[int, ...]             # passes per carry level, index J + 1 (exact, ceil tiling)
    prefix: tuple[int, ...]             # valid prefixes of loops 0..J, index J + 1
    hops: tuple[Hop, ...]

    @property
    def levels(self) -> int:
        return len(self.factors)

    @property
    def total_passes(self) -> int:
        return self.prefix[-1]

    @property
    def tiles(self) -> int:
        return self.prefix[self.dram_loops]

    def in_tile(self, h: Hop) -> bool:
        """A GLB fill refilled by a GLB loop (a per-pass tile): its DRAM words move within a tile."""
        return h.kind == "fill" and h.trigger >= self.dram_loops

    def hop(self, tensor: str, kind: str) -> Hop | None:
        for h in self.hops:
            if h.tensor == tensor and h.kind == kind:
                return h
        return None


def _prefix_counts(layer: Layer, nest: Nest, temporal: list[int]) -> list[int]:
    """Valid prefixes of the first J+1 temporal loops, for J = -1 .. len - 1 (exact ceil tiling)."""
    pos = {nest_i: k for k, nest_i in enumerate(temporal)}
    out = []
    for j in range(-1, len(temporal)):
        total = 1
        for d, D in enumerate(layer.dims):
            loops = [(lp.factor, lp.span, i in pos and pos[i] <= j) for i, lp in enumerate(nest.loops)
                     if lp.dim == d]
            total *= count_tuples(D, loops)
        out.append(total)
    return out


def _split(total: int, weights: list[int]) -> list[int]:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (cumulative rounding)."""
    wsum = sum(weights)
    if wsum == 0 or total == 0:
        return [0] * len(weights)
    out, cum, prev = [], 0, 0
    for w in weights:
        cum += w
        cur = (total * cum + wsum // 2) // wsum
        out.append(cur - prev)
        prev = cur
    return out


def _trigger(nest: Nest, temporal_pos: dict[int, int], rel: tuple[bool, ...], cut: int) -> int:
    last = -1
    for i in range(cut):
        lp = nest.loops[i]
        if not lp.spatial and rel[lp.dim]:
            last = temporal_pos[i]
    return last


def _hop_words(counts: Counts, t: int, par: str, ch: str, m: Mapping) -> dict:
    """Exact layer totals of one hop, by category (see the module docstring)."""
    r, w = counts.reads, counts.writes
    out = dict.fromkeys(CATEGORIES, 0)
    if par == "dram":
        out["dram_read"], out["dram_write"] = r[L_DRAM][t], w[L_DRAM][t]
    if ch == "glb":
        out["glb"] = (r[L_DRAM][t] + w[L_DRAM][t]) if t == 2 else w[L_GLB][t]
    elif par == "glb":
        fill = ((r[L_DRAM][t] + w[L_DRAM][t]) if t == 2 else w[L_GLB][t]) if m.glb_keep[t] else 0
        out["glb"] = r[L_GLB][t] + w[L_GLB][t] - fill
    if par in ("dram", "glb") and ch in ("rf", "mac"):
        if t < 2:
            out["unique_in"], out["delivered_in"] = counts.noc_transfers[t], r[L_NOC][t]
        else:
            out["unique_in"] = out["delivered_in"] = r[L_NOC][t]
            out["unique_out"] = counts.noc_transfers[t] - r[L_NOC][t]
            out["delivered_out"] = w[L_NOC][t]
    return out


def _full_tile(layer: Layer, m: Mapping, tensor: str, kind: str) -> tuple[int, int]:
    """(union tile words, words summed over PEs) of one full refill of a hop's child."""
    if kind == "fill":
        u = glb_tile(layer, m, tensor)
        return u, u
    u = tile_extents(layer, m, (ROWS, COLS, RF))[tensor]
    return u, tile_extents(layer, m, (RF,))[tensor] * m.active_pes


@lru_cache(maxsize=256)
def schedule(layer: Layer, m: Mapping, counts: Counts) -> Schedule:
    nest = build_nest(m)
    temporal = [i for i in range(nest.rf_cut) if not nest.loops[i].spatial]
    tpos = {i: k for k, i in enumerate(temporal)}
    prefix = _prefix_counts(layer, nest, temporal)
    passes = [1] + [prefix[k + 1] - prefix[k] for k in range(len(temporal))]
    levels = len(temporal)
    hops = []
    names = {DRAM: "dram", GLB: "glb", RF: "rf", -1: "mac"}
    for t, tensor in enumerate(TENSORS):
        chain = [DRAM] + ([GLB] if m.glb_keep[t] else []) + ([RF] if m.rf_keep[t] else []) + [-1]
        rel = RELEVANT[tensor]
        for par, ch in zip(chain, chain[1:]):
            if par == RF:
                continue                    # RF -> MAC stays inside the PE: not a timed transfer
            if ch == GLB:       # a per-pass tile: the GLB loops outside it also lie above it
                inside = m.glb_tile_dims(t)
                cut = nest.glb_cut + sum(1 for lp in nest.loops[nest.glb_cut:nest.rf_cut]
                                         if lp.level == GLB and lp.dim not in inside)
                kind, trig = "fill", _trigger(nest, tpos, rel, cut)
            elif ch == RF:
                kind, trig = "deliver", _trigger(nest, tpos, rel, nest.rf_cut)
            else:
                kind, trig = "stream", levels - 1
            totals = _hop_words(counts, t, names[par], names[ch], m)
            slide = (tensor == "ifmap" and kind != "stream" and trig >= 0
                     and nest.loops[temporal[trig]].dim in (P, Q, R, S))
            weights = passes[:trig + 2]
            by_class = {}
            for cat, total in totals.items():
                split = [0] * (levels + 1)
                if total and kind == "stream":
                    split = _split(total, passes)
                elif total and slide:
                    full_u, full_p = _full_tile(layer, m, tensor, kind)
                    per_event = full_p if cat.startswith("delivered") else full_u
                    n_full = sum(weights[:-1])
                    full = min(total, per_event * n_full)
                    split[:trig + 1] = _split(full, weights[:-1])
                    split[trig + 1] = total - full
                elif total:
                    split[:trig + 2] = _split(total, weights)
                by_class[cat] = tuple(split)
            hops.append(Hop(tensor, names[par], names[ch], kind, trig, slide, totals, by_class))
    return Schedule(layer, m, tuple(nest.loops[i].factor for i in temporal),
                    tuple(nest.loops[i].dim for i in temporal), nest.glb_cut, tuple(passes), tuple(prefix),
                    tuple(hops))
