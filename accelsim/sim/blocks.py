"""A loop nest over any hierarchy as *blocks* with the exact words each hop moves in each.

The temporal loops of the flattened nest (``loopnest.flatten``), outermost first, are a mixed-radix
counter; one iteration of all of them is one compute step (one MAC per active compute unit), so
the layer has ``Actions.cycles`` steps. A *block* is one valid iteration of the outermost ``nb``
temporal loops, ``nb`` the most loops whose valid iterations number at most ``max_blocks`` (so a
layer never has more blocks than that, whatever its size). Each block has a *carry*: the outermost
block loop whose digit changed since the previous block (-1 for the first block).

A *hop* moves one role's tiles from a level (parent) to the next level keeping it (child; or the
compute level). The child's tile is refilled at every iteration of the temporal loops above the
child down to the innermost one indexing the role (its *trigger*; a hop into the compute level is
refilled at every step). So a hop whose trigger is a block loop refills at the start of the blocks
whose carry is at or above it (a *start* hop: one event there, none inside), and a hop whose
trigger is inside the block refills during it (an *inner* hop: the block's iterations of the loops
down to the trigger, counted exactly under ceil tiling). Each action-table entry of a hop is split
over the blocks in proportion to these event counts as integers that sum exactly to the table
(cumulative rounding): the simulated words are the counted words.

Invariants (tests/test_sim_general.py): the blocks' steps sum to the dense ``Actions.cycles``; each
hop's events sum to the valid iterations of the loops down to its trigger; every entry's block words
sum to the action table's entry (rounded to a word when the table is a sparse view's expectation).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.actions import Actions
from accelsim.cost.lattice import count_tuples
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import Flat, LoopNest, flatten
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, OPERAND_ROLES, READ, ROLES, UP, UP_SRC, UPDATE
from accelsim.problem import Problem
from accelsim.sim.passes import _split

MAX_BLOCKS = 128

Key = tuple[str, str, str, str]      # (table: storage | network, level, role, action)


@dataclass(frozen=True)
class Hop:
    role: str
    parent: int                       # storage level index
    child: int                        # storage level index; len(levels) = the compute level
    trigger: int                      # temporal-loop index of its refills (-1: once for the whole layer)
    inward: tuple[Key, ...]           # entries moved before the child uses the tile
    outward: tuple[Key, ...]          # entries moved after (partial sums going up)


@dataclass(frozen=True)
class Block:
    carry: int                        # outermost block loop (temporal index) that changed; -1 first block
    steps: int                        # compute steps (temporal iterations) inside the block
    events: tuple[int, ...]           # per hop: refill events at (start hop) or inside (inner hop) the block


@dataclass(frozen=True)
class BlockSchedule:
    flat: Flat
    temporal: tuple[int, ...]         # positions in flat.loops of the temporal loops, outermost first
    nb: int                           # block loops: temporal[:nb]
    hops: tuple[Hop, ...]
    blocks: tuple[Block, ...]
    instances: tuple[int, ...]        # per storage level: active copies (product of spatial factors above it)

    def is_start(self, h: Hop) -> bool:
        """The hop refills only at block starts (its trigger is a block loop or it refills once)."""
        return h.trigger < self.nb

    def words(self, actions: Actions) -> dict[Key, tuple[int, ...]]:
        """Per entry of every hop, its words per block (integers summing to the table's entry)."""
        out: dict[Key, tuple[int, ...]] = {}
        for k, h in enumerate(self.hops):
            weights = [b.events[k] for b in self.blocks]
            for key in h.inward + h.outward:
                total = lookup(actions, key)
                out[key] = tuple(_split(total, weights))
        return out


def lookup(actions: Actions, key: Key) -> int:
    """The entry's words as an integer: a count's own; a sparse view's entry (a float,
    ``sparse.model.bandwidth_actions``) rounded to the nearest word: a uniform expectation, or an actual
    mask's data words plus its metadata bits over the word width, a fraction where the bits do not fill
    whole words (the simulator moves whole words; the table keeps the exact fraction)."""
    table, level, role, action = key
    src = actions.storage if table == "storage" else actions.network
    return int(round(src.get((level, role, action), 0)))


def hops_of(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, flat: Flat,
            temporal: tuple[int, ...]) -> tuple[Hop, ...]:
    """Every (role, parent -> child) hop of the nest with its action-table entries (the rules of
    ``accelsim.cost.actions.assemble``: which entry belongs to which hop and direction)."""
    n = len(nest.levels)
    names = [lm.level for lm in nest.levels]
    tindex = {pos: k for k, pos in enumerate(temporal)}
    out = []
    for role in ROLES:
        rel = problem.relevant(role)
        chain = [i for i in range(n) if nest.keeps(i, role) or i == 0] + [n]
        for par, ch in zip(chain, chain[1:]):
            streamed = ch == n
            cut = flat.cut_of(ch, role)
            trig = -1
            for pos in range(len(flat.loops)):
                lp = flat.loops[pos]
                if lp.spatial:
                    continue
                if streamed or (pos < cut and lp.dim in rel):
                    trig = tindex[pos]
            crossed = [j for j in range(par, ch) if hierarchy.levels[j].fanout is not None]
            pn = names[par]
            inward: list[Key] = [("storage", pn, role, READ)]
            outward: list[Key] = []
            if not streamed:
                inward.append(("storage", names[ch], role, FILL))
            for j in crossed:
                inward += [("network", names[j], role, DOWN), ("network", names[j], role, DOWN_DEST)]
            if role not in OPERAND_ROLES:
                outward.append(("storage", pn, role, UPDATE))
                if not streamed:
                    outward.append(("storage", names[ch], role, DRAIN))
                for j in crossed:
                    outward += [("network", names[j], role, UP), ("network", names[j], role, UP_SRC)]
            out.append(Hop(role, par, ch, trig, tuple(inward), tuple(outward)))
    return tuple(out)


def iterations(problem: Problem, flat: Flat, kept: set[int], rem: dict[str, int], skip: set[int]) -> int:
    """Valid digit tuples of the loops at positions ``kept`` (the others at digit 0), each dim's index
    (over the loops not in ``skip``) below ``rem[dim]``."""
    total = 1
    for d in problem.dim_names:
        if rem[d] <= 0:
            return 0
        loops = [(lp.factor, lp.span, pos in kept) for pos, lp in enumerate(flat.loops)
                 if lp.dim == d and pos not in skip]
        total *= count_tuples(rem[d], loops)
    return total


def block_schedule(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, max_blocks: int = MAX_BLOCKS
                   ) -> BlockSchedule:
    flat = flatten(problem, nest)
    loops = flat.loops
    temporal = tuple(i for i, lp in enumerate(loops) if not lp.spatial)
    sizes = dict(problem.dims)
    # the most outer temporal loops whose valid iterations stay within max_blocks
    nb = 0
    while nb < len(temporal) and iterations(problem, flat, set(temporal[:nb + 1]), sizes, set()) <= max_blocks:
        nb += 1
    hops = hops_of(problem, hierarchy, nest, flat, temporal)
    block_pos = temporal[:nb]
    skip = set(block_pos)
    inner_kept = {k: {temporal[t] for t in range(nb, k + 1)} for k in range(nb - 1, len(temporal))}

    blocks: list[Block] = []
    digits = [0] * nb
    prev: list[int] | None = None

    def emit() -> None:
        nonlocal prev
        rem = dict(sizes)
        for pos, dg in zip(block_pos, digits):
            rem[loops[pos].dim] -= dg * loops[pos].span
        carry = -1
        if prev is not None:
            carry = next(k for k in range(nb) if digits[k] != prev[k])
        steps = iterations(problem, flat, inner_kept[len(temporal) - 1], rem, skip)
        events = []
        for h in hops:
            if h.trigger < nb:
                events.append(1 if carry <= h.trigger else 0)
            else:
                events.append(iterations(problem, flat, inner_kept[h.trigger], rem, skip))
        blocks.append(Block(carry, steps, tuple(events)))
        prev = list(digits)

    def rec(k: int, base: dict[str, int]) -> None:
        if k == nb:
            emit()
            return
        lp = loops[block_pos[k]]
        for v in range(lp.factor):
            if base[lp.dim] + v * lp.span >= sizes[lp.dim]:
                break
            digits[k] = v
            rec(k + 1, {**base, lp.dim: base[lp.dim] + v * lp.span})
        digits[k] = 0

    rec(0, {d: 0 for d in sizes})
    instances = []
    for i in range(len(nest.levels)):
        c = 1
        for lp in loops:
            if lp.spatial and lp.level < i:
                c *= lp.factor
        instances.append(c)
    return BlockSchedule(flat, temporal, nb, hops, tuple(blocks), tuple(instances))


__all__ = ["MAX_BLOCKS", "Block", "BlockSchedule", "Hop", "Key", "block_schedule", "hops_of", "lookup"]
