"""Sparse actions layered on the dense action table (Sparseloop style): never changes the dense counts.

``analyze(problem, hierarchy, nest, dense, spec, models) -> SparseActions``. ``dense`` is
``accelsim.cost.actions.count_actions``'s exact table; every sparse figure is computed from it:

1. **Formats.** A tensor kept at a level in a compressed format moves and stores, per dense word,
   ``payload / tile`` data words and ``metadata bits / tile / word_bits`` metadata words: the level's
   format ratio rho_L (sum over the level's tile positions, ``sparse.positions``, of their measure over
   the sum of their elements), :func:`ratio_of`; under a uniform / N:M model ``Format.per_tile`` of each
   class of positions' extents, expected under the density model; on an actual mask (``density.Actual``)
   measured on the mask over the level's tile positions (``exact.mask_ratio``), the output too, in any
   format. A storage action of tensor r at level L uses L's format; a network action of a hop uses the
   receiving level's (``formats.hop_format_level``, :meth:`Plan.source`): words sent down to a child
   that stores r compressed cross as the child keeps them (its fill's ratio: the NoC, the simulator
   and the latency bound see the compressed words), else as the hop parent holds them. Under a uniform
   model the expected nonzeros of a tile are exactly ``tile * d``, so an uncompressed-to-bitmask change
   scales words by d exactly; the mean of rho_L over random masks is the uniform model's rho_L, at
   ceil edges and padding too (docs/sparsity.md, *Words of an action*). An ``adaptive`` format's choice
   is made once per (level, tensor) of the layer first (:func:`chosen_spec`).
2. **Gating / skipping** (``spec.features``): at a storage level L for operand r on conditions C, the
   accesses serving the child (L's read, the hop's network actions, the child's fill) are ineffective
   when every block they serve has some condition's tile empty (:func:`step_q`: :func:`box_dead` of the
   box :func:`served_extents` gives, the child's tile times the fanouts the access multicasts over,
   :func:`served_from`; a tile of one element at the compute: ``1 - prod d_c``): with at most one
   condition varying over the blocks ``1 - prod_c (1 - p_empty_c(union of c's tiles))``, a union of
   tiles empty with the hypergeometric probability of one tile of its size; two varying uniform
   conditions by the exact pair enumeration over the blocks (docs/sparsity.md). The blocks an access serves include those of
   the loops its child keeps the tile over (:func:`reuse_loops`: temporal reuse); a dim whose served
   loops are interleaved with an unserved loop of it (a temporal P over a spatial P) serves a lattice of
   indices, and a sliding-window axis over it is counted exactly (:class:`Served`). Accesses at a dim's
   edge (ceil tiling, a window over padding) cover fewer elements: with one condition varying over the
   access positions the fraction is summed over their classes of union sizes, weighted by the accessed
   words (:func:`edge_classes`), exact in expectation; a per-MAC condition at the compute is its density
   at a MAC whose operand is an element and empty at one on padding (its 0 / 1 element joins the classes:
   exact, as the MACs' own fraction, :func:`mac_keep`); with two varying uniform conditions
   the positions are grouped into classes of equivalent clipped boxes (:func:`box_classes`: relative
   served indices and valid coordinate intervals), the interior class taking :func:`box_dead` and every
   other the pair enumeration over its clipped points, padding no element (:func:`_clipped_dead`), exact;
   a condition at density 1 whose tensor never leaves [0, size) is never empty and drops out first;
   three varying uniform ones likewise (:func:`_triple_dead`); an N:M one among them takes the interior
   box (a lower bound).
   When every condition (of the feature and of the
   earlier ones on the same level and tensor) is an actual mask, the accesses are counted event by
   event instead (``accelsim.sparse.gating.dead_words``: a read is ineffective when every block it
   serves, every multicast destination and reuse iteration, has an empty condition tile; exact, equal
   to the brute-force interpreter). They move from the data words to ``gated``
   (they still cost their own energy-table entry, ``gated_read`` ...: :func:`priced_actions`) or ``skipped`` (free; a skipped access's
   metadata is skipped too, unless the spec says ``skipped_metadata: read``: then it is still read, as
   Sparseloop counts an intersection reading the coordinates it skips; a gated one's is always read). At the compute level, MACs where any
   condition operand is zero are gated or skipped, and with them the output's read-modify-write at
   the level feeding the compute (by the MACs' fraction when each update serves one MAC; an update
   reducing the MACs of a box of PEs by :func:`update_q`, the expectation that none of them is effective,
   :func:`box_dead` of the interior box, summed per class of update positions at a dim's edge or over
   padding (:func:`box_classes`, each clipped box enumerated once per canonical key, a plain dim by
   its served counts' histogram, :func:`plain_positions`: exact); event by
   event, ``gating.dead_words``, when the conditions are actual masks and an
   update reduces several MACs or the output is an actual mask stored compressed there). Tensors are
   independent, so the expected effective MACs are ``MACs x prod d_c`` exactly over the MACs whose
   condition operands are elements; a MAC on padding reads a zero no density describes and is never
   effective (:func:`mac_keep`: the issue's ``MACs x d_in x d_w`` on a layer without padding); with actual masks for
   every condition the effective MACs are the exact count over the masks (``accelsim.sparse.masks``; a
   feature on the ifmap alone counts the MACs whose ifmap is nonzero, whatever the weight). Several MAC
   features apply in order: after the k-th, the MACs with every condition of features 1..k nonzero stay
   effective (the union of the conditions).
3. **Cycles.** Gating never saves cycles. Skipping MACs does: the compute units that run in lockstep
   (all active units) synchronise after each run of the temporal loops below the innermost fanout (``t``
   dense MACs per unit), and a run lasts its busiest unit's kept slots (a gated MAC keeps its slot).
   Sparse cycles = dense cycles x (sum over runs of the busiest unit's kept slots) / (the same of its
   MACs): walked over actual masks (:func:`lockstep_exact`, ``sparse.lockstep``); under uniform
   densities of the ifmap and the weight its expectation over random masks (:func:`lockstep_expected`,
   ``sparse.lockstep_expect``: per class of runs, sampled to ``TOL`` standard error, seeded). With one
   unit, or when every skipping condition is N:M structured (every block holds the same work), it is
   ``dense cycles x p`` exactly, p the fraction not skipped. Otherwise (other tensors' conditions, masks
   mixed with densities) each unit's kept slots are taken as Binomial(t, p), a run lasting
   ``E[max] = sum_k (1 - F(k)^A)`` over the ``A`` units (:func:`imbalance`; p with several units the
   larger over every MAC and over the MACs whose operands are elements: :func:`lockstep_fraction`): an
   approximation (units share and re-read operands), and the mapper's batch scorers' proxy.
   Skipped storage accesses do not change the ideal (compute) cycles.

Expected counts are floats (expectations); the dense table stays exact integers.

Imports: numpy and the modules that count over actual masks (``sparse.exact``, ``sparse.gating``,
``sparse.masks``), the box kernel and the expected lockstep sampler (numba) are imported where a mask, a
two-condition box or uniform skipping on several units needs them, so a run with uniform / N:M
densities that skips no MAC on several units never loads numpy (its start-up, test_sparse_speed).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from accelsim.cost.actions import Actions
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import Flat, LoopNest, flatten, lockstep_loops
from accelsim.names import (
    COMPUTE,
    DOWN,
    DOWN_DEST,
    FILL,
    GATED,
    IFMAP,
    METADATA,
    NETWORK_ACTIONS,
    OPERAND_ROLES,
    OUTPUT_ROLE,
    READ,
    ROLES,
    UP_SRC,
    UPDATE,
    WEIGHT,
    sparse_action,
)
from accelsim.problem import Problem
from accelsim.sparse.density import (
    DENSE,
    Actual,
    Model,
    Structured,
    Uniform,
    expected_max_binomial,
)
from accelsim.sparse.formats import (
    ALL_WORDS,
    DATA_WORDS,
    META_WORDS,
    UNCOMPRESSED,
    Format,
    axis_names,
    hop_format_level,
)
from accelsim.sparse.positions import tile_classes
from accelsim.sparse.spec import GATE, META_READ, WORST, SparseSpec
from accelsim.tiles import touched

if TYPE_CHECKING:
    import numpy as np

STORAGE_KIND, NETWORK_KIND = "storage", "network"


NO_SKIP, ONE_UNIT, BALANCED, WALKED, EXPECTED, BINOMIAL = (
    "no skipped MACs", "one unit", "N:M balanced", "walked over the masks", "expected over random masks",
    "independent binomials")
LOCKSTEP_MODELS = {   # SparseActions.lockstep -> what the sparse cycles are (docs/sparsity.md, *Load imbalance*)
    NO_SKIP: "the dense cycles",
    ONE_UNIT: "the dense cycles x the fraction of MACs not skipped (exact)",
    BALANCED: "the dense cycles x the fraction not skipped: every unit holds the same work (exact)",
    WALKED: "per run the busiest unit's kept slots, walked MAC by MAC over the actual masks (exact)",
    EXPECTED: "the expected busiest unit per run over random masks, sampled (cycles_se its standard error)",
    BINOMIAL: "each unit's kept slots an independent binomial (an approximation)",
}


@dataclass(frozen=True)
class SparseActions:
    densities: dict                     # role -> density
    macs: int                           # dense
    effective_macs: float
    gated_macs: float
    skipped_macs: float
    dense_cycles: int
    cycles: float
    active: int
    data: Actions                       # data words actually moved/stored (after compression, gating, skipping)
    metadata: Actions                   # metadata words (data-word equivalents), still accessed
    gated: Actions                      # gated data words (cheap no-ops)
    skipped: Actions                    # skipped data + metadata words (did not happen)
    formats: dict = field(default_factory=dict)   # (level, role) -> format text, compressed ones only
    lockstep: str = NO_SKIP             # how ``cycles`` took the skipped MACs (LOCKSTEP_MODELS)
    cycles_se: float = 0.0              # ``cycles``' standard error (the sampled expectation's; else 0)

    def totals(self, level: str) -> dict:
        """Words at one storage level (all roles, all actions): data, metadata, gated, skipped."""
        def tot(a: Actions) -> float:
            return sum(v for (lv, _, _), v in a.storage.items() if lv == level)
        return {"data": tot(self.data), "metadata": tot(self.metadata), "gated": tot(self.gated),
                "skipped": tot(self.skipped)}


def dim_extents(problem: Problem, flat: Flat, cut: int) -> dict[str, int]:
    """Per dim, the extent of the loops from ``cut`` on (clipped to the dim)."""
    ext = {d: 1 for d in problem.dim_names}
    for lp in flat.loops[cut:]:
        ext[lp.dim] *= lp.factor
    return {d: min(e, problem.size(d)) for d, e in ext.items()}


def role_extents(problem: Problem, ext: dict[str, int], role: str,
                 windows: dict[tuple[str, int, str, int], int] | None = None) -> list[int]:
    """Per axis of the role's tensor, the extent of the tile the per-dim extents ``ext`` touch (clipped);
    a window axis in ``windows`` (:class:`Served`) takes its count from there."""
    out = []
    for c in problem.tensor(role).coords:
        if len(c.terms) == 1:
            (d, k), = c.terms
            out.append(min(c.size, touched(ext[d], 1, k, 1)))
        else:
            (d1, k1), (d2, k2) = c.terms
            w = windows.get((d1, k1, d2, k2)) if windows else None
            out.append(min(c.size, touched(ext[d1], ext[d2], k1, k2) if w is None else w))
    return out


def tile_extents(problem: Problem, flat: Flat, cut: int, role: str) -> list[int]:
    """Per axis of the role's tensor, the extent of its tile spanning loops from ``cut`` on (clipped)."""
    return role_extents(problem, dim_extents(problem, flat, cut), role)


@dataclass(frozen=True)
class Step:
    """One gating/skipping feature as it acts on a nest's action table: the storage and network keys
    it moves, and (a storage feature) the child level whose tiles of the condition roles decide.
    ``on``: a storage feature's own condition roles; a MAC feature's the union of the conditions of
    every MAC feature up to it (in ``ROLES`` order): after it, the MACs with all of them nonzero stay
    effective."""

    gate: bool
    on: tuple[str, ...]
    keys_s: tuple[tuple[str, str, str], ...]
    keys_n: tuple[tuple[str, str, str], ...]
    child: int | None               # level index of the child (len(levels): the compute); None: the MACs
    level: int | None = None        # a storage feature's level index
    role: str | None = None         # a storage feature's tensor
    lo: tuple[int, ...] = ()        # per key (keys_s + keys_n): :func:`served_from` (a MAC feature: :func:`update_served_from`)
    prev: tuple[str, ...] = ()      # a MAC feature: the conditions of the MAC features before it (``on`` of the previous)

    def groups(self) -> list[tuple[int, list[tuple[str, str, str]]]]:
        """A step's keys by :func:`served_from` (a MAC step's: :func:`update_served_from`; first met
        first): each group's accesses serve the same blocks, so they share one ineffective fraction."""
        out: dict[int, list] = {}
        for k, lo in zip(self.keys_s + self.keys_n, self.lo):
            out.setdefault(lo, []).append(k)
        return list(out.items())


def served_from(key: tuple[str, str, str], level: int, child: int, idx: dict[str, int]) -> int:
    """The first level whose fanout's spatial loops one access of a storage feature's ``key`` spans (it
    serves every child instance below the fanouts of levels ``lo .. child - 1``: ``child`` when it serves
    one): the counting rules' instance loops (``accelsim.cost.actions``): the level's read and a fanout
    j's ``down`` multicast from j, a fanout j's ``down_dest`` from j + 1, the child's fill serves itself."""
    lv, _, action = key
    if action == FILL:
        return child
    if action == DOWN_DEST:
        return idx[lv] + 1
    return idx[lv]


def update_served_from(key: tuple[str, str, str], idx: dict[str, int]) -> int:
    """The first level whose fanout's spatial loops one output update of a MAC feature's ``key`` spans
    (the counting rules for an output into the compute, ``accelsim.cost.actions``: the feeding level's
    read and update, and a fanout j's ``down`` / ``down_dest`` / ``up``, reduce the MACs below the
    fanouts from j on; ``up_src`` those from j + 1)."""
    lv, _, action = key
    return idx[lv] + 1 if action == UP_SRC else idx[lv]


@dataclass(frozen=True)
class Plan:
    """What the spec does on a nest, from its keeps alone (never its factors): the compressed
    (level index, role) pairs with their formats, each network level's hop parent and child per role,
    the steps."""

    names: tuple[str, ...]
    compressed: tuple[tuple[tuple[int, str], Format], ...]
    net_parent: dict                # (fanout level index, role) -> hop parent index
    steps: tuple[Step, ...]
    net_child: dict = field(default_factory=dict)   # (fanout level index, role) -> hop child index (n: the compute)

    def source(self, key: tuple[str, str, str], network: bool) -> tuple[int, str]:
        """The (level index, role) whose format sets the words of one action key: a storage action's
        own level; a network action's receiving level (``formats.hop_format_level``)."""
        lv, r, a = key
        i = self.names.index(lv)
        if not network:
            return i, r
        par, ch = self.net_parent.get((i, r), i), self.net_child.get((i, r), len(self.names))
        comp = ch < len(self.names) and any(pr == (ch, r) for pr, _ in self.compressed)
        return hop_format_level(par, ch, a, comp), r


def plan(nest: LoopNest, spec: SparseSpec) -> Plan:
    names = tuple(lm.level for lm in nest.levels)
    n = len(names)
    chains = {r: [i for i in range(n) if nest.keeps(i, r) or i == 0] + [n] for r in ROLES}
    compressed = tuple(((i, r), spec.format(names[i], r)) for r in ROLES for i in chains[r][:-1]
                       if spec.format(names[i], r).compressed)
    net_parent = {}      # (fanout level index, role) -> hop parent index
    net_child = {}       # (fanout level index, role) -> hop child index
    child = {}           # (level index, role) -> child index (n: the compute)
    for r in ROLES:
        for par, ch in zip(chains[r], chains[r][1:]):
            child[(par, r)] = ch
            for j in range(par, ch):
                net_parent[(j, r)] = par
                net_child[(j, r)] = ch
    idx = {nm: i for i, nm in enumerate(names)}
    steps = []
    conds: set[str] = set()          # the condition roles of the MAC features so far
    for ft in spec.features:
        gate = ft.kind == GATE
        if ft.role is None:      # the MACs, and the output's read-modify-write feeding the compute
            prev = tuple(r for r in ROLES if r in conds)
            conds |= set(ft.on)
            par = chains[OUTPUT_ROLE][-2]
            ks = ((names[par], OUTPUT_ROLE, READ), (names[par], OUTPUT_ROLE, UPDATE))
            kn = tuple((names[j], OUTPUT_ROLE, a) for j in range(par, n) for a in NETWORK_ACTIONS)
            steps.append(Step(gate, tuple(r for r in ROLES if r in conds), ks, kn, None,
                              lo=tuple(update_served_from(k, idx) for k in ks + kn), prev=prev))
            continue
        i = idx[ft.level]
        if (i, ft.role) not in child:      # the mapping bypasses the tensor here: no accesses to gate/skip
            continue
        ch = child[(i, ft.role)]
        keys_s = ((names[i], ft.role, READ),) + (((names[ch], ft.role, FILL),) if ch < n else ())
        keys_n = tuple((names[j], ft.role, a) for j in range(i, ch) for a in (DOWN, DOWN_DEST))
        steps.append(Step(gate, ft.on, keys_s, keys_n, ch, i, ft.role,
                          tuple(served_from(k, i, ch, idx) for k in keys_s + keys_n)))
    return Plan(names, compressed, net_parent, tuple(steps), net_child)


def ratio_of(fmt: Format, problem: Problem, ext: dict[str, int], role: str, model: Model,
             word_bits: int) -> tuple[float, float]:
    """(data, metadata) words per dense word of the role's level at per-dim extents ``ext`` (its cut's) in
    ``fmt`` (resolved for the role's tensor, ``Format.on``): ``rho = sum_S m(S) / sum_S |S|`` over the
    level's tile positions S (``sparse.positions``: the runs the tile takes per dim, clipped at a ceil edge
    and by padding), m(S) the format's expected (payload, metadata) of S under ``model``
    (``Format.per_tile`` of its per-axis extents), |S| its elements: the expectation of the same sum
    measured on a mask (``sparse.exact``), every compressed action's words being its dense words x rho
    (Sparseloop's per-tile format occupancy x the algorithmic accesses, summed over the tile positions).
    A format linear in the tile (``Format.tile_free``) has one value per element; a level whose tile
    positions are all alike (no edge, no padding clipping it), that tile's ``Format.per_word``."""
    fmt = level_format(fmt.on(axis_names(problem.tensor(role)), f"inner (tensor {role!r} of {problem.name!r})"),
                       problem, role, model, word_bits)
    return ratio_at(fmt, problem, ext, role, model, word_bits)


def ratio_at(fmt: Format, problem: Problem, ext: dict[str, int], role: str, model: Model,
             word_bits: int) -> tuple[float, float]:
    """:func:`ratio_of` of a format already resolved and chosen (``Format.on``, :func:`level_format`)."""
    if isinstance(model, Actual):       # measured on the mask over the level's tile positions
        from accelsim.sparse.exact import mask_ratio

        return mask_ratio(fmt, problem, ext, role, model.mask, word_bits)
    size = problem.elements(role)
    if fmt.tile_free:
        return fmt.per_word([1], model, size, word_bits)
    return _classes_ratio(fmt, tuple((e, n) for e, n in tile_classes(problem, ext, role) if all(e)), model, size,
                          word_bits)


@lru_cache(maxsize=1 << 16)
def _classes_ratio(fmt: Format, classes: tuple[tuple[tuple[int, ...], int], ...], model: Model, size: int,
                   word_bits: int) -> tuple[float, float]:
    """:func:`ratio_of` of tile positions in ``classes`` ((extents, count), ...), remembered: many
    tilings share their classes. No position holding an element (a tensor no point reads, as
    ``exact.mask_ratio``): the dense words, 1 and no metadata."""
    if not classes:
        return 1.0, 0.0
    if len(classes) == 1:
        return fmt.per_word(list(classes[0][0]), model, size, word_bits)
    data = meta = elems = 0.0
    for e, n in classes:
        payload, bits = _tile_words(fmt, e, model, size, word_bits)
        data += n * payload
        meta += n * bits
        elems += n * math.prod(e)
    return data / elems, meta / word_bits / elems


@lru_cache(maxsize=1 << 16)
def _tile_words(fmt: Format, ext: tuple[int, ...], model: Model, size: int, word_bits: int) -> tuple[float, float]:
    """``Format.per_tile`` of one class of tile positions, remembered across the classes of many tilings."""
    return fmt.per_tile(list(ext), model, size, word_bits)


def level_format(fmt: Format, problem: Problem, role: str, model: Model, word_bits: int) -> Format:
    """``fmt`` (resolved, ``Format.on``) as a level applies it to the role's tensor of one layer: an
    ``adaptive`` format's choice made, once per (level, tensor), as a chip configures it per layer
    (Eyeriss v1 sends CONV1's input uncompressed): ``UNCOMPRESSED`` when the format's expected words of
    the whole tensor, under ``model`` (an actual mask's: the uniform of its density,
    ``density.Actual.p_empty``), would not be fewer than its elements, else the format without
    ``adaptive``. Made on the density, never on a mask's placement, so every mask of one density takes
    the same choice and the uniform expectation stays the mean over masks; every tile of the level is
    then measured in the one format (words, capacity, both batch scorers)."""
    if not fmt.adaptive:
        return fmt
    fmt = replace(fmt, adaptive=False)
    size = problem.elements(role)
    payload, bits = fmt.per_tile([c.size for c in problem.tensor(role).coords], model, size, word_bits)
    return UNCOMPRESSED if payload * word_bits + bits >= size * word_bits else fmt


def chosen_spec(spec: SparseSpec, problem: Problem, models: dict, word_bits: int) -> SparseSpec:
    """``spec`` for one layer with every ``adaptive`` format's choice made (:func:`level_format`, at the
    role's density): the level then is, for every consumer, a level of the chosen format (the plan's hop
    formats, the words, the capacity checks under ``expected`` or ``worst``, both batch scorers). The
    entry points that take a spec and the models call it first; a spec without ``adaptive`` is returned
    as is."""
    if not any(f.adaptive for _, f in spec.formats):
        return spec
    out = []
    for (lv, r), f in spec.formats:
        if f.adaptive:
            c = level_format(spec.format_on(lv, r, problem), problem, r, models.get(r, DENSE), word_bits)
            f = UNCOMPRESSED if c is UNCOMPRESSED else replace(f, adaptive=False)
        out.append(((lv, r), f))
    return replace(spec, formats=tuple(out))


def reuse_loops(problem: Problem, flat: Flat, child: int, role: str, n: int) -> list[int]:
    """Positions of the temporal loops above the child's cut over which the child keeps its tile of
    ``role`` (the counting rules' dropped loops, ``accelsim.cost.actions.Analytic.roles``: above the
    role's tile, after its last temporal loop of a dim indexing the role, so each of them ignores the
    role): one refill serves the child's blocks of all their iterations. None when the child is the
    compute (every MAC reads its operand: no reuse) or a per-pass tile's own loops end the reuse."""
    if child >= n:
        return []
    last = _last_relevant(problem, flat, child, role)
    return [i for i in range(last + 1, flat.cut(child)) if not flat.loops[i].spatial]


def _last_relevant(problem: Problem, flat: Flat, child: int, role: str) -> int:
    """Position of the innermost temporal loop above the child's tile of ``role`` whose dim indexes the
    role (-1: none): the reuse loops lie inside it, a refill slides along it."""
    rel = problem.relevant(role)
    return max((i for i in range(flat.cut_of(child, role)) if not flat.loops[i].spatial and flat.loops[i].dim in rel),
               default=-1)


def window_dims(problem: Problem, role: str) -> tuple[str, ...]:
    """The dims of the role's sliding-window axes (two-term coordinates), in the problem's order: the
    only dims along which two of its tiles can share elements."""
    mine = {d for c in problem.tensor(role).coords if len(c.terms) == 2 for d, _ in c.terms}
    return tuple(d for d in problem.dim_names if d in mine)


def slide_loop(problem: Problem, flat: Flat, child: int, role: str, n: int) -> tuple[str, int, int] | None:
    """(dim, span, factor) of the loop a refill of ``role``'s tile at a storage child slides along, when
    it is a dim of one of the role's window axes (:func:`window_dims`), else None: the counting rules'
    sliding loop (``accelsim.cost.actions.Analytic.roles``: the innermost temporal loop above the tile
    of a dim indexing the role; a refill at its digit >= 1 moves only what the tile one ``span`` earlier
    did not hold). None at the compute (no refills) or without such a loop."""
    if child >= n:
        return None
    last = _last_relevant(problem, flat, child, role)
    if last < 0 or flat.loops[last].dim not in window_dims(problem, role):
        return None
    lp = flat.loops[last]
    return lp.dim, lp.span, lp.factor


@dataclass(frozen=True)
class Served:
    """The blocks one access serves: per dim the extent of the served loops (their factors' product,
    clipped to the dim: the count of distinct indices when the served loops of the dim are one contiguous
    run), and per window axis (:func:`window_axes`) the count of distinct coordinates the served indices
    touch, exact for any interleaving of served and unserved loops of its dims (:func:`window_count`;
    None: the extents are contiguous runs, counted by ``tiles.touched``). ``points``: per dim served as a
    lattice, its served indices (:func:`served_points`; a dim not in it is the run ``range(ext[d])``);
    ``block``: the per-dim extents of one block (a storage child's tile); None: each block one point (a
    MAC), or, from the batch scorer's served-tile key, not known (``box_dead``). ``runs``: per dim whose
    served loops are not one run from 0, its :func:`dim_runs` (every other dim: the run ``(ext,)``), which
    with the dim's size say where each access's served indices lie (:func:`dim_positions`: the edges).
    ``slide``: the (dim, span, factor) of :func:`slide_loop`: an access at its digit >= 1 moves only the
    role's words the access one span earlier did not (the dense counts' sliding refill), which weights
    its class (:func:`edge_classes`)."""

    ext: dict[str, int]
    windows: dict[tuple[str, int, str, int], int] | None = None
    points: dict[str, tuple[int, ...]] | None = None
    block: dict[str, int] | None = None
    runs: dict[str, tuple[int, ...]] | None = None
    slide: tuple[str, int, int] | None = None

    def dim_runs(self, dim: str) -> tuple[int, ...]:
        """The dim's :func:`dim_runs` (a run of its extent when not listed in ``runs``)."""
        return self.runs[dim] if self.runs and dim in self.runs else (self.ext[dim],)


@lru_cache(maxsize=256)
def window_axes(problem: Problem) -> tuple[tuple[str, int, str, int], ...]:
    """The sliding-window axes of the problem's tensors (two-term coordinates: dim, coefficient, dim,
    coefficient), each once, in tensor and axis order."""
    out: list[tuple[str, int, str, int]] = []
    for t in problem.tensors:
        for c in t.coords:
            if len(c.terms) == 2:
                (d1, k1), (d2, k2) = c.terms
                if (d1, k1, d2, k2) not in out:
                    out.append((d1, k1, d2, k2))
    return tuple(out)


def served_loops(problem: Problem, flat: Flat, child: int, lo: int, role: str, n: int) -> list:
    """The loops whose iterations one access of ``role`` serves: the child's tile (the loops from its cut
    on; none at the compute: one MAC), the spatial loops of the fanouts of levels ``lo .. child - 1``
    (:func:`served_from`) and the temporal loops the child keeps the tile over (:func:`reuse_loops`)."""
    cut = flat.cut(child)
    return (list(flat.loops[cut:]) + [lp for lp in flat.loops[:cut] if lp.spatial and lo <= lp.level < child]
            + [flat.loops[i] for i in reuse_loops(problem, flat, child, role, n)])


def served_points(loops: list, dim: str, size: int) -> tuple[int, list[int] | None]:
    """(the extent of ``loops``' iterations of ``dim``: their factors' product, the served indices below
    ``size`` when they are not one run from 0, else None). An index is ``sum digit x span`` over the dim's
    loops (``loopnest.Loop.span``: the product of the factors of the dim's loops inside it, served or
    not), so loops interleaved with an unserved loop of the dim serve a lattice, not a run."""
    mine = sorted((lp.span, lp.factor) for lp in loops if lp.dim == dim)
    ext, run = 1, True
    for span, f in mine:
        run &= span == ext
        ext *= f
    if run:
        return ext, None
    pts = [0]
    for span, f in mine:
        pts = [v + j * span for j in range(f) for v in pts if v + j * span < size]
    return ext, sorted(pts)


def window_count(p1: list[int], p2: list[int], k1: int, k2: int) -> int:
    """Distinct ``k1 x a + k2 x b`` over a in ``p1``, b in ``p2`` (a window axis's coordinates)."""
    return len({k1 * a + k2 * b for a in p1 for b in p2})


def served_extents(problem: Problem, flat: Flat, child: int, lo: int, role: str, n: int) -> Served:
    """The blocks one access of ``role`` serves (:func:`served_loops`): per dim the extent of the served
    loops (clipped to the dim) and, where a window axis's dims are served as a lattice (a served loop
    outside an unserved one of the same dim: RS's glb P over its spatial P), its exact count of
    distinct coordinates (:class:`Served`)."""
    loops = served_loops(problem, flat, child, lo, role, n)
    ext, pts, runs = {}, {}, {}
    for d in problem.dim_names:
        e, p = served_points(loops, d, problem.size(d))
        ext[d] = min(e, problem.size(d))
        pts[d] = p
        r = dim_runs(flat, {lp.span for lp in loops if lp.dim == d}, d, problem.size(d))
        if len(r) > 1:
            runs[d] = r
    points = {d: tuple(p) for d, p in pts.items() if p is not None}
    block = dim_extents(problem, flat, flat.cut(child)) if child < n else None
    return Served(ext, served_windows(problem, ext, points), points or None, block, runs or None,
                  slide_loop(problem, flat, child, role, n))


def served_windows(problem: Problem, ext: dict[str, int],
                   points: dict[str, tuple[int, ...]]) -> dict[tuple[str, int, str, int], int] | None:
    """Per window axis with a dim served as a lattice (``points``: its served indices below its size; a
    dim not in it: the run ``range(ext)``), its count of distinct coordinates (:func:`window_count`)."""
    windows = {}
    for d1, k1, d2, k2 in window_axes(problem):
        if d1 in points or d2 in points:
            windows[(d1, k1, d2, k2)] = window_count(list(points.get(d1, range(ext[d1]))),
                                                     list(points.get(d2, range(ext[d2]))), k1, k2)
    return windows or None


def dim_runs(flat: Flat, served: set[int], dim: str, size: int) -> tuple[int, ...]:
    """The dim's loops, innermost first, as alternating runs of served and unserved loops (the product of
    each run's factors): (E0, U1, E2, U3, ..., E2k), starting with a served run (E0 1 when the innermost
    loop is unserved) and ending with the last served one (the unserved loops outside it only move the
    accesses), that one clipped to the steps below ``size`` (ceil(size / the product of the runs inside
    it)): the canonical form the batch scorer's memo keys carry (``mapper.sparse_memo._runs``).
    ``served``: the spans of the dim's served loops (a dim's loops have distinct spans). (min(ext, size),)
    when the served loops are one run from 0."""
    out, prod, on = [], 1, True
    for lp in sorted((lp for lp in flat.loops if lp.dim == dim), key=lambda lp: lp.span):
        s = lp.span in served
        if s != on:
            out.append(prod)
            prod, on = 1, s
        prod *= lp.factor
    if on:
        out.append(prod)
    inside = math.prod(out[:-1])
    out[-1] = min(out[-1], -(-size // inside))
    return tuple(out)


@lru_cache(maxsize=1 << 12)
def dim_positions(runs: tuple[int, ...], size: int) -> tuple[tuple[int, ...], ...]:
    """Per access position of a dim served as ``runs`` (:func:`dim_runs`), the served indices below
    ``size``: an index is sum digit x span over the dim's loops, the served runs' digits give the offsets
    within an access, the unserved runs' (and, outside them all, every multiple of their product that
    stays below ``size``) its base; an access exists when its base is below ``size`` (its offset 0 is)."""
    pts, bases, span = [0], [0], 1
    for i, f in enumerate(runs):
        if i % 2 == 0:
            pts = [v + j * span for j in range(f) for v in pts]
        else:
            bases = [v + j * span for j in range(f) for v in bases]
        span *= f
    pts.sort()
    return tuple(tuple(b + o for o in pts if b + o < size)
                 for b in sorted(b + k * span for k in range(-(-size // span)) for b in bases) if b < size)


def _axis_count(coord, idx: tuple[tuple[int, ...], ...]) -> int:
    """Distinct valid coordinates (in [0, size): padding is no element) of one tensor axis over the served
    indices ``idx`` of its dims (in the axis's term order)."""
    if len(coord.terms) == 1:
        (_, k), = coord.terms
        return sum(1 for i in idx[0] if 0 <= k * i + coord.offset < coord.size)
    return len(_window_values(coord, idx))


def _window_values(coord, idx: tuple[tuple[int, ...], ...]) -> set[int]:
    """The valid coordinates of a window axis (two terms) over the served indices ``idx`` of its dims."""
    (_, k1), (_, k2) = coord.terms
    return {v for v in (k1 * a + k2 * b + coord.offset for a in idx[0] for b in idx[1]) if 0 <= v < coord.size}


def _slid_words(w_axes: list, idx: dict[str, tuple[int, ...]], slide: tuple[str, int, int],
                positions: tuple[tuple[int, ...], ...], base_at: dict[int, int]) -> int:
    """The role's words an access at served indices ``idx`` shares with the access one slide span earlier
    (:func:`slide_loop`; 0 at the slide's digit 0): a sliding refill moves its tile's words less these
    (``accelsim.cost.actions``: volume - overlap). Only a window axis of the slide's dim overlaps (tiles of
    any other axis partition it); ``w_axes``: the role's axes over the walked dims, ``positions`` the slide
    dim's access positions and ``base_at`` each one's index by its base (its first index)."""
    d, span, factor = slide
    base = idx[d][0]
    if (base // span) % factor == 0:
        return 0
    prev = dict(idx)
    prev[d] = positions[base_at[base - span]]
    out = 0
    for a, c in enumerate(w_axes):
        if len(c.terms) == 2 and any(dd == d for dd, _ in c.terms):
            shared = _window_values(c, tuple(idx[dd] for dd, _ in c.terms)) & _window_values(
                c, tuple(prev[dd] for dd, _ in c.terms))
            out += len(shared) * math.prod(_axis_count(o, tuple(idx[dd] for dd, _ in o.terms))
                                           for b, o in enumerate(w_axes) if b != a)
    return out


def _plain(coord, dim_size: int) -> bool:
    """The axis is one dim with coefficient 1 and no offset, and holds every index of it (no padding)."""
    return len(coord.terms) == 1 and coord.terms[0][1] == 1 and coord.offset == 0 and coord.size >= dim_size


@lru_cache(maxsize=256)
def placed_dims(problem: Problem) -> tuple[str, ...]:
    """The dims some tensor axis uses other than plainly (:func:`_plain`: a window axis's two dims, a
    strided, offset or clipped one), in the problem's order: where an access's served indices lie, not
    only how many, can change which elements it touches. Every other dim is plain in every tensor: its
    indices are its elements, so a box served as a lattice of it is a relabelled run of its count (the
    same element and block ranks, the same enumeration); :func:`update_q` takes such a dim by its
    accesses' counts (:func:`plain_positions`; ``mapper.sparse_batch`` keys an update box by the runs of
    the placed dims; a row where a plain dim's counts are not the run's reads an extra memo row)."""
    out: set[str] = set()
    for t in problem.tensors:
        for c in t.coords:
            if len(c.terms) != 1 or not _plain(c, problem.size(c.terms[0][0])):
                out.update(d for d, _ in c.terms)
    return tuple(d for d in problem.dim_names if d in out)


@lru_cache(maxsize=1 << 12)
def _component(problem: Problem, dims: tuple[str, ...], runs: tuple[tuple[int, ...], ...], role: str | None,
               conds: tuple[str, ...], slide: tuple[str, int, int] | None = None) -> dict[tuple[int, ...], int]:
    """Over the access positions of the dims ``dims`` (their runs): per tuple of the conditions' union
    parts (the product of their axes on these dims), the sum of the role's words there (the product of its
    axes on these dims, less what a sliding refill keeps: :func:`_slid_words` of ``slide``, a
    :func:`slide_loop` of one of ``dims``; 1 per position without a role)."""
    pos = {d: dim_positions(r, problem.size(d)) for d, r in zip(dims, runs)}
    base_at = {p[0]: j for j, p in enumerate(pos[slide[0]])} if slide is not None else {}
    mine = set(dims)

    def axes(r: str) -> list:
        return [c for c in problem.tensor(r).coords if {d for d, _ in c.terms} <= mine]
    w_axes = axes(role) if role is not None else []
    c_axes = [axes(c) for c in conds]
    out: dict[tuple[int, ...], int] = {}
    if len(dims) == 1 and all(_plain(c, problem.size(dims[0])) for c in w_axes + [c for cs in c_axes for c in cs]):
        # every axis is the dim itself (coefficient 1, no offset, no padding): each counts an access's
        # served indices, so the positions differ only by that count (the last one, at a ceil edge)
        lengths: dict[int, int] = {}
        for p in pos[dims[0]]:
            lengths[len(p)] = lengths.get(len(p), 0) + 1
        for n_idx, times in lengths.items():
            w = n_idx ** len(w_axes)
            if w:
                key = tuple(n_idx ** len(cs) for cs in c_axes)
                out[key] = out.get(key, 0) + w * times
        return out
    choices = [range(len(pos[d])) for d in dims]
    at = {d: i for i, d in enumerate(dims)}

    def walk(k: int, pick: list[int]) -> None:
        if k < len(dims):
            for j in choices[k]:
                pick[k] = j
                walk(k + 1, pick)
            return

        def count(c) -> int:
            return _axis_count(c, tuple(pos[d][pick[at[d]]] for d, _ in c.terms))
        w = math.prod(count(c) for c in w_axes)
        if w and slide is not None:
            w -= _slid_words(w_axes, {d: pos[d][pick[at[d]]] for d in dims}, slide, pos[slide[0]], base_at)
        if w:
            key = tuple(math.prod(count(c) for c in cs) for cs in c_axes)
            out[key] = out.get(key, 0) + w
    walk(0, [0] * len(dims))
    return out


@lru_cache(maxsize=1 << 10)
def _dim_groups(problem: Problem, role: str | None, conds: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The dims the role's and the conditions' axes use, grouped by the axes that share them (a window
    axis links its two dims), each group in the problem's dim order."""
    tensors = ([role] if role is not None else []) + list(conds)
    parent = {d: d for d in problem.dim_names}

    def root(d: str) -> str:
        while parent[d] != d:
            d = parent[d]
        return d
    used: set[str] = set()
    for r in tensors:
        for c in problem.tensor(r).coords:
            ds = [d for d, _ in c.terms]
            used.update(ds)
            for d in ds[1:]:
                parent[root(d)] = root(ds[0])
    groups: dict[str, list[str]] = {}
    for d in problem.dim_names:
        if d in used:
            groups.setdefault(root(d), []).append(d)
    return tuple(tuple(g) for g in groups.values())


def edge_classes(problem: Problem, served: Served, role: str | None,
                 conds: tuple[str, ...]) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The accesses serving blocks ``served`` (one per position of the unserved loops), as classes: (per
    condition the size of its union over the blocks of an access, the sum of the role's words over the
    accesses with those sizes), the sizes clipped to each dim's edge (ceil tiling) and to each axis's
    [0, size) (a window over padding). Dims are grouped by the axes of the role and the conditions that
    share them; a group's positions are walked (:func:`_component`), the groups' classes multiply."""
    total: dict[tuple[int, ...], int] = {tuple(1 for _ in conds): 1}
    for dims in _dim_groups(problem, role, conds):
        part = _component(problem, tuple(dims), tuple(served.dim_runs(d) for d in dims), role, conds,
                          served.slide if served.slide is not None and served.slide[0] in dims else None)
        nxt: dict[tuple[int, ...], int] = {}
        for k1, w1 in total.items():
            for k2, w2 in part.items():
                k = tuple(a * b for a, b in zip(k1, k2))
                nxt[k] = nxt.get(k, 0) + w1 * w2
        total = nxt
    return tuple(sorted(total.items()))


def in_range(problem: Problem, role: str) -> bool:
    """Every coordinate of the role's tensor lies in [0, size) for every index of its dims: no MAC and no
    tile of it reaches padding (a conv's ifmap with pad 0 and a window that fits)."""
    for c in problem.tensor(role).coords:
        hi = c.offset + sum(k * (problem.size(d) - 1) for d, k in c.terms)
        if c.offset < 0 or hi >= c.size or any(k < 0 for _, k in c.terms):
            return False
    return True


def never_empty(problem: Problem, role: str, models: dict) -> bool:
    """The condition is dense (density 1) and every coordinate of its tensor lies in [0, size) for every
    index of its dims (:func:`in_range`: no padding): its tile is never empty, at an edge or inside."""
    return models.get(role, DENSE).density >= 1.0 and in_range(problem, role)


def mac_keep(problem: Problem, models: dict, conds: tuple[str, ...], inside: bool = False) -> float:
    """The expected fraction of the MACs whose operands in ``conds`` are all nonzero under the densities:
    a MAC whose operand is an element keeps it with its density, one whose operand lies on padding (no
    element: zero) never; tensors are independent. ``prod d_c`` when every condition is :func:`in_range`
    (bit for bit the product in ``conds``' order), else that product over the MACs with every padded
    condition in range (:func:`edge_classes` at one MAC per access: exact, the mean over random masks).
    ``inside``: of the MACs whose operands are elements alone (``prod d_c``: a unit away from the padding,
    :func:`lockstep_fraction`)."""
    pad = () if inside else tuple(c for c in conds if not in_range(problem, c))
    base = math.prod(models.get(c, DENSE).density for c in conds)
    if not pad:
        return base
    classes = edge_classes(problem, Served({d: 1 for d in problem.dim_names}), None, pad)
    total = sum(w for _, w in classes)
    kept = sum(w for us, w in classes if all(us))
    return base * kept / total if total else 0.0


@lru_cache(maxsize=1 << 12)
def plain_positions(runs: tuple[int, ...], size: int) -> tuple[tuple[int, ...], ...]:
    """A plain dim's access positions (:func:`dim_positions` of its ``runs``) up to relabelling: per access
    its count c of served indices as ``range(c)``, the largest count first (the access at base 0: the
    interior's). A dim plain in every tensor (not :func:`placed_dims`) has its indices as its elements, so an
    update box (each point its own block) depends on its served indices only through their count: the
    box's classes, weights and clipped enumerations are those of its counts' histogram, whatever the lattice
    (:func:`update_q`; two lattices with one histogram give the same classes, bit for bit)."""
    return tuple(tuple(range(c)) for c in sorted((len(p) for p in dim_positions(runs, size)), reverse=True))


@lru_cache(maxsize=1 << 12)
def _box_component(problem: Problem, dims: tuple[str, ...], runs: tuple[tuple[int, ...], ...], role: str | None,
                   conds: tuple[str, ...], plain: bool = False, slide: tuple[str, int, int] | None = None
                   ) -> tuple[tuple[tuple, int, tuple, bool], ...]:
    """:func:`_component` for several conditions evaluated jointly: over the access positions of the dims
    ``dims`` (their runs), per class of positions whose clipped boxes are equivalent, (its key, the sum of
    the role's words there, a representative's served indices per dim the conditions use, whether the
    class is the interior box). Two positions are equivalent when, per dim the conditions use, their
    served indices relative to the first are the same (so are the blocks: an access's base is a multiple
    of a block's extent), and, per axis of each condition, the same relative coordinate values fall in
    [0, size) (the axis's values at a position are ``base + rel``, rel in [0, relmax]: the key is the
    interval of valid rel, clipped to [0, relmax + 1]). The interior: the relative indices of the
    position at base 0 and every coordinate valid. ``plain``: each point its own block (an update box), a
    dim not :func:`placed_dims` walked as its :func:`plain_positions` (its counts' histogram). ``slide``: as
    :func:`_component`'s."""
    placed = placed_dims(problem) if plain else ()
    pos = {d: plain_positions(r, problem.size(d)) if plain and d not in placed else dim_positions(r, problem.size(d))
           for d, r in zip(dims, runs)}
    base_at = {p[0]: j for j, p in enumerate(pos[slide[0]])} if slide is not None else {}
    mine = set(dims)

    def axes(r: str) -> list:
        return [c for c in problem.tensor(r).coords if {d for d, _ in c.terms} <= mine]
    w_axes = axes(role) if role is not None else []
    c_axes = [c for r in conds for c in axes(r)]
    rel = tuple(d for d in dims if any(d == dd for c in c_axes for dd, _ in c.terms))
    inner = tuple(pos[d][0] for d in rel)
    out: dict[tuple, list] = {}
    for pick in itertools.product(*(range(len(pos[d])) for d in dims)):
        idx = {d: pos[d][j] for d, j in zip(dims, pick)}
        w = math.prod(_axis_count(c, tuple(idx[d] for d, _ in c.terms)) for c in w_axes)
        if w and slide is not None:
            w -= _slid_words(w_axes, idx, slide, pos[slide[0]], base_at)
        if not w:
            continue
        shape = tuple(tuple(i - idx[d][0] for i in idx[d]) for d in rel)
        clips = []
        full = True
        for c in c_axes:
            base = c.offset + sum(k * idx[d][0] for d, k in c.terms)
            top = sum(k * (idx[d][-1] - idx[d][0]) for d, k in c.terms) + 1
            lo, hi = min(max(-base, 0), top), min(max(c.size - base, 0), top)
            clips.append((lo, hi))
            full = full and lo == 0 and hi == top
        key = (shape, tuple(clips))
        if key in out:
            out[key][1] += w
        else:
            rep = tuple((d, idx[d]) for d in rel)
            out[key] = [key, w, rep, full and tuple(idx[d] for d in rel) == inner]
    return tuple((k, w, rep, full) for k, w, rep, full in out.values())


def box_classes(problem: Problem, served: Served, role: str | None, conds: tuple[str, ...], plain: bool = False
                ) -> tuple[tuple[tuple, tuple[tuple[str, tuple[int, ...]], ...], int, bool], ...]:
    """The accesses serving blocks ``served`` as classes for several conditions at once (:func:`edge_classes`
    for one): (the class's canonical key: per dim group its :func:`_box_component` key, the relative served
    indices and each condition axis's valid interval; a representative access's served indices per dim the
    conditions use; the sum of the role's words over the accesses of the class; whether it is the interior
    box), the groups' classes multiplied. A handful per dim: the interior and the positions cut by the
    dim's edge (ceil tiling) or by a window's padding. Two classes with the same key (of any two served
    boxes of the problem, for the same conditions) have clipped boxes that are translates with the same
    points valid: the same enumeration (:func:`_update_memo`). ``plain`` (each point its own block: an update
    box): a dim that is not :func:`placed_dims` taken by its counts' histogram (:func:`plain_positions`)."""
    total: list[tuple[tuple, tuple, int, bool]] = [((), (), 1, True)]
    for dims in _dim_groups(problem, role, conds):
        part = _box_component(problem, dims, tuple(served.dim_runs(d) for d in dims), role, conds, plain,
                              served.slide if served.slide is not None and served.slide[0] in dims else None)
        total = [(k1 + (k2,), r1 + r2, w1 * w2, f1 and f2) for k1, r1, w1, f1 in total for k2, w2, r2, f2 in part]
    return tuple(total)


@lru_cache(maxsize=1 << 10)
def _clip_axes(problem: Problem, role: str, dims: tuple[str, ...]) -> np.ndarray:
    """The role's axes for ``box_kernel.clipped_ids`` over a box of the dims ``dims`` (each axis's dims
    among them): per axis (dim's position in ``dims``, coefficient, second dim's or -1, its coefficient,
    size, offset); read-only."""
    import numpy as np

    rows = []
    for c in problem.tensor(role).coords:
        (d1, k1), *rest = c.terms
        d2, k2 = rest[0] if rest else (None, 1)
        rows.append((dims.index(d1), k1, -1 if d2 is None else dims.index(d2), k2, c.size, c.offset))
    arr = np.array(rows, dtype=np.int64).reshape(-1, 6)
    arr.setflags(write=False)
    return arr


def _clipped_box_dead(problem: Problem, rep: tuple[tuple[str, tuple[int, ...]], ...], block: tuple | None,
                      conds: tuple[str, ...], models: tuple, axes: dict | None = None) -> float | None:
    """P(no block of one access's box has every condition in ``conds`` nonempty), the box given by its
    absolute served indices per dim (``rep``, a class of :func:`box_classes`: clipped to the dims' edges;
    a coordinate outside [0, size) is padding, no element), ``block`` its blocks' per-dim extents ((dim,
    extent) pairs; None: each point a block, a MAC), ``models`` (condition, model) pairs. Exact: one
    condition, the emptiness of its valid elements; two uniform ones, :func:`_pair_dead`'s enumeration
    over the box's points with padding left out; three, :func:`_triple_dead`'s. None (the caller keeps the interior box) for an N:M
    condition, more than three conditions that can be empty, or a box over the enumeration's limits.
    ``axes``: per condition its :func:`_clip_axes` over ``rep``'s dims (looked up when not given)."""
    import numpy as np

    model_of = dict(models)
    live = tuple(c for c in conds if not never_empty(problem, c, model_of))
    if not live:
        return 0.0
    if len(live) > 3 or any(isinstance(model_of.get(c, DENSE), Structured) for c in live):
        return None
    lists = dict(rep)
    dims = [d for d in problem.dim_names if d in lists]
    n = math.prod(len(lists[d]) for d in dims)
    if n > MAX_POINTS:
        return None
    from accelsim.sparse.box_kernel import clipped_ids

    lens = np.array([len(lists[d]) for d in dims], dtype=np.int64)
    pts = np.zeros((len(dims), int(lens.max())), dtype=np.int64)
    for i, d in enumerate(dims):
        pts[i, :lens[i]] = lists[d]
    if axes is None:
        axes = {c: _clip_axes(problem, c, tuple(dims)) for c in live}
    if len(live) == 1:
        _, u = clipped_ids(pts, lens, axes[live[0]])
        return _p_empty(model_of.get(live[0], DENSE), u, problem.elements(live[0]))
    ids = [clipped_ids(pts, lens, axes[c]) for c in live]
    if any(x == 0 for _, x in ids):            # a condition with no element in the box: every block is dead
        return 1.0
    if block is None:       # each point its own block, ranked in the points' order (each dim ascending)
        blk = np.arange(n, dtype=np.int64)
    else:
        mesh = np.meshgrid(*(np.array(lists[d], dtype=np.int64) for d in dims), indexing="ij")
        ext = dict(block)
        code = np.zeros(n, dtype=np.int64)
        for d, m in zip(dims, mesh):
            e = ext.get(d, 1)
            code = code * (max(lists[d]) // e + 1) + m.ravel() // e
        _, blk = np.unique(code, return_inverse=True)
        blk = blk.astype(np.int64)
    if len(live) == 3:
        return _triple_dead(problem, ids, blk, int(blk.max()) + 1, live, model_of)
    (ea, x), (eb, y) = ids
    if (x + 1) * (y + 1) > MAX_TABLE:
        return None
    a, b = live
    return _pair_table_dead(problem, ea, eb, blk, int(blk.max()) + 1, x, y, a, b, model_of)


_clipped_dead = lru_cache(maxsize=1 << 14)(_clipped_box_dead)     # a storage step's classes (:func:`_edge_q`)


def step_q(step: Step, problem: Problem, ext: Served | None, models: dict, n: int) -> float:
    """The ineffective fraction of a storage step's accesses that serve the blocks ``ext``
    (:func:`served_extents`; None: one MAC at the compute): an access is ineffective when every block it
    serves has some condition's tile empty (docs/sparsity.md, *The uniform expectation of a multicast
    read*). With exactly one condition that is not a MAC's own operand (a one-element union at the compute:
    its density), summed per access position: the accesses' classes of union sizes (:func:`edge_classes`:
    cut by a dim's edge or a window's padding, where even a dense condition is empty) weighted by their
    words, each ``1 - prod_c (1 - p_empty_c(u_c))`` (no accesses at all: 0); else :func:`box_dead` of the interior
    served box (at the compute each block is a MAC)."""
    if ext is None:
        ext = Served({d: 1 for d in problem.dim_names})
    mac = step.child == n
    on = step.on
    per_mac, never, vary, padded = _kinds(problem, ext, on, models, mac)
    if len(vary) in (2, 3) and (mac or ext.block is not None):
        keep = math.prod(models.get(c, DENSE).density for c, one in zip(on, per_mac) if one)
        q2 = _edge_q(problem, ext, step.role, vary, models, None if mac else ext.block,
                     lambda: box_dead(problem, ext, on, models, mac=mac), keep, padded)
        if q2 is not None:
            return q2
    if len(vary) > 1 or not (vary or padded):
        return box_dead(problem, ext, on, models, mac=mac)
    return _classes_q(problem, ext, step.role, on, models, per_mac, never, vary, padded)


def _kinds(problem: Problem, ext: Served, on: tuple[str, ...], models: dict, mac: bool
           ) -> tuple[list[bool], list[bool], tuple[str, ...], tuple[str, ...]]:
    """Per condition whether it is one element per access (a MAC's own operand at the compute) and whether
    it is never empty; the conditions that vary over the blocks (neither); the per-MAC ones whose tensor
    reaches padding (their operand an element with its density, or padding, zero, at the MACs over it:
    the access positions count, with the varying ones' classes)."""
    per_mac = [mac and math.prod(role_extents(problem, ext.ext, c, ext.windows)) == 1 for c in on]
    never = [not one and never_empty(problem, c, models) for c, one in zip(on, per_mac)]
    vary = tuple(c for c, one, nv in zip(on, per_mac, never) if not one and not nv)
    padded = tuple(c for c, one in zip(on, per_mac) if one and not in_range(problem, c))
    return per_mac, never, vary, padded


def _classes_q(problem: Problem, ext: Served, role: str | None, on: tuple[str, ...], models: dict,
               per_mac: list[bool], never: list[bool], vary: tuple[str, ...], padded: tuple[str, ...]) -> float:
    """Over the classes of access positions (:func:`edge_classes` of ``vary + padded``) weighted by their
    words, the mean of ``1 - prod_c keep_c``: per condition its own event, the union of its tiles over the
    access's blocks empty (``1 - p_empty(u)``; a per-MAC one its density, 0 on padding; never empty: 1),
    the conditions' tensors independent (no accesses at all: 0)."""
    classes = edge_classes(problem, ext, role, vary + padded)

    def q_of(us: tuple[int, ...]) -> float:
        keep, u = 1.0, dict(zip(vary + padded, us))
        for c, one, nv in zip(on, per_mac, never):
            m = models.get(c, DENSE)
            if nv:                  # never empty: a factor of 1
                continue
            if one:
                keep *= m.density if u.get(c, 1) else 0.0
            else:
                keep *= 1.0 - m.p_empty(u[c], problem.elements(c))
        return 1.0 - keep
    if not classes:
        return 0.0
    if len(classes) == 1:
        return q_of(classes[0][0])
    return math.fsum(w * q_of(us) for us, w in classes) / sum(w for _, w in classes)


def group_q(ons: tuple[tuple[str, ...], ...], step: Step, problem: Problem, ext: Served | None, models: dict,
            n: int) -> float:
    """:func:`step_q` of the last of several features on one (level, tensor) (``ons``: their conditions in
    the spec's order, ``step.on`` last) as a fraction of the accesses the earlier ones left. Alone, its
    :func:`step_q`. When each access serves one block, or each feature has at most one condition that
    varies over the blocks, a feature is ineffective exactly when one of its conditions' events is (per
    condition: its union over the access's blocks empty, the same event for every feature), so some
    feature among the first k is ineffective
    with ``Q_k`` = :func:`_classes_q` of their conditions' union (the conditions' tensors independent, per
    class of access positions), and the k-th removes ``Q_k - Q_{k-1}``: ``(Q_k - Q_{k-1}) / (1 - Q_{k-1})``
    of what is left (exact: a gate listed twice removes nothing more, and features on different tensors
    meet the same access positions). Otherwise each takes its own fraction of what is left (independent:
    docs/sparsity.md Limits)."""
    if len(ons) < 2:
        return step_q(step, problem, ext, models, n)
    ext = ext if ext is not None else Served({d: 1 for d in problem.dim_names})
    mac = step.child == n
    one = (all(v == 1 for v in ext.ext.values()) if mac else
           ext.block is not None and all(ext.ext[d] == ext.block[d] for d in problem.dim_names))
    if not one and any(len(_kinds(problem, ext, on, models, mac)[2]) > 1 for on in ons):
        return step_q(step, problem, ext, models, n)

    def some(k: int) -> float:
        on = tuple(dict.fromkeys(c for o in ons[:k] for c in o))
        return _classes_q(problem, ext, step.role, on, models, *_kinds(problem, ext, on, models, mac))
    before, now = some(len(ons) - 1), some(len(ons))
    return max(0.0, now - before) / (1.0 - before) if before < 1.0 else 0.0


def group_ons(pl: Plan) -> tuple[tuple[tuple[str, ...], ...] | None, ...]:
    """Per step of the plan, the conditions of the features so far on its (level, tensor), its own last
    (:func:`group_q`); None for a MAC step."""
    seen: dict[tuple[int, str], list[tuple[str, ...]]] = {}
    out: list[tuple[tuple[str, ...], ...] | None] = []
    for st in pl.steps:
        if st.child is None or st.level is None or st.role is None:
            out.append(None)
            continue
        g = seen.setdefault((st.level, st.role), [])
        g.append(st.on)
        out.append(tuple(g))
    return tuple(out)


def _edge_q(problem: Problem, ext: Served, role: str | None, conds: tuple[str, ...], models: dict,
            block: dict[str, int] | None, interior, keep: float, padded: tuple[str, ...] = ()) -> float | None:
    """A storage step's ineffective fraction with two or three conditions that vary over the blocks, summed per
    class of access positions (:func:`box_classes`: cut by a dim's edge or a window's padding), weighted
    by the role's words: the interior class takes ``interior()`` (:func:`box_dead` of the served box),
    every other class ``1 - keep x (1 - dead)`` with ``dead`` its clipped box's :func:`_clipped_dead`
    (``keep``: the per-MAC conditions' densities). ``padded``: per-MAC conditions whose tensor reaches
    padding; they split the classes too, and a class whose access has one of them on padding is
    ineffective (1). None when every access is interior (the caller's :func:`box_dead`, bit for bit as
    before) or a class is beyond the exact enumeration."""
    classes = box_classes(problem, ext, role, conds + padded)
    if all(full for *_, full in classes):
        return None
    mt = tuple((c, models.get(c, DENSE)) for c in conds)
    bt = tuple(sorted(block.items())) if block is not None else None
    inner: float | None = None
    parts, words = [], 0
    for _, rep, w, full in classes:
        if full:
            if inner is None:
                inner = interior()
            q = inner
        elif not all(_element_at(problem, rep, c) for c in padded):
            q = 1.0
        else:
            dead = _clipped_dead(problem, rep, bt, conds, mt)
            if dead is None:
                return None
            q = 1.0 - keep * (1.0 - dead)
        parts.append(w * q)
        words += w
    return math.fsum(parts) / words if words else 0.0

def _element_at(problem: Problem, rep: tuple[tuple[str, tuple[int, ...]], ...], role: str) -> bool:
    """A per-MAC condition's one element (its dims served at one index each) at an access of ``rep``
    (:func:`box_classes`' served indices) lies inside its tensor, not on padding."""
    at = {d: idx[0] for d, idx in rep}
    return all(0 <= c.offset + sum(k * at[d] for d, k in c.terms) < c.size for c in problem.tensor(role).coords)


MAX_GROUPS = 12          # condition groups of one connected part the exact enumeration walks (2^12 subsets)
MAX_TABLE = 1 << 20      # cells of its (|S|, u) table: (b-elements + 1) x (a-elements + 1) of the box
MAX_POINTS = 1 << 22     # points of the box (its served indices of the two conditions' dims) it walks


def box_dead(problem: Problem, box: Served, conds: tuple[str, ...], models: dict, mac: bool = True) -> float:
    """P(no block of the box ``box`` (:class:`Served`) has every condition in ``conds`` nonempty): the
    ineffective probability of an access serving those blocks (``mac``: each block one MAC, a reduced
    output update's or a compute child's; else each ``box.block``, a storage child's tile), docs/sparsity.md,
    *The uniform expectation of a reduced output update*. A condition whose union over the box is one
    block's tile (one element at a MAC) is the same in every block: nonempty with its density at a MAC,
    else ``1 - p_empty(tile)``; with at most one condition varying over the blocks it is
    ``1 - prod_c (1 - p_empty_c(u_c))`` (exact); two varying uniform conditions: :func:`_pair_dead` over
    the box's served indices (runs or lattices) and blocks, exact; three: :func:`_triple_dead`, exact;
    otherwise (N:M, or a box too large to enumerate) the product of the unions, a lower bound. ``box.block`` None at a storage
    child (the batch scorer's served-tile key): only the product, which the batch never needs for two
    uniform conditions (``mapper.sparse_batch.unsupported``)."""
    keep = 1.0
    varying = []
    for c in conds:
        m = models.get(c, DENSE)
        if m.density >= 1.0:                   # never empty inside the tensor (the interior box has no padding)
            continue
        if m.density <= 0.0:                   # empty everywhere: every block has it empty
            return 1.0
        t = math.prod(role_extents(problem, box.ext, c, box.windows))
        if mac and t == 1:
            keep *= m.density
        elif not mac and box.block is not None and t == math.prod(role_extents(problem, box.block, c)):
            keep *= 1.0 - m.p_empty(t, problem.elements(c))
        else:
            varying.append((c, t))
    if (len(varying) == 2 and (mac or box.block is not None)
            and not any(isinstance(models.get(c, DENSE), Structured) for c, _ in varying)):
        dead = _pair_dead(problem, box, None if mac else box.block, varying[0][0], varying[1][0], models)
        if dead is not None:
            return 1.0 - keep * (1.0 - dead)
    if (len(varying) == 3 and (mac or box.block is not None)
            and not any(isinstance(models.get(c, DENSE), Structured) for c, _ in varying)):
        dead = _triple_box_dead(problem, box, None if mac else box.block, tuple(c for c, _ in varying), models)
        if dead is not None:
            return 1.0 - keep * (1.0 - dead)
    for c, t in varying:
        keep *= 1.0 - models.get(c, DENSE).p_empty(t, problem.elements(c))
    return 1.0 - keep


def _pair_dead(problem: Problem, box: Served, block: dict[str, int] | None, a: str, b: str,
               models: dict) -> float | None:
    """P(no block of the box has a's and b's tiles both nonempty), a and b uniform (an actual mask taken at
    its density; ``block`` None: each point its own block). A b-element's a-neighbours are the a-elements
    of every block it is in: with Y b's elements in the box and N(S) the a-neighbours of a set S of them,
    P = sum_{S subset of Y} P(b's nonzeros in Y are exactly S) x P(a empty on N(S)), where
    P(exactly S) = C(size_b - |Y|, nnz_b - |S|) / C(size_b, nnz_b) depends on |S| alone. b's elements
    with the same neighbour set form a group (m of them); groups whose neighbour sets share an element
    form a part; per part every subset T of its groups gives u = |union of N(g)| and, per |S|, prod over
    g in T of ((1 + x)^m - 1)'s coefficients; the parts' (|S|, u) tables multiply (their a-elements are
    disjoint). The box's points are its served indices per dim of a's and b's (runs, or ``box.points``'
    lattices), a block per dim its index // the block's extent. Exact; None (the caller's lower bound)
    when the box has more than :data:`MAX_POINTS` points, a part more than :data:`MAX_GROUPS` groups or
    the table more than :data:`MAX_TABLE` cells."""
    grid = _box_grid(problem, box, block, (a, b))
    if grid is None:
        return None
    (ea, x), (eb, y), blk, nblk = grid
    if (x + 1) * (y + 1) > MAX_TABLE:
        return None
    return _pair_table_dead(problem, ea, eb, blk, nblk, x, y, a, b, models)


def _box_grid(problem: Problem, box: Served, block: dict[str, int] | None, roles: tuple[str, ...]):
    """The interior box's points (per dim of the roles its served indices, runs or ``box.points``' lattices):
    per role (its element's rank at each point, their count), each point's block (per dim index // the
    block's extent; ``block`` None: each point its own) and the blocks' count; None over :data:`MAX_POINTS`.
    The interior box counts a window coordinate over padding as an element: a box over padding may hold
    more "elements" than its tensor (:func:`_pair_table_dead` then refuses to enumerate that side)."""
    import numpy as np

    from accelsim.sparse.box_kernel import box_ids

    rel = frozenset().union(*(problem.relevant(r) for r in roles))
    lists = [(box.points or {}).get(d, range(box.ext[d])) if d in rel else (0,) for d in problem.dim_names]
    lens = np.array([len(v) for v in lists], dtype=np.int64)
    if math.prod(lens.tolist()) > MAX_POINTS:
        return None
    pts = np.zeros((len(lists), int(lens.max())), dtype=np.int64)
    for i, v in enumerate(lists):
        pts[i, :len(v)] = v
    sizes = np.array([block[d] if block is not None and d in rel else 1 for d in problem.dim_names], dtype=np.int64)
    ids = [box_ids(pts, lens, _axes(problem, r)) for r in roles]
    per_dim = np.array([(i, 1, -1, 1, 0) for i in range(len(lists))], dtype=np.int64)
    blk, nblk = box_ids(pts // sizes[:, None], lens, per_dim)      # a point's block: per dim index // extent
    return (*ids, blk, nblk)


def _triple_box_dead(problem: Problem, box: Served, block: dict[str, int] | None, conds: tuple[str, ...],
                     models: dict) -> float | None:
    """:func:`_triple_dead` over the interior box's points (:func:`_box_grid`)."""
    grid = _box_grid(problem, box, block, conds)
    if grid is None:
        return None
    *ids, blk, nblk = grid
    return _triple_dead(problem, ids, blk, nblk, conds, models)


def _triple_dead(problem: Problem, ids: list, blk: np.ndarray, nblk: int, conds: tuple[str, ...],
                 models: dict) -> float | None:
    """P(no block has all three conditions nonempty), three uniform conditions (per condition its element
    ids at the box's points, -1 none, and their count; each point's block ``blk``). Conditioned on the
    third's nonzeros in the box: its elements with the same set of blocks form a group (m of them); a
    subset T of the groups holding its nonzeros leaves alive the union of their blocks (the others have
    the third empty), with probability sum_j prod_{g in T} ((1 + x)^m - 1)[j] x P(exactly j given
    elements) (its hypergeometric, depending on j alone); the other two conditions' pair enumeration
    (:func:`_pair_table_dead`) over the alive blocks' points gives the rest. The third is the condition
    with the fewest groups. Exact; None over :data:`MAX_GROUPS` groups or the pair's limits."""
    import numpy as np

    best = None
    for k in range(len(conds)):
        e, z = ids[k]
        if z == 0:                 # a condition with no element in the box: every block is dead
            return 1.0
        pairs = np.unique(np.stack([e[e >= 0], blk[e >= 0]]), axis=1)
        sets: dict[int, list[int]] = {}
        for el, bl in pairs.T.tolist():
            sets.setdefault(el, []).append(bl)
        groups: dict[tuple[int, ...], int] = {}
        for bl_list in sets.values():
            bk = tuple(bl_list)
            groups[bk] = groups.get(bk, 0) + 1
        if z > problem.elements(conds[k]):   # an interior box over padding counted more elements than the
            continue                         # tensor has: no subset probabilities (_box_grid), not the third
        if best is None or len(groups) < len(best[1]):
            best = (k, groups)
    if best is None:
        return None
    k, groups = best
    if len(groups) > MAX_GROUPS:
        return None
    c = conds[k]
    rest = [i for i in range(len(conds)) if i != k]      # the other two
    (ea, x), (eb, y) = (ids[i] for i in rest)
    a, b = (conds[i] for i in rest)
    z = ids[k][1]
    hc = subset_pmf(z, problem.elements(c), Uniform(models.get(c, DENSE).density).nnz(problem.elements(c)))
    keys = list(groups)
    cache: dict[frozenset, float] = {}
    total = hc[0]                  # no nonzero of the third in the box: every block dead
    for mask in range(1, 1 << len(keys)):
        poly = np.zeros(z + 1)
        poly[0] = 1.0
        alive: set[int] = set()
        for g in range(len(keys)):
            if mask >> g & 1:
                m = groups[keys[g]]
                term = np.array([math.comb(m, i) for i in range(m + 1)], dtype=np.float64)
                term[0] = 0.0
                poly = np.convolve(poly, term)[:z + 1]
                alive.update(keys[g])
        w = float(poly @ hc)
        if w == 0.0:
            continue
        fk = frozenset(alive)
        if fk not in cache:
            sel = np.isin(blk, np.array(sorted(alive), dtype=np.int64))
            sa, sb = np.where(sel, ea, -1), np.where(sel, eb, -1)
            ua, ra = np.unique(sa[sa >= 0], return_inverse=True)
            ub, rb = np.unique(sb[sb >= 0], return_inverse=True)
            if len(ua) == 0 or len(ub) == 0:
                cache[fk] = 1.0
            else:
                if (len(ua) + 1) * (len(ub) + 1) > MAX_TABLE:
                    return None
                sa[sa >= 0], sb[sb >= 0] = ra, rb
                d = _pair_table_dead(problem, sa, sb, blk, nblk, len(ua), len(ub), a, b, models)
                if d is None:
                    return None
                cache[fk] = d
        total += w * cache[fk]
    return min(1.0, total)


def _pair_table_dead(problem: Problem, ea: np.ndarray, eb: np.ndarray, blk: np.ndarray, nblk: int, x: int, y: int,
                     a: str, b: str, models: dict) -> float | None:
    """:func:`_pair_dead`'s sum from the box's points (per point its a-element ``ea``, b-element ``eb``, -1:
    none, and block ``blk`` of ``nblk``; x a- and y b-elements): the (|S|, u) table of the side with fewer
    elements (the other when it is over the limits; None when both are) times P(exactly S) and a's
    ``p_empty(u)``."""
    import numpy as np

    from accelsim.sparse.box_kernel import pair_table

    if y > x:                                  # enumerate the side with fewer elements, else the other
        a, b, ea, eb, x, y = b, a, eb, ea, y, x
    if y > problem.elements(b):                # an interior box over padding (_box_grid) counted more elements
        a, b, ea, eb, x, y = b, a, eb, ea, y, x    # than b has: its subset probabilities do not exist
    table = pair_table(ea, eb, blk, nblk, x, y, MAX_GROUPS)
    if not table.size:
        a, b, ea, eb, x, y = b, a, eb, ea, y, x
        table = pair_table(ea, eb, blk, nblk, x, y, MAX_GROUPS)
        if not table.size:
            return None
    ma, mb = models.get(a, DENSE), models.get(b, DENSE)
    size_a, size_b = problem.elements(a), problem.elements(b)
    if y > size_b:          # neither side can be enumerated (subset_pmf raises): the caller's lower bound
        return None
    h = subset_pmf(y, size_b, Uniform(mb.density).nnz(size_b))
    cols = np.flatnonzero(table.any(axis=0))
    row = _p_empty_row(ma, size_a)
    pa = np.array([row[u] if u in row else row.setdefault(u, ma.p_empty(u, size_a)) for u in cols.tolist()])
    return min(1.0, float(h @ table[:, cols] @ pa))


@lru_cache(maxsize=256)
def _p_empty_row(model: Model, size: int) -> dict[int, float]:
    """``model.p_empty(u, size)`` per union size u, filled as met (:func:`_pair_table_dead`: one look-up of the
    model per table, not one per column)."""
    return {}


@lru_cache(maxsize=512)
def subset_pmf(y: int, size: int, nnz: int) -> np.ndarray:
    """For j = 0..y: P(a tensor's nonzeros among y given elements are exactly a given j of them), its
    ``nnz`` nonzeros placed uniformly among ``size`` elements: C(size - y, nnz - j) / C(size, nnz) =
    prod_{i<j} (nnz - i) x prod_{i<y-j} (size - nnz - i) / prod_{i<y} (size - i), summed in logs over the
    y factors only (no lgamma of the tensor's size: relative error under 1e-12 on tensors of 3e7 elements,
    where the lgamma differences were off by up to 5e-8;
    nnz 0 or size gives exactly 1 at j = 0 or y: the two sums are the same terms in the same order).
    ValueError when y > size (no y distinct elements exist: the caller's box counted coordinates outside the
    tensor, :func:`_box_grid`), rather than NaN."""
    import numpy as np

    if not 0 <= y <= size:
        raise ValueError(f"subset_pmf: {y} given elements of a tensor of {size}: a box holds at most its tensor's elements")

    i = np.arange(y, dtype=np.float64)

    def falling(top: int) -> np.ndarray:      # [log prod_{i<m} (top - i) for m = 0..y], -inf once a factor is 0
        with np.errstate(divide="ignore"):
            return np.concatenate([[0.0], np.cumsum(np.log(np.maximum(top - i, 0.0)))])
    out = np.exp(falling(nnz) + falling(size - nnz)[::-1] - falling(size)[y])
    out.setflags(write=False)            # remembered (lru_cache): the same few (y, size, nnz) recur
    return out


def role_axes(problem: Problem, role: str) -> np.ndarray:
    """Per axis of the role's tensor (its tile extents, :func:`role_extents`): (dim index, coefficient,
    second dim index or -1, its coefficient, the axis's size); the coefficient of a missing second dim
    is 1 and never read."""
    import numpy as np

    dims = problem.dim_names
    out = []
    for c in problem.tensor(role).coords:
        (d1, k1), *rest = c.terms
        d2, k2 = rest[0] if rest else (None, 1)
        out.append((dims.index(d1), k1, -1 if d2 is None else dims.index(d2), k2, c.size))
    return np.array(out, dtype=np.int64).reshape(-1, 5)


@lru_cache(maxsize=256)
def _axes(problem: Problem, role: str) -> np.ndarray:
    """:func:`role_axes`, cached and read-only."""
    arr = role_axes(problem, role)
    arr.setflags(write=False)
    return arr


@lru_cache(maxsize=1 << 16)
def _p_empty(model: Model, u: int, size: int) -> float:
    """``model.p_empty`` remembered: the same few union sizes recur from box to box."""
    return model.p_empty(u, size)


def update_q(step: Step, problem: Problem, ext: Served, models: dict, mac_fraction: float) -> float:
    """The ineffective fraction, of the words still moving, of a MAC step's output updates that reduce
    the MACs of the box ``ext`` (:func:`served_extents` at the compute from the key's
    :func:`update_served_from`): the MACs' own fraction ``mac_fraction`` (:func:`mac_q`) when the box
    is one MAC; else, with D(C) = :func:`box_dead` under conditions C, (D(on) - D(prev)) / (1 - D(prev)):
    the updates ineffective under the conditions so far and under none of the earlier features' (the box's
    pair enumeration over its served indices: runs, or a window dim's lattice). Where updates are cut by a
    dim's edge (ceil tiling) or lie over padding, summed per class of update positions (:func:`box_classes`,
    words w): sum w (D_on - D_prev) / sum w (1 - D_prev), the interior class with the interior box's D,
    every other its clipped box's (:func:`_clipped_box_dead`, remembered by the class's canonical key:
    :func:`_update_memo`); exact. A dim that is not :func:`placed_dims` (plain in every tensor) enters by its
    accesses' counts of served indices alone (:func:`plain_positions`: a lattice of it cut by a ceil edge,
    a fanout over the dim above a temporal loop of it, gives the histogram of its cut accesses; any two
    runs with one histogram give the same value, bit for bit, which the batch scorer relies on:
    ``mapper.sparse_batch._plain_cuts``). A class beyond the exact enumeration gives every update the
    interior box.
    Remembered per problem (:func:`_update_memo`) by everything it reads: the step's conditions and their
    models, and the box's extents, window counts, lattices and runs (a value, not an approximation)."""
    if all(v == 1 for v in ext.ext.values()):
        return mac_fraction
    memo = _update_memo(problem)
    key = (step.on, step.prev, tuple((c, models.get(c, DENSE)) for c in step.on), tuple(ext.ext.items()),
           tuple(ext.windows.items()) if ext.windows else (), tuple(ext.points.items()) if ext.points else (),
           tuple(ext.runs.items()) if ext.runs else ())
    v = memo.get(key)
    if v is None:
        if len(memo) >= MAX_SHAPES:
            memo.clear()
        v = memo[key] = _update_q(step, problem, ext, models, memo)
    return v


def _update_q(step: Step, problem: Problem, ext: Served, models: dict, memo: dict) -> float:
    """:func:`update_q` of a box of more than one MAC (``memo``: the problem's, :func:`_update_memo`)."""
    conds = tuple(c for c in step.on if not never_empty(problem, c, models))
    mt = tuple((c, models.get(c, DENSE)) for c in conds)
    prev = tuple(c for c in conds if c in step.prev)
    known = memo.setdefault(("shapes", conds, prev, mt), {})

    def d_interior() -> tuple[float, float]:
        return (box_dead(problem, ext, step.on, models),
                box_dead(problem, ext, step.prev, models) if step.prev else 0.0)

    def interior() -> float:
        d_on, d_prev = d_interior()
        return 0.0 if d_prev >= 1.0 else (d_on - d_prev) / (1.0 - d_prev)
    classes = box_classes(problem, ext, OUTPUT_ROLE, conds, True) if conds else ()
    if all(full for *_, full in classes):
        return interior()
    # per class of update positions (cut by a dim's edge or a window's padding), words w:
    # sum w (D_on - D_prev) / sum w (1 - D_prev), the interior class with the interior box's D
    axes: dict = {}                        # per condition its _clip_axes (the classes share their dims)
    num, den = [], []
    d_in: tuple[float, float] | None = None
    for key, rep, w, full in classes:
        if full:
            if d_in is None:
                d_in = d_interior()
            d_on, d_prev = d_in
        else:
            if key in known:
                pair = known[key]
            else:
                if len(known) >= MAX_SHAPES:
                    known.clear()
                pair = known[key] = _class_pair(problem, key, rep, conds, prev, mt, axes)
            if pair is None:
                return interior()
            d_on, d_prev = pair
        num.append(w * (d_on - d_prev))
        den.append(w * (1.0 - d_prev))
    total = math.fsum(den)
    return 0.0 if total <= 0.0 else math.fsum(num) / total


def _class_pair(problem: Problem, key: tuple, rep: tuple, conds: tuple[str, ...], prev: tuple[str, ...],
                models: tuple, axes: dict) -> tuple[float, float] | None:
    """(D_on, D_prev) of one clipped class of :func:`update_q` (its canonical ``key`` and a representative's
    served indices ``rep``): :func:`_clipped_box_dead` under ``conds`` and ``prev``, None beyond the exact
    enumeration. An axis of a condition with no valid coordinate (its interval in ``key`` empty: the
    class's points all on padding) leaves that condition no element: with two or three conditions and no
    earlier feature that is ``_clipped_box_dead``'s 1.0, taken from the key. ``axes`` (per condition its
    :func:`_clip_axes`, filled on first use) is shared by the classes of one box."""
    if (not prev and 2 <= len(conds) <= 3 and not any(isinstance(m, Structured) for _, m in models)
            and any(lo >= hi for _, clips in key for lo, hi in clips)
            and math.prod(len(i) for _, i in rep) <= MAX_POINTS):
        return (1.0, 0.0)
    if not axes:
        dims = tuple(d for d in problem.dim_names if d in dict(rep))
        axes.update({c: _clip_axes(problem, c, dims) for c in conds})
    on_ = _clipped_box_dead(problem, rep, None, conds, models, axes)
    prev_ = _clipped_box_dead(problem, rep, None, prev, models, axes) if prev else 0.0
    return None if on_ is None or prev_ is None else (on_, prev_)


MAX_SHAPES = 1 << 14         # entries one problem's update memo keeps, and shapes per conditions (cleared when full)
MEMO_PROBLEMS = 16           # problems (layers) whose update memo is kept (all dropped when one more comes)
_UPDATE_MEMO: dict[int, tuple[Problem, dict]] = {}


def _update_memo(problem: Problem) -> dict:
    """The problem's memo of :func:`update_q`: its values per box, and per (conditions, earlier conditions,
    models) a dict of the clipped classes' (D_on, D_prev) by canonical key (:func:`box_classes`), None
    beyond the exact enumeration. Classes with one key are translates of one clipped box with the same
    points valid: their coordinates differ by a constant per axis, every element and point keeps its
    rank, and the enumeration does the same float operations (bit for bit); the update boxes of many
    nests share a few clipped shapes at their edges, each enumerated once. Found by the problem's
    identity (the entry holds the problem, so its id is not reused), not its hash (a Problem's hash walks
    all its tensors' axes: several per call, most of a known box's cost); at most :data:`MEMO_PROBLEMS`
    problems (the clustered Eyeriss v2 benchmark's layer after its 10,000 nests: 439 values and 7,064
    shapes, 1.4 MB). A test that replaces a function :func:`update_q` reads gives it an empty memo
    meanwhile (``_UPDATE_MEMO``)."""
    entry = _UPDATE_MEMO.get(id(problem))
    if entry is None or entry[0] is not problem:
        if len(_UPDATE_MEMO) >= MEMO_PROBLEMS:
            _UPDATE_MEMO.clear()
        entry = _UPDATE_MEMO[id(problem)] = (problem, {})
    return entry[1]


def kept_exact(problem: Problem, models: dict, conds: tuple[str, ...]) -> int | None:
    """The number of MACs whose operands in ``conds`` are all nonzero, counted over the masks
    (``accelsim.sparse.masks.effective_macs``) when every condition is an actual mask; else None."""
    if set(conds) <= {IFMAP, WEIGHT} and all(isinstance(models.get(c), Actual) for c in conds):
        from accelsim.sparse.masks import effective_macs

        def mask(role: str) -> np.ndarray | None:
            return models[role].mask if role in conds else None
        return effective_macs(problem, mask(IFMAP), mask(WEIGHT))
    return None


def kept_fraction(problem: Problem, models: dict, conds: tuple[str, ...], macs: int, inside: bool = False) -> float:
    """The fraction of the MACs whose operands in ``conds`` are all nonzero: exact over the masks when
    every condition is an actual mask (:func:`kept_exact`), else :func:`mac_keep` (the product of the
    densities over the MACs whose operands are elements: exact in expectation when every condition is a
    uniform or N:M model; an actual mask among uniform ones enters by its density; ``inside``: of those
    MACs alone)."""
    exact = kept_exact(problem, models, conds) if macs else None
    if exact is not None:
        return exact / macs
    return mac_keep(problem, models, conds, inside)


def mac_q(step: Step, problem: Problem, models: dict, dense_macs: int, eff: float, inside: bool = False) -> float:
    """The ineffective fraction, of the MACs still effective (``eff`` of ``dense_macs``), of a compute
    step: the MACs with every condition so far nonzero (:func:`kept_fraction` of ``step.on``, the
    accumulated conditions) stay effective."""
    if eff <= 0:
        return 0.0
    p = kept_fraction(problem, models, step.on, dense_macs, inside)
    return 1.0 - p / (eff / dense_macs)


@dataclass(frozen=True)
class MacSteps:
    """The compute steps of a plan applied in order: ``q[i]`` the ineffective fraction of step ``i``
    (index in ``plan.steps``; compute steps only), the MACs left ``effective``, and the MACs each kind
    of step removed (``gated``, ``skipped``). Invariant: effective + gated + skipped == dense MACs."""
    q: dict[int, float]
    effective: float
    gated: float
    skipped: float


def mac_steps(pl: Plan, problem: Problem, models: dict, dense_macs: int, inside: bool = False) -> MacSteps:
    """The one walk over a plan's compute steps (:func:`mac_q` each, on the MACs still effective),
    shared by :func:`analyze` and the batch scorer (``accelsim.mapper.sparse_batch``). ``inside``: as if
    every MAC's operands were elements (:func:`lockstep_fraction`)."""
    eff, gated, skipped = float(dense_macs), 0.0, 0.0
    q: dict[int, float] = {}
    for i, st in enumerate(pl.steps):
        if st.child is not None:
            continue
        exact = kept_exact(problem, models, st.on) if eff > 0 else None
        if exact is None:
            q[i] = mac_q(st, problem, models, dense_macs, eff, inside)
            lost = eff * q[i]
        else:           # actual masks: whole MACs (the conditions accumulate, so every step before was exact too)
            lost = eff - exact
            q[i] = lost / eff
        eff -= lost
        if st.gate:
            gated += lost
        else:
            skipped += lost
    return MacSteps(q, eff, gated, skipped)


def lockstep_fraction(pl: Plan, problem: Problem, models: dict, dense_macs: int, skipped: float, units: int) -> float:
    """The fraction of its MACs a compute unit does not skip, for the cycles (a gated MAC keeps its slot):
    one unit, ``1 - skipped / MACs`` over every MAC (exact); several in lockstep, the larger of that and the
    same over the MACs whose operands are elements (:func:`mac_steps` ``inside``). Units differ by how
    many of their MACs reach padding, and the step waits for the busiest. When padding only removes slots
    (a skip on the padded tensor) the busiest unit is one away from the padding (an RS array's middle
    filter row), and the second is an upper bound of every unit's fraction; when a gate on the padded
    tensor comes first, a MAC on padding keeps its slot, the units that reach padding are the busiest, and
    the mean unit is taken (below them; exact when every unit sees the same padding, a fanout over K).
    Equal when no skip or gate condition reaches padding."""
    p = (dense_macs - skipped) / dense_macs
    if units <= 1:
        return p
    inner = mac_steps(pl, problem, models, dense_macs, inside=True).skipped
    return max(p, (dense_macs - inner) / dense_macs)


def lockstep_steps(pl: Plan) -> list[tuple[tuple[str, ...], bool]]:
    """The MAC features the units' slots depend on: (conditions, gate) in the spec's order, up to the last
    skip (a gate after it changes no slot)."""
    mac = [st for st in pl.steps if st.child is None]
    last = max((i for i, st in enumerate(mac) if not st.gate), default=-1)
    return [(st.on, st.gate) for st in mac[:last + 1]]


def lockstep_exact(pl: Plan, problem: Problem, flat: Flat, models: dict) -> float | None:
    """The lockstep ratio walked over the masks (``sparse.lockstep.lockstep_ratio``: per run its busiest
    unit's kept slots) when every condition of the MAC features up to the last skip is an actual mask of
    the ifmap or the weight; else None (the uniform model)."""
    steps = lockstep_steps(pl)
    if not steps or not all(isinstance(models.get(c), Actual) for on, _ in steps for c in on):
        return None
    from accelsim.sparse.lockstep import lockstep_ratio  # numba: actual masks only

    return lockstep_ratio(problem, flat, steps, {r: models[r].mask for on, _ in steps for r in on})


def expects_lockstep(pl: Plan, models: dict) -> bool:
    """Whether several units' lockstep cycles take :func:`lockstep_expected` (every condition of the MAC
    features up to the last skip a uniform density, or none, of the ifmap or the weight; not all N:M)."""
    steps = lockstep_steps(pl)
    return bool(steps) and all(c in OPERAND_ROLES and isinstance(models.get(c, DENSE), Uniform)
                               for on, _ in steps for c in on)


def lockstep_expected(pl: Plan, problem: Problem, flat: Flat, models: dict) -> tuple[float, float] | None:
    """(the expected lockstep ratio over random masks, its standard error) (``sparse.lockstep_expect.
    expected_ratio``: per class of runs the mean of the busiest unit's kept slots) when every condition of
    the MAC features up to the last skip is a uniform density (or none: dense) of the ifmap or the weight;
    else None (the binomial model)."""
    steps = lockstep_steps(pl)
    if not expects_lockstep(pl, models):
        return None
    from accelsim.sparse.lockstep_expect import expected_ratio  # numba

    return expected_ratio(problem, flat, steps, {c: models.get(c, DENSE).density for on, _ in steps for c in on})


def balanced(spec: SparseSpec, models: dict) -> bool:
    """Every condition the compute units' slots depend on is N:M structured, so every block holds the same
    work (no imbalance): the skip-MAC features' and those of the MAC gates before the last of them (a
    MAC a gate removed keeps its slot, so a uniform gate before an N:M skip makes the slots it leaves
    random: review rev24, 8 P-units at 1:2, 5.25 cycles against the exact expected maximum 6.0; a gate
    after the last skip changes no slot). Features apply in the spec's order (gates, then skips)."""
    mac = [ft for ft in spec.features if ft.role is None]
    last = max((i for i, ft in enumerate(mac) if ft.kind != GATE), default=-1)
    return all(isinstance(models.get(c), Structured) for ft in mac[:last + 1] for c in ft.on)


def analyze(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, dense: Actions, spec: SparseSpec,
            models: dict[str, Model]) -> SparseActions:
    """The sparse view of ``dense`` (module docstring)."""
    spec = chosen_spec(spec, problem, models, hierarchy.word_bits)
    flat = flatten(problem, nest)
    pl = plan(nest, spec)
    names = pl.names
    n = len(names)
    wb = hierarchy.word_bits
    ratio: dict = {}        # (level index, role) -> (data words, metadata words) per dense word
    formats = {}
    for (i, r), fmt in pl.compressed:
        ratio[(i, r)] = ratio_of(fmt, problem, dim_extents(problem, flat, flat.cut_of(i, r)), r, models.get(r, DENSE), wb)
        formats[(names[i], r)] = fmt.text()
    idx = {nm: i for i, nm in enumerate(names)}
    data_s, meta_s, data_n, meta_n = {}, {}, {}, {}
    for (lv, r, a), w in dense.storage.items():
        d, m = ratio.get((idx[lv], r), (1.0, 0.0))
        data_s[(lv, r, a)] = w * d
        meta_s[(lv, r, a)] = w * m
    for (lv, r, a), w in dense.network.items():
        d, m = ratio.get(pl.source((lv, r, a), True), (1.0, 0.0))
        data_n[(lv, r, a)] = w * d
        meta_n[(lv, r, a)] = w * m
    gated_s: dict = {}
    gated_n: dict = {}
    skip_s: dict = {}
    skip_n: dict = {}
    dens = {r: models.get(r, DENSE).density for r in ROLES}

    def move(keys_s: tuple, keys_n: tuple, q: float, gate: bool) -> None:
        """An expected feature's ineffective fraction ``q`` of each of its action keys (and metadata)."""
        for table, meta, keys in ((data_s, meta_s, keys_s), (data_n, meta_n, keys_n)):
            for k in keys:
                if k in table:
                    move_words(k, table[k] * q, meta[k] * q, gate)

    def move_words(k: tuple, words: float, meta_words: float, gate: bool) -> None:
        """An exact feature's dead words (and their metadata) of one action key."""
        table, meta, g_tab, s_tab = ((data_s, meta_s, gated_s, skip_s) if k in data_s else
                                     (data_n, meta_n, gated_n, skip_n))
        if k not in table:
            return
        table[k] -= words
        if gate:
            g_tab[k] = g_tab.get(k, 0.0) + words
        elif spec.skipped_metadata == META_READ:      # the skipped access's metadata is still read
            s_tab[k] = s_tab.get(k, 0.0) + words
        else:
            meta[k] -= meta_words
            s_tab[k] = s_tab.get(k, 0.0) + words + meta_words

    macs = mac_steps(pl, problem, models, dense.macs)
    eff, gated_macs, skipped_macs = macs.effective, macs.gated, macs.skipped
    def move_dead(st: Step, role: str, level: int, child: int, conds: list, tag: tuple) -> None:
        """An exact feature (every condition an actual mask): the words of the events it makes
        ineffective (``accelsim.sparse.gating.dead_words`` under the conditions so far, minus what the
        earlier features of ``tag`` removed)."""
        from accelsim.sparse.gating import dead_words

        keys = (*st.keys_s, *st.keys_n)
        dead = dead_words(problem, hierarchy, nest, flat, role, level, child, conds, models, keys)
        before = dead_so_far.get(tag, {})
        dead_so_far[tag] = dead
        for k in keys:       # the dead events' dense words x the format's ratio (on a mask: measured on it)
            words = dead.get(k, 0.0) - before.get(k, 0.0)
            d, m = ratio.get(pl.source(k, k not in st.keys_s), (1.0, 0.0))
            move_words(k, float(words * d), float(words * m), st.gate)

    groups: dict = {}          # (level index, role) -> the condition tuples of its features so far
    dead_so_far: dict = {}     # (level index, role) or the MACs -> the words its exact features removed so far
    par_out = pl.net_parent.get((n - 1, OUTPUT_ROLE), 0)      # the level feeding the compute the output
    for i, st in enumerate(pl.steps):
        if st.child is None:
            # each read-modify-write serves one MAC (no fanout at or below the level, the output's words
            # one per element): the MACs' exact fraction; else event by event as a storage feature
            per_mac = not any(lp.spatial and lp.level >= par_out for lp in flat.loops) and not (
                isinstance(models.get(OUTPUT_ROLE), Actual) and spec.format(names[par_out], OUTPUT_ROLE).compressed)
            if not per_mac and set(st.on) <= {IFMAP, WEIGHT} and all(isinstance(models.get(c), Actual) for c in st.on):
                move_dead(st, OUTPUT_ROLE, par_out, n, [st.on], ("mac",))
                continue
            for lo, keys in st.groups():      # an update reducing the MACs below the fanouts from lo on
                q = update_q(st, problem, served_extents(problem, flat, n, lo, OUTPUT_ROLE, n), models, macs.q[i])
                move(tuple(k for k in keys if k in st.keys_s), tuple(k for k in keys if k in st.keys_n), q, st.gate)
            continue
        assert st.level is not None and st.role is not None
        g = groups.setdefault((st.level, st.role), [])
        g.append(st.on)
        if all(isinstance(models.get(c), Actual) for on in g for c in on):
            move_dead(st, st.role, st.level, st.child, g, (st.level, st.role))
            continue
        for lo, keys in st.groups():
            move(tuple(k for k in keys if k in st.keys_s), tuple(k for k in keys if k in st.keys_n),
                 group_q(tuple(g), st, problem, served_extents(problem, flat, st.child, lo, st.role, n), models, n),
                 st.gate)
    cycles, how, se = float(dense.cycles), NO_SKIP, 0.0
    if skipped_macs and dense.macs:
        walked = lockstep_exact(pl, problem, flat, models) if dense.active > 1 else None
        expected = (lockstep_expected(pl, problem, flat, models)
                    if walked is None and dense.active > 1 and not balanced(spec, models) else None)
        if walked is not None:
            cycles, how = dense.cycles * walked, WALKED
        elif expected is not None:
            cycles, how, se = dense.cycles * expected[0], EXPECTED, dense.cycles * expected[1]
        else:
            p = lockstep_fraction(pl, problem, models, dense.macs, skipped_macs, dense.active)
            how = ONE_UNIT if dense.active <= 1 else BALANCED if balanced(spec, models) else BINOMIAL
            cycles = dense.cycles * (p if how != BINOMIAL else imbalance(flat, dense.active, p))
    data = Actions(dense.macs, dense.cycles, dense.active, data_s, data_n)
    return SparseActions(dens, dense.macs, eff, gated_macs, skipped_macs, dense.cycles, cycles, dense.active, data,
                         Actions(0, 0, dense.active, meta_s, meta_n),
                         Actions(0, 0, dense.active, gated_s, gated_n),
                         Actions(0, 0, dense.active, skip_s, skip_n), formats, how, se)


def priced_actions(sa: SparseActions, compute: str) -> Actions:
    """One action table of everything that costs energy, for ``accelsim.cost.energy.energy_of``: data
    words under the dense action's name (``read``), metadata words under ``metadata_read``, gated words
    under ``gated_read``; effective MACs as ``macs`` and gated MACs as the op ``gated_compute`` of the
    compute level ``compute``; skipped words and MACs are left out (they do not happen). Each sparse
    action is priced by its own energy-table entry (``accelsim.energy_table.with_sparse_defaults``)."""
    storage: dict = dict(sa.data.storage)
    network: dict = dict(sa.data.network)
    for kind, part in ((METADATA, sa.metadata), (GATED, sa.gated)):
        for (lv, r, a), v in part.storage.items():
            storage[(lv, r, sparse_action(kind, a))] = v
        for (lv, r, a), v in part.network.items():
            network[(lv, r, sparse_action(kind, a))] = v
    ops = {(compute, sparse_action(GATED, COMPUTE)): sa.gated_macs} if sa.gated_macs else {}
    return Actions(sa.effective_macs, sa.dense_cycles, sa.active, storage, network, ops)   # type: ignore[arg-type]


def bandwidth_actions(sa: SparseActions) -> Actions:
    """The words that take bandwidth, per action key: data + metadata + gated (a gated access still
    takes its slot; a skipped one does not), added in that order; the sparse ideal cycles rounded up
    and the dense MACs. What the latency bound (``accelsim.cost.bound``) of the sparse view sees."""
    merged: dict[str, dict] = {}
    for part in (sa.data, sa.metadata, sa.gated):
        for attr in ("storage", "network"):
            tab = merged.setdefault(attr, {})
            for k, v in getattr(part, attr).items():
                tab[k] = tab.get(k, 0.0) + v
    return Actions(sa.macs, math.ceil(sa.cycles), sa.active, merged["storage"], merged["network"])


def compressed_tiles(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec: SparseSpec,
                     models: dict[str, Model]) -> dict[tuple[str, str], float]:
    """(level, role) -> words the role's tile occupies at the level in its format (payload + metadata
    in data-word equivalents), per ``spec.capacity``: ``expected`` under the density model, or
    ``worst`` (every element nonzero: a compressed format can then exceed the dense tile), each
    ``adaptive`` format as chosen at the density (:func:`chosen_spec`)."""
    spec = chosen_spec(spec, problem, models, hierarchy.word_bits)
    flat = flatten(problem, nest)
    out = {}
    for i, lm in enumerate(nest.levels):
        if i == 0:
            continue
        for r in lm.keeps:
            ext = tile_extents(problem, flat, flat.cut_of(i, r), r)
            model = DENSE if spec.capacity == WORST else models.get(r, DENSE)
            out[(lm.level, r)] = spec.format_on(lm.level, r, problem).words(ext, model, problem.elements(r),
                                                                            hierarchy.word_bits)
    return out


@dataclass(frozen=True)
class CapacityCheck:
    """One store of one level: the words of ``members`` ((role, part): ``ALL_WORDS``, ``DATA_WORDS`` or
    ``META_WORDS``, accelsim.sparse.formats) it holds against its ``words``. ``metadata``: a role's own
    metadata store (the spec's ``metadata_capacity``), else a capacity group of the level."""

    level: str
    members: tuple[tuple[str, str], ...]
    words: float
    metadata: bool = False


def capacity_checks(hierarchy: Hierarchy, spec: SparseSpec) -> tuple[CapacityCheck, ...]:
    """Every store the compressed tiles must fit, outermost level first: each capacity group of the
    level (a role with its own metadata store there counts its data words, every other role its data +
    metadata words), then each metadata store the spec gives at the level (its role's metadata words)."""
    out = []
    for lv in hierarchy.levels:
        for roles, words in lv.capacity:
            out.append(CapacityCheck(lv.name, tuple((r, ALL_WORDS if spec.metadata_words(lv.name, r) is None else DATA_WORDS)
                                                    for r in roles), words))
        for (level, r), meta_words in spec.metadata_capacity:
            if level == lv.name:
                out.append(CapacityCheck(lv.name, ((r, META_WORDS),), meta_words, True))
    return tuple(out)


@dataclass(frozen=True)
class Overflow:
    """One store of one level that the compressed tiles overflow: ``used`` words (the spec's ``size``:
    expected or worst) of ``roles`` against ``words`` available; ``check`` says which words (payload +
    metadata, payload alone, or a metadata store's metadata)."""

    level: str
    roles: tuple[str, ...]
    used: float
    words: float
    size: str
    check: CapacityCheck | None = None

    @property
    def message(self) -> str:
        if self.check is not None and self.check.metadata:
            return (f"{self.level}: {'+'.join(self.roles)} metadata takes {self.used:,.1f} words "
                    f"({self.size} compressed size) > metadata capacity {self.words:,}")
        return (f"{self.level}: {'+'.join(self.roles)} tiles take {self.used:,.1f} words "
                f"({self.size} compressed size) > capacity {self.words:,}")


def capacity_used(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec: SparseSpec,
                  models: dict[str, Model]) -> list[tuple[CapacityCheck, float, tuple[str, ...]]]:
    """Per :func:`capacity_checks` store: the words its members' tiles take (``Format.part_words`` per
    ``spec.capacity``, as :func:`compressed_tiles`) and the roles the nest keeps there."""
    spec = chosen_spec(spec, problem, models, hierarchy.word_bits)
    flat = flatten(problem, nest)
    index = {lm.level: i for i, lm in enumerate(nest.levels)}
    out = []
    for c in capacity_checks(hierarchy, spec):
        i = index[c.level]
        lm = nest.levels[i]
        used, kept = 0.0, []
        for r, part in c.members:
            if i == 0 or r not in lm.keeps:
                continue
            ext = tile_extents(problem, flat, flat.cut_of(i, r), r)
            model = DENSE if spec.capacity == WORST else models.get(r, DENSE)
            used += spec.format_on(c.level, r, problem).part_words(part, ext, model, problem.elements(r),
                                                                   hierarchy.word_bits)
            kept.append(r)
        out.append((c, used, tuple(kept)))
    return out


def group_rooms(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec: SparseSpec,
                models: dict[str, Model]) -> dict[tuple[str, int], tuple[float, float]]:
    """(level, index of its capacity group) -> (words the nest's tiles of the group's roles take, words of
    room beside them for the next refill), by :func:`capacity_used` (compressed, per ``spec.capacity``):
    what the simulator's double-buffering room sees of a sparse view (``accelsim.sim.general.simulate_nest``'s
    ``occupied``). The tiles take the group's words and those of its roles' own metadata stores there (a
    refill brings data and metadata); a refill splits over the stores as the tiles do, so the room is
    the least over the stores of ``free x total / used`` (the group's free words when it has no store)."""
    checks = capacity_used(problem, hierarchy, nest, spec, models)
    meta = {(c.level, c.members[0][0]): (c.words, used) for c, used, _ in checks if c.metadata}
    out: dict[tuple[str, int], tuple[float, float]] = {}
    for c, used, kept in checks:
        if c.metadata:
            continue
        stores = [(c.words, used)] + [meta[(c.level, r)] for r in kept if (c.level, r) in meta]
        total = sum(u for _, u in stores)
        room = min((max(0.0, cap - u) * total / u for cap, u in stores if u > 0), default=float(c.words))
        out[(c.level, sum(1 for lv, _ in out if lv == c.level))] = (total, room)
    return out


def capacity_problems(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, spec: SparseSpec,
                      models: dict[str, Model]) -> list[Overflow]:
    """Every store the compressed tiles overflow (:func:`capacity_used`), outermost level first;
    ``roles`` are the store's roles the nest keeps there."""
    return [Overflow(c.level, kept, used, c.words, spec.capacity, c)
            for c, used, kept in capacity_used(problem, hierarchy, nest, spec, models) if used > c.words]


def lockstep_run(flat: Flat) -> int:
    """Dense MACs per compute unit between synchronisations: the product of a run's loops (:func:`lockstep_loops`)."""
    return math.prod(lp.factor for lp in lockstep_loops(flat)[2])


def imbalance(flat: Flat, units: int, p: float) -> float:
    """E[max over ``units`` of Binomial(t, p)] / t with t = :func:`lockstep_run` (p with one unit)."""
    return imbalance_t(lockstep_run(flat), units, p)


def imbalance_t(t: int, units: int, p: float) -> float:
    """E[max over ``units`` of Binomial(t, p)] / t (p with one unit, or p 0 or 1)."""
    if units <= 1 or p in (0.0, 1.0):
        return p
    return expected_max_binomial(t, p, units) / t


__all__ = ["CapacityCheck", "LOCKSTEP_MODELS", "OPERAND_ROLES", "Overflow", "Plan", "SparseActions", "Step", "analyze", "bandwidth_actions",
           "capacity_checks", "capacity_problems", "capacity_used",
           "compressed_tiles", "group_rooms", "imbalance", "imbalance_t", "kept_exact", "kept_fraction", "mac_keep",
           "lockstep_fraction", "lockstep_run", "mac_q", "in_range",
           "mac_steps", "MacSteps",
           "lockstep_exact", "lockstep_expected", "expects_lockstep", "lockstep_steps",
           "box_classes", "box_dead", "plan", "priced_actions", "reuse_loops", "Served", "dim_runs",
           "dim_positions", "plain_positions", "placed_dims", "edge_classes", "served_windows", "subset_pmf",
           "served_extents", "served_from", "served_loops", "served_points", "window_axes", "window_count",
           "step_q", "tile_extents", "update_q", "update_served_from"]
