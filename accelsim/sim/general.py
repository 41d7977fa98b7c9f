"""Cycle-approximate simulation of a loop nest on any hierarchy (simpy), at block granularity.

``simulate_nest(problem, hierarchy, nest) -> SimResult``. The schedule is ``accelsim.sim.blocks``:
blocks (iterations of the outer temporal loops, at most ``max_blocks``) and, per hop, the exact
action-table words of each block. The resources, each a simpy resource of capacity 1:

- per storage level, a read port (read, drain) and a write port (fill, update), at the level's
  ``read_bandwidth`` / ``write_bandwidth`` per active copy (the copies work in parallel, so a
  port moves its words in words / (bandwidth x active copies) cycles; no bandwidth: free), and a
  shared port (all four) at ``bandwidth`` when the level has one;
- per fanout, one network per stream (ifmap, weight, psum_in, psum_out), per active copy of the
  level above it, at its NoC model's bandwidth answer (``noc.registry.network_bound``: ``a`` cycles
  per word received by a destination + ``b`` per distinct word; a model that claims no bound,
  e.g. ``systolic``, or ``eyeriss_v2`` without ``bound_clusters``, is free here);
- the compute array: one step per cycle (a block's compute is its step count). Given a table whose
  ``cycles`` are fewer than the steps (a sparse view's, ``sparse.model.bandwidth_actions``: skipped
  MACs with load imbalance), each block computes its steps x cycles / steps: the skipped work spread
  over the blocks by their dense steps, as the words are (expected, not per-tile nonzeros).

Double buffering: a child level's capacity group holds its tiles plus free space (capacity -
tiles, per copy; ``occupied``'s tiles and room when given: a sparse view's compressed tiles).
A refill moves early (while the current tiles are in use) the share of the words it
brings that fits the free space and the level's input FIFO for the role (``input_fifo_words``;
``min(1, (free + FIFO) / words the group's refills bring at once to one copy)``, the fill words of
all copies over the child's active copies: a
sliding window brings only its new part, a first partial sum nothing); the rest is *exposed* (the
array waits). Partial sums go up behind the next tile's compute for the share ``min(1, free /
tiles)`` (the next tile's psums need room beside them). Both are 1 when the child is unbounded or
the compute level, and when the child's outermost temporal loop indexes the role: the tile is used
slice by slice along that loop, so a finished slice's space takes the next tile's part (piecewise
replacement; the fixed-shape simulator's rule for RS's filter rows and psums, for any level).

Per block, in order: wait for the block's prefetch (its start hops' shares moved during the
previous block); move the exposed part of its start hops; start the next block's
prefetch; move the exposed part of its inner hops; compute, with the overlapped part of the inner
hops moving alongside (the block ends when both are done); the partial sums of tiles that end
here go up (the overlapped share in the background, the exposed share waited for). Transfers of
one phase move on all their resources at once (streamed through the hop); resources are shared by
every phase in flight (FIFO).

Every cycle the array does not compute is a wait for one phase and is charged to the resource that
finished that phase last (its bottleneck), so the stalls sum to cycles - compute cycles exactly.
Same input -> same output: no randomness, ties broken by resource order.

PE cycles on in-network reduction: a fanout whose NoC model charges the PEs for the partial sums
they add on the way up (``pe_cycles``, e.g. Eyeriss v1's PE adder cycle, ``accumulate_cycles``)
lengthens each block's compute by the model's answer for the block's psums (sent up and arriving
after the reduction, per parent copy) on the fanout's copies and the distinct psums among them;
those cycles are charged to the fanout's psum network (``<level>.net.psum_out``).

Not modelled (coarser than the fixed-shape simulator): access latencies, network pipeline fill
and drain, the local psum links' bandwidth, sliding-window refills being smaller than the
first refill of a run inside one block (words are split over a block's events evenly), per-copy
load imbalance (copies are assumed to share the words evenly).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import simpy

from accelsim.cost.actions import Actions, count_actions
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest, tile_words
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, OPERAND_ROLES, OUTPUT_ROLE, READ, UP, UP_SRC, UPDATE, X, Y
from accelsim.problem import Problem
from accelsim.sim.blocks import MAX_BLOCKS, BlockSchedule, Hop, Key, block_schedule
from accelsim.sim.result import SimResult
from accelsim.sim.simulate import _largest_remainder
from noc import registry as noc_registry
from noc.flow import STREAMS, Flow, Layout

COMPUTE = "compute"


def resources_of(key: Key, hierarchy: Hierarchy, instances: tuple[int, ...]) -> tuple[tuple[str, float], ...]:
    """The resources one action-table entry's words occupy, each with its cycles per word: a
    storage level's read port (read, drain) or write port (fill, update) and its shared port
    (``bandwidth``, when the level has one); a fanout's stream network."""
    table, level, role, action = key
    i = hierarchy.index(level)
    lv = hierarchy.levels[i]
    copies = instances[i]
    if table == "storage":
        if action in (READ, DRAIN):
            bw, port = lv.read_bandwidth, "read"
        else:
            assert action in (FILL, UPDATE), action
            bw, port = lv.write_bandwidth, "write"
        out = [(f"{level}.{port}", 0.0 if bw is None else 1.0 / (bw * copies))]
        if lv.bandwidth is not None:                 # one port shared by reads and writes
            out.append((f"{level}.port", 1.0 / (lv.bandwidth * copies)))
        return tuple(out)
    fan = lv.fanout
    assert fan is not None, key
    if action in (DOWN, DOWN_DEST):
        stream = role if role in OPERAND_ROLES else "psum_in"
    else:
        assert action in (UP, UP_SRC), action
        stream = "psum_out"
    a, b = noc_registry.network_bound(fan.network, fan.params)[STREAMS.index(stream)]
    per_dest = action in (DOWN_DEST, UP_SRC)
    return ((f"{level}.net.{stream}", (a if per_dest else b) / copies),)


@dataclass(frozen=True)
class Room:
    """The space beside a hop's child tiles: ``group`` (the child's capacity group index holding the
    role; -1 when unbounded, the compute level or replaced piecewise), ``free`` words and the
    group's tiles ``need``."""

    group: int
    free: float = 0
    need: float = 0
    fifo: int = 0            # words of the child's input FIFO for the role (refills only)

    def outward(self) -> float:
        """Share of a tile's partial sums that can go up while the next tile computes."""
        if self.group < 0 or not self.need:
            return 1.0
        return min(1.0, self.free / self.need)

    def inward(self, incoming: float) -> float:
        """Share of a refill bringing ``incoming`` words (the group's, per event) that can arrive early:
        into the free space and the child's input FIFO."""
        room = self.free + self.fifo
        if self.group < 0 or incoming <= room:
            return 1.0
        return room / incoming


def pe_adds(problem: Problem, hierarchy: Hierarchy, sched: BlockSchedule, words: dict) -> dict[str, list[float]]:
    """Per fanout's psum network (``<level>.net.psum_out``), per block, the cycles the copies below
    spend adding partial sums passed between them: the NoC model's ``pe_cycles`` (the fact the
    fixed-shape simulator uses per pass), asked with the block's psums per parent copy and the
    fanout's layout (its copies; copies sharing the output digits share a psum)."""
    out: dict[str, list[float]] = {}
    rel = set(problem.relevant(OUTPUT_ROLE))
    for i, lv in enumerate(hierarchy.levels):
        fan = lv.fanout
        if fan is None:
            continue
        sent = words.get(("network", lv.name, OUTPUT_ROLE, UP_SRC))
        up = words.get(("network", lv.name, OUTPUT_ROLE, UP))
        spatial = [lp for lp in sched.flat.loops if lp.spatial and lp.level == i]
        if sent is None or up is None or all(lp.dim in rel for lp in spatial):
            continue
        model = noc_registry.model(fan.network)
        settings = noc_registry.network_settings(fan.network, fan.params)
        lay = _fanout_layout(spatial, rel, fan.x, fan.y)
        parents = max(1, sched.instances[i])
        cycles = [model.pe_cycles(Flow(STREAMS[-1], u / parents, s / parents, lay), settings)
                  for s, u in zip(sent, up)]
        if any(cycles):
            out[f"{lv.name}.net.{STREAMS[-1]}"] = cycles
    return out


def _fanout_layout(spatial: list, rel: set, x: int, y: int) -> Layout:
    """The copies of a fanout (x loops on the rows, y loops on the columns, outermost digit first)
    and, per copy, its output group: the digits of the loops over dims the output indexes."""
    xs = [lp for lp in spatial if lp.axis == X]
    ys = [lp for lp in spatial if lp.axis == Y]
    rows, cols = math.prod(lp.factor for lp in xs), math.prod(lp.factor for lp in ys)
    pe_r, pe_c, groups = [], [], []
    ids: dict[tuple, int] = {}
    for r_digits in itertools.product(*(range(lp.factor) for lp in xs)):
        for c_digits in itertools.product(*(range(lp.factor) for lp in ys)):
            key = tuple(d for lp, d in zip(xs + ys, r_digits + c_digits) if lp.dim in rel)
            pe_r.append(_mixed(r_digits, xs))
            pe_c.append(_mixed(c_digits, ys))
            groups.append(ids.setdefault(key, len(ids)))
    return Layout(x, y, rows, cols, tuple(pe_r), tuple(pe_c), tuple(groups))


def _mixed(digits: tuple, loops: list) -> int:
    v = 0
    for d, lp in zip(digits, loops):
        v = v * lp.factor + d
    return v


def room_of(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, sched: BlockSchedule, h: Hop,
            occupied: dict[tuple[str, int], tuple[float, float]] | None = None) -> Room:
    """The double-buffering room of hop ``h``'s child (module docstring); ``occupied``: per (level,
    capacity group index), (the words the tiles take, the words of room beside them) when not the dense
    tile words and the capacity minus them (a sparse view's compressed tiles, ``sparse.model.group_rooms``)."""
    if h.child >= len(hierarchy.levels) or _piecewise(problem, sched, h):
        return Room(-1)
    lv = hierarchy.levels[h.child]
    tiles = {r: tile_words(problem, sched.flat, sched.flat.cut_of(h.child, r))[r] for r in _group_roles(lv)}
    for g, (group, cap) in enumerate(lv.capacity):
        if h.role in group:
            need: float = sum(tiles[r] for r in group if nest.keeps(h.child, r))
            free = max(0, cap - need)
            if occupied is not None and (lv.name, g) in occupied:
                need, free = occupied[(lv.name, g)]
            return Room(g, free, need, lv.fifo_words(h.role))
    return Room(-1)


def _group_roles(lv) -> set[str]:
    return {r for group, _ in lv.capacity for r in group}


def _piecewise(problem: Problem, sched: BlockSchedule, h: Hop) -> bool:
    """The child's outermost temporal loop indexes the role: the tile is used slice by slice along
    it, and a finished slice's space takes the next tile's part of it (no second tile needed)."""
    for lp in sched.flat.loops[sched.flat.cut_of(h.child, h.role):]:
        if lp.level == h.child and not lp.spatial:
            return lp.dim in problem.relevant(h.role)
    return False


def unlimited_hierarchy(hierarchy: Hierarchy) -> Hierarchy:
    """The same hierarchy with every port and network free (unlimited bandwidth, no latency)."""
    levels = []
    for lv in hierarchy.levels:
        fan = lv.fanout
        if fan is not None:
            fan = replace(fan, params=noc_registry.unlimited_params(fan.network, fan.params))
        levels.append(replace(lv, read_bandwidth=None, write_bandwidth=None, bandwidth=None, fanout=fan))
    return replace(hierarchy, levels=tuple(levels))


@dataclass
class Phase:
    """Transfers that move together: cycles per resource, words per action-table entry."""

    cycles: dict = field(default_factory=dict)
    words: dict = field(default_factory=dict)

    def add(self, key: Key, words: int, costs: tuple[tuple[str, float], ...]) -> None:
        self.words[key] = self.words.get(key, 0) + words
        for res, per in costs:
            self.cycles[res] = self.cycles.get(res, 0.0) + words * per


def simulate_nest(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, actions: Actions | None = None, *,
                  max_blocks: int = MAX_BLOCKS, trace: bool = False,
                  occupied: dict[tuple[str, int], tuple[float, float]] | None = None) -> SimResult:
    """Simulate ``nest`` (legal: ``loopnest.check``) of ``problem`` on ``hierarchy``; ``actions`` are
    its action table (counted when not given). ``stall_cycles`` and ``busy`` are keyed by resource
    (``<level>.read``, ``<level>.write``, ``<level>.port``, ``<level>.net.<stream>``; ``busy`` also ``compute``);
    ``SimResult.words`` holds the words the simulation moved per action-table entry. ``occupied``: per
    (level, capacity group index), the words the tiles take and the room beside them, when not the
    dense tiles' (:func:`room_of`)."""
    actions = actions if actions is not None else count_actions(problem, hierarchy, nest)
    sched = block_schedule(problem, hierarchy, nest, max_blocks)
    words = sched.words(actions)
    steps = sum(blk.steps for blk in sched.blocks)
    pace = actions.cycles / steps if steps and actions.cycles < steps else 1.0    # skipped work (module docstring)
    nblocks = len(sched.blocks)
    cost = {key: resources_of(key, hierarchy, sched.instances) for key in words}
    rooms = [room_of(problem, hierarchy, nest, sched, h, occupied) for h in sched.hops]

    prefetch = [Phase() for _ in range(nblocks)]
    load = [Phase() for _ in range(nblocks)]
    exposed = [Phase() for _ in range(nblocks)]
    overlap = [Phase() for _ in range(nblocks)]
    behind = [Phase() for _ in range(nblocks)]     # written back in the background
    drain = [Phase() for _ in range(nblocks)]      # written back while the array waits

    def place(key: Key, w: int, f: float, hidden: Phase, shown: Phase) -> None:
        hw = int(round(w * f))
        for phase, n in ((hidden, hw), (shown, w - hw)):
            if n:
                phase.add(key, n, cost[key])

    def incoming(k: int, b: int) -> float:
        """Words one refill of hop k's capacity group brings to ONE copy of the child at block b (each
        hop's fill per event, over the child's active copies: the fill entry counts every copy's
        words, the room is one copy's)."""
        if rooms[k].group < 0:
            return 0.0
        total = 0.0
        copies = max(1, sched.instances[sched.hops[k].child])
        for j, other in enumerate(sched.hops):
            ev = sched.blocks[b].events[j]
            if other.child == sched.hops[k].child and rooms[j].group == rooms[k].group and ev:
                total += words[("storage", _child_name(hierarchy, other), other.role, FILL)][b] / ev
        return total / copies

    lowest = [1.0] * len(sched.hops)
    for k, h in enumerate(sched.hops):
        out_share = rooms[k].outward()
        if h.outward:                          # a role nothing goes up for never waits for that
            lowest[k] = min(lowest[k], out_share)
        start = sched.is_start(h)
        run_end = list(range(nblocks))
        if start:
            last = nblocks - 1                 # the last block using the tile refilled at block b
            for b in range(nblocks - 1, -1, -1):
                run_end[b] = last
                if sched.blocks[b].events[k]:
                    last = b - 1
        for b in range(nblocks):
            if not sched.blocks[b].events[k]:
                continue
            f = rooms[k].inward(incoming(k, b))
            lowest[k] = min(lowest[k], f)
            for key in h.inward:
                place(key, words[key][b], f, prefetch[b] if start else overlap[b], load[b] if start else exposed[b])
            for key in h.outward:
                tail = run_end[b]
                place(key, words[key][b], out_share, behind[tail] if start else overlap[b],
                      drain[tail] if start else exposed[b])

    adds = pe_adds(problem, hierarchy, sched, words)
    env = simpy.Environment()
    resources: dict[str, simpy.Resource] = {}
    order = sorted({res for costs in cost.values() for res, _ in costs} | set(adds))
    rank = {r: i for i, r in enumerate(order)}
    busy = dict.fromkeys(order, 0.0)
    moved: dict[Key, int] = dict.fromkeys(words, 0)
    stalls = dict.fromkeys(order, 0.0)
    spans: list[tuple[str, float, float]] = []
    stats = {"events": 0}

    def transfer(res: str, cycles: float, keys: dict, done: dict):
        if res not in resources:
            resources[res] = simpy.Resource(env, capacity=1)
        with resources[res].request() as req:
            yield req
            t0 = env.now
            yield env.timeout(cycles)
            busy[res] += cycles
            if trace:
                spans.append((res, t0, env.now))
        credit(keys)
        done[res] = env.now

    def credit(keys: dict) -> None:
        for key, n in keys.items():
            moved[key] += n

    def launch(phase: Phase) -> tuple[list, dict]:
        """Start a phase: one transfer per resource it occupies (the entries' words are credited
        once, when the first of them finishes; at once when no resource takes time)."""
        procs: list = []
        done: dict[str, float] = {}
        keys = phase.words
        for res in sorted(phase.cycles, key=rank.__getitem__):
            cycles = phase.cycles[res]
            if cycles > 0:
                procs.append(env.process(transfer(res, cycles, keys, done)))
                keys = {}
                stats["events"] += 1
        credit(keys)
        return procs, done

    def wait(handle: tuple[list, dict]):
        procs, done = handle
        if not procs:
            return
        t0 = env.now
        yield simpy.AllOf(env, procs)
        waited = env.now - t0
        if waited > 0:
            last = max(done.values())
            stalls[min((r for r, t in done.items() if t == last), key=rank.__getitem__)] += waited

    def run():
        background = []
        pending = launch(prefetch[0]) if nblocks else ([], {})
        for b, blk in enumerate(sched.blocks):
            yield from wait(pending)
            yield from wait(launch(load[b]))
            if b + 1 < nblocks:
                pending = launch(prefetch[b + 1])
            yield from wait(launch(exposed[b]))
            alongside = launch(overlap[b])
            t0 = env.now
            extra = {res: c[b] for res, c in adds.items() if c[b]}
            yield env.timeout((blk.steps if pace == 1.0 else blk.steps * pace) + sum(extra.values()))
            for res, c in extra.items():         # the PEs add psums instead of computing
                stalls[res] += c
                busy[res] += c
            if trace and blk.steps:
                spans.append((COMPUTE, t0, env.now))
            yield from wait(alongside)
            background.append(launch(behind[b]))
            yield from wait(launch(drain[b]))
        for handle in background:
            yield from wait(handle)

    env.process(run())
    env.run()

    ideal = actions.cycles
    end = env.now
    cycles = max(int(math.ceil(end - 1e-9 * max(1.0, end))), ideal)
    stall_int = _largest_remainder(stalls, cycles - ideal, tuple(order), order[0]) if order else {}
    denom = max(cycles, 1)
    utilization = {COMPUTE: ideal / denom if cycles else 0.0}
    utilization.update({r: min(1.0, busy[r] / denom) for r in order})
    # a hop is exposed when part of a refill or write-back waits and it costs time somewhere
    exposed_hops = {f"{_child_name(hierarchy, h)}.{h.role}": lowest[k] < 1.0 and any(
        per > 0 for key in h.inward + h.outward for _, per in cost[key]) for k, h in enumerate(sched.hops)}
    tiles = _dram_tiles(sched, problem)
    return SimResult(cycles=cycles, ideal_cycles=ideal, stall_cycles=stall_int, busy=utilization,
                     passes=nblocks, tiles=tiles, blocks=nblocks, events=stats["events"],
                     prefetched=not any(exposed_hops.values()), exposed=exposed_hops,
                     trace=tuple(spans) if trace else None, words=moved)


def _child_name(hierarchy: Hierarchy, h: Hop) -> str:
    return hierarchy.levels[h.child].name if h.child < len(hierarchy.levels) else hierarchy.compute.name


def _dram_tiles(sched: BlockSchedule, problem: Problem) -> int:
    """Iterations of the temporal loops above the level below the backing store (its refills)."""
    from accelsim.sim.blocks import iterations

    cut = sched.flat.cut(1)
    kept = {p for p in sched.temporal if p < cut}
    return iterations(problem, sched.flat, kept, dict(problem.dims), set())


__all__ = ["COMPUTE", "Phase", "Room", "room_of", "resources_of", "simulate_nest", "unlimited_hierarchy"]
