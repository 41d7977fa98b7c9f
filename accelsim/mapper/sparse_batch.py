"""The mapper's sparse scorer: the sparse view of a batch of dense count rows (fixed-shape archs).

``SparseBatch(layer, arch, keeps, spec, models)`` scores the rows of ``accelsim.cost.fast.count_batch``
(one per mapping; the dense numba kernel is not touched) with the sparse model of
``accelsim.sparse.model.analyze`` on the same table ``accelsim.sparse.layer.dense_table`` gives the slow
path (the count rows as actions): per count column, data and metadata words = the dense words x the
format's per-word factors of its (level, tensor) (``Format.per_word``), then each gating/skipping step
of ``accelsim.sparse.model.plan`` in the spec's order moves its ineffective fraction to gated words
(or drops it); MACs and cycles as ``analyze``; energy = the priced table (``sparse.model.priced_actions``)
summed in the energy table's canonical order (``cost.energy.canonical``); cycles = the latency bound of
the compressed words (``cost.bound.bound_parts`` on ``sparse.layer.bandwidth_counts``' rows). Every
float operation is the slow path's, in its order, so :meth:`SparseBatch.score` equals
``accelsim.mapper.sparse_rank.sparse_score`` bit for bit (tests/test_sparse_batch.py).

What depends on the mapping beyond the dense counts is evaluated by the slow path's own functions
(``ratio_of``, ``step_q``, ``imbalance_t``, ``Format.words``), once per distinct value of what it
depends on (a tile's per-dim extents; the lockstep run and the active units), cached for the layer:
with one-rank formats linear in the tile (CP, bitmask) or any format at DRAM (whose tile is the whole
tensor in every mapping: Eyeriss v1's RLE), condition tiles of one element and no skipping (Eyeriss
v1's preset) nothing does, and a batch costs one numba pass.

Capacity (:meth:`glb_over`, :meth:`rf_fits`): each kept tile's compressed words (``Format.words``,
the spec's ``expected`` or ``worst`` size) against the hierarchy's capacity groups, as
``accelsim.sparse.model.capacity_problems`` checks them, so mappings that fit only compressed are
proposed. :func:`unsupported` names what the batch path does not cover (actual masks; a MAC feature
on a psum row that merges actions); the mapper then re-ranks the dense shortlist instead
(``accelsim.mapper.sparse_rank.rerank``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.cost.counts import _placed
from accelsim.cost.energy import canonical
from accelsim.cost.fast import COL_ACTIVE_PES, COLUMNS
from accelsim.energy_table import arch_table, network_name
from accelsim.hierarchy import from_arch
from accelsim.loopnest import LevelMap, LoopNest
from accelsim.mapper.batch import _tile_need
from accelsim.mapping import COLS, ROWS
from accelsim.mapping import DRAM as DRAM_LEVEL
from accelsim.mapping import GLB as GLB_LEVEL
from accelsim.mapping import LEVELS as MAPPING_LEVELS
from accelsim.mapping import RF as RF_LEVEL
from accelsim.names import (
    ANY_ROLE,
    COMPUTE,
    DOWN,
    DOWN_DEST,
    DRAM,
    FILL,
    GATED,
    GLB,
    IFMAP,
    MAC,
    METADATA,
    PSUM,
    READ,
    REG,
    RF,
    ROLES,
    UP_SRC,
    WEIGHT,
    sparse_action,
)
from accelsim.problem import from_layer
from accelsim.sparse.density import DENSE, Actual
from accelsim.sparse.model import balanced, imbalance_t, mac_steps, plan, ratio_of, role_extents, step_q
from accelsim.sparse.spec import WORST, SparseSpec, check

LEVELS = (DRAM, GLB, RF, REG)
NO_LOOPS = len(MAPPING_LEVELS)        # below the register: no mapping level
# level index (LEVELS) -> first mapping level (accelsim.mapping.LEVELS) below its cut
START = {LEVELS.index(DRAM): DRAM_LEVEL, LEVELS.index(GLB): GLB_LEVEL, LEVELS.index(RF): RF_LEVEL,
         LEVELS.index(REG): NO_LOOPS}
DATA_K, META_K, GATED_K, MACS_K, GMACS_K = range(5)
N_ROLES = len(ROLES)


def unsupported(spec: SparseSpec, models: dict, reg_keep: tuple[bool, ...]) -> str | None:
    """Why the batch path cannot score this sparsity exactly (None: it can)."""
    if any(isinstance(m, Actual) for m in models.values()):
        return "actual masks (their exact MAC counts come from the masks, not a density)"
    if not reg_keep[ROLES.index(PSUM)] and any(ft.role is None for ft in spec.features):
        return "a MAC feature without a psum register (the RF's psum row merges reads and drains)"
    return None


def _nest(keeps: tuple[tuple[bool, ...], ...]) -> LoopNest:
    def roles(keep: tuple[bool, ...]) -> tuple[str, ...]:
        return tuple(r for r, k in zip(ROLES, keep) if k)

    glb, rf, reg = keeps
    return LoopNest((LevelMap(DRAM, keeps=ROLES), LevelMap(GLB, keeps=roles(glb)), LevelMap(RF, keeps=roles(rf)),
                     LevelMap(REG, keeps=roles(reg))))


class _Cache:
    """Values of a function of a tile's per-dim extents (a float or a tuple of floats), computed once
    per distinct extents; a call gives (B,) or (B, k)."""

    def __init__(self, dims: np.ndarray, fn):
        self.fn, self.dims = fn, dims
        radix = np.cumprod(np.concatenate([[1], dims[:-1] + 1]))
        self.radix = radix if float(np.prod(dims.astype(np.float64) + 1)) < 2.0 ** 62 else None
        self.memo: dict = {}

    def __call__(self, ext: np.ndarray) -> np.ndarray:
        if self.radix is not None:
            keys = ext @ self.radix
            uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        else:
            _, first, inv = np.unique(ext, axis=0, return_index=True, return_inverse=True)
            uniq = [tuple(ext[i]) for i in first]    # type: ignore[assignment]
        vals = []
        for u, i in zip(uniq, first):
            key = int(u) if self.radix is not None else u
            v = self.memo.get(key)
            if v is None:
                v = self.memo[key] = self.fn(ext[i])
            vals.append(v)
        return np.asarray(vals, dtype=np.float64)[inv.reshape(-1)]


class SparseBatch:
    def __init__(self, layer, arch, keeps: tuple[tuple[bool, ...], ...], spec: SparseSpec, models: dict):
        h = from_arch(arch)
        check(spec, {lv.name: lv.keeps for lv in h.levels}, h.compute.name)
        self.reason = unsupported(spec, models, keeps[2])
        self.problem = problem = from_layer(layer)
        self.models, self.spec, self.wb = models, spec, arch.word_bits
        self.dims = np.array([problem.size(d) for d in problem.dim_names], dtype=np.int64)
        nest = _nest(keeps)
        pl = plan(nest, spec)
        n = len(LEVELS)
        idx = {nm: i for i, nm in enumerate(LEVELS)}
        storage, network = _placed()
        self.keys = [k for _, k in storage] + [k for _, k in network]
        self.kcol = np.array([COLUMNS.index(nm) for nm, _ in storage] + [COLUMNS.index(nm) for nm, _ in network],
                             dtype=np.int64)
        kidx = {k: i for i, k in enumerate(self.keys)}
        n_storage = len(storage)
        # per key: the (level index, role) whose format sets its data / metadata words
        src = [(idx[lv], r) for lv, r, _ in self.keys[:n_storage]]
        src += [(pl.net_parent.get((idx[lv], r), idx[lv]), r) for lv, r, _ in self.keys[n_storage:]]
        self.const_ratio = np.ones((1, len(self.keys))), np.zeros((1, len(self.keys)))
        full = {d: problem.size(d) for d in problem.dim_names}
        per_level: dict[int, list] = {}      # level index -> [(key indices, format, role, model)] of tile-dependent formats
        for (i, r), fmt in pl.compressed:
            ks = [k for k, s in enumerate(src) if s == (i, r)]
            model = models.get(r, DENSE)
            if fmt.tile_free or i == 0:      # linear in the tile, or the backing store's tile: the whole tensor
                d, m = ratio_of(fmt, problem, full, r, model, self.wb)
                self.const_ratio[0][0, ks], self.const_ratio[1][0, ks] = d, m
            else:
                per_level.setdefault(i, []).append((ks, fmt, r, model))
        # one cache per level: (data, metadata) per dense word of each of its tile-dependent formats
        self.row_ratio: list[tuple[int, list[list[int]], _Cache]] = []
        for i, items in per_level.items():
            def fn(e, items=items):
                return tuple(v for _, fmt, r, model in items
                             for v in ratio_of(fmt, problem, self._ext(e), r, model, self.wb))
            self.row_ratio.append((i, [ks for ks, _, _, _ in items], _Cache(self.dims, fn)))
        # steps: key lists, gate flags, constant q or a per-row cache keyed by the child's extents
        self.steps: list[tuple[list[int], bool, float, tuple[int, _Cache] | None]] = []
        ms = mac_steps(pl, problem, models, layer.macs)
        eff, gated_macs, skipped_macs = ms.effective, ms.gated, ms.skipped
        for i, st in enumerate(pl.steps):
            ks = [kidx[k] for k in st.keys_s + st.keys_n if k in kidx]
            if st.child is None:
                self.steps.append((ks, st.gate, ms.q[i], None))
            elif st.child == n or START[st.child] == NO_LOOPS:      # the compute, or a child with no loops below its cut
                ext = None if st.child == n else {d: 1 for d in problem.dim_names}
                self.steps.append((ks, st.gate, step_q(st, problem, ext, models, n), None))
            else:
                cache = _Cache(self.dims, lambda e, st=st: step_q(st, problem, self._ext(e), models, n))
                self.steps.append((ks, st.gate, 0.0, (START[st.child], cache)))
        self.eff, self.gated_macs, self.skipped_macs = eff, gated_macs, skipped_macs
        self.p = eff / layer.macs if layer.macs else 0.0
        self.skipping = bool(skipped_macs and layer.macs)
        self.balanced = balanced(spec, models)
        self.imb: dict = {}
        # energy terms in the table's canonical order: (kind, key index, pJ each)
        table = arch_table(arch)
        terms: dict = {(MAC, ANY_ROLE, COMPUTE): (MACS_K, 0), (MAC, ANY_ROLE, sparse_action(GATED, COMPUTE)): (GMACS_K, 0)}
        gated_keys = {k for ks, gate, _, _ in self.steps if gate for k in ks}
        for k, (lv, r, a) in enumerate(self.keys):
            comp = lv if k < n_storage else network_name(lv)
            terms[(comp, r, a)] = (DATA_K, k)
            terms[(comp, r, sparse_action(METADATA, a))] = (META_K, k)
            if k in gated_keys:
                terms[(comp, r, sparse_action(GATED, a))] = (GATED_K, k)
        order = canonical(list(terms), table)
        self.e_kind = np.array([terms[t][0] for t in order], dtype=np.int64)
        self.e_key = np.array([terms[t][1] for t in order], dtype=np.int64)
        self.e_w = np.array([table.pj(*t) for t in order], dtype=np.float64)
        # the latency bound's inputs: per level (dram, glb) its read / write keys per role and bandwidths
        lv_keys, bws = [], []
        for li, name in enumerate((DRAM, GLB)):
            level = h.levels[li]
            lv_keys.append([kidx[(name, r, READ)] for r in ROLES] + [kidx[(name, r, FILL)] for r in ROLES])
            bws.append([level.read_bandwidth or 0.0, level.write_bandwidth or 0.0, level.bandwidth or 0.0])
        self.lv_keys = np.array(lv_keys, dtype=np.int64)
        self.bws = np.array(bws, dtype=np.float64)
        from noc.registry import network_bound

        fan = h.levels[1].fanout
        assert fan is not None
        self.ab = np.array(network_bound(fan.network, fan.params), dtype=np.float64)
        self.net_keys = np.array([kidx[(GLB, IFMAP, DOWN_DEST)], kidx[(GLB, IFMAP, DOWN)], kidx[(GLB, WEIGHT, DOWN_DEST)],
                                  kidx[(GLB, WEIGHT, DOWN)], kidx[(GLB, PSUM, DOWN_DEST)], kidx[(GLB, PSUM, UP_SRC)],
                                  kidx[(GLB, PSUM, DOWN)]], dtype=np.int64)
        # capacity: per level with groups, per kept role its words per dense tile word, or a cache
        self.caps: list[tuple[int, tuple, dict[str, tuple[float, _Cache | None]]]] = []
        for li in (LEVELS.index(GLB), LEVELS.index(RF), LEVELS.index(REG)):
            level = h.levels[li]
            kept = nest.levels[li].keeps
            per_role: dict[str, tuple[float, _Cache | None]] = {}
            for r in kept:
                fmt = spec.format(level.name, r)
                model = DENSE if spec.capacity == WORST else models.get(r, DENSE)
                if fmt.tile_free:
                    d, m = fmt.per_word([1], model, problem.elements(r), self.wb)
                    per_role[r] = (d + m, None)
                else:
                    per_role[r] = (0.0, _Cache(self.dims, lambda e, fmt=fmt, r=r, model=model: fmt.words(
                        role_extents(problem, self._ext(e), r), model, problem.elements(r), self.wb)))
            self.caps.append((li, level.capacity, per_role))

    def _ext(self, e: np.ndarray) -> dict[str, int]:
        return {d: int(v) for d, v in zip(self.problem.dim_names, e)}

    def ext_at(self, factors: np.ndarray, start: int) -> np.ndarray:
        """(B, dims) per-dim extents of the loops below a cut (clipped)."""
        if start >= factors.shape[1]:
            return np.ones((factors.shape[0], factors.shape[2]), dtype=np.int64)
        return np.minimum(np.prod(factors[:, start:, :], axis=1), self.dims)

    # ---- capacity ---------------------------------------------------------------------------
    def words(self, factors: np.ndarray, lay: np.ndarray, li: int) -> dict[str, np.ndarray]:
        """Per kept role, (B,) compressed words of its tile at level ``li`` (an index of LEVELS below DRAM)."""
        _, _, per_role = self.caps[li - 1]
        out = {}
        dense = (_needs(lay, factors, START[li]) if START[li] < NO_LOOPS
                 else np.ones((len(factors), N_ROLES), dtype=np.int64))
        for r, (c, cache) in per_role.items():
            if cache is None:
                out[r] = dense[:, ROLES.index(r)] * c
            else:
                out[r] = cache(self.ext_at(factors, START[li]))
        return out

    def over(self, factors: np.ndarray, lay: np.ndarray, li: int) -> np.ndarray:
        """(B, G) whether each capacity group of level ``li`` overflows by compressed size."""
        _, groups, _ = self.caps[li - 1]
        w = self.words(factors, lay, li)
        out = np.zeros((len(factors), len(groups)), dtype=bool)
        for g, (roles, cap) in enumerate(groups):
            used: np.ndarray | int = 0
            for r in roles:
                used = used + w.get(r, np.zeros(len(factors)))
            out[:, g] = used > cap
        return out

    def glb_over(self, factors: np.ndarray, lay: np.ndarray) -> np.ndarray:
        return self.over(factors, lay, LEVELS.index(GLB))

    def rf_fits(self, factors: np.ndarray, lay: np.ndarray) -> np.ndarray:
        fits = ~self.over(factors, lay, LEVELS.index(RF)).any(axis=1)
        return np.asarray(fits & ~self.over(factors, lay, LEVELS.index(REG)).any(axis=1))

    # ---- scores -----------------------------------------------------------------------------
    def score(self, counts: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(energy pJ, latency-bound cycles) of each row, as the slow sparse path (module docstring)."""
        B = counts.shape[0]
        dr, mr = self.const_ratio
        # the keys whose factors depend on the mapping: (B, V) data / metadata factors beside their indices
        var_k, var_d, var_m = [], [], []
        for i, groups, cache in self.row_ratio:
            vals = cache(self.ext_at(factors, START[i])).reshape(B, -1)
            for g, ks in enumerate(groups):
                for k in ks:
                    var_k.append(k)
                    var_d.append(vals[:, 2 * g])
                    var_m.append(vals[:, 2 * g + 1])
        vk = np.array(var_k, dtype=np.int64)
        vd = np.column_stack(var_d) if var_d else np.zeros((B, 0))
        vm = np.column_stack(var_m) if var_m else np.zeros((B, 0))
        S = len(self.steps)
        width = max([len(ks) for ks, _, _, _ in self.steps] + [1])
        st_keys = np.full((S, width), -1, dtype=np.int64)
        st_gate = np.zeros(S, dtype=np.bool_)
        st_q = np.zeros((B, S), dtype=np.float64)
        for s, (ks, gate, q, per_row) in enumerate(self.steps):
            st_keys[s, :len(ks)] = ks
            st_gate[s] = gate
            st_q[:, s] = q if per_row is None else per_row[1](self.ext_at(factors, per_row[0]))
        factor = np.ones(B, dtype=np.float64)
        mode = 0
        if self.skipping:
            mode = 1
            if self.balanced:
                factor[:] = self.p
            else:
                factor = self._imbalance(factors, counts[:, COL_ACTIVE_PES])
        c = np.ascontiguousarray(counts, dtype=np.int64)
        energy = np.empty(B, dtype=np.float64)
        cycles = np.empty(B, dtype=np.float64)
        _kernel(c, self.kcol, dr[0], mr[0], vk, vd, vm, st_keys, st_gate, st_q,
                self.e_kind, self.e_key, self.e_w, self.eff, self.gated_macs, mode, factor,
                self.lv_keys, self.bws, self.net_keys, self.ab, energy, cycles)
        return energy, cycles

    def _imbalance(self, factors: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Per row, E[max over the active units of Binomial(t, p)] / t (``sparse.model.imbalance_t``), t the
        lockstep run: the RF's temporal loops when the array is used, else every temporal loop."""
        t = _lockstep(factors)
        top = int(active.max()) + 1
        uniq, inv = np.unique(t * top + active, return_inverse=True)     # one int per (t, active) pair
        vals = np.empty(len(uniq))
        for j, key in enumerate(uniq):
            tt, a = divmod(int(key), top)
            k = (tt, a)
            v = self.imb.get(k)
            if v is None:
                v = self.imb[k] = imbalance_t(int(tt), int(a), self.p)
            vals[j] = v
        return vals[inv.reshape(-1)]


@njit(cache=True)
def _lockstep(factors):
    """Per mapping, ``sparse.model.lockstep_run`` on the fixed shape: the RF's loops when a spatial factor
    is above 1, else every temporal loop (DRAM, GLB, RF)."""
    out = np.empty(factors.shape[0], dtype=np.int64)
    for i in range(factors.shape[0]):
        spatial = False
        rf = 1
        every = 1
        for d in range(factors.shape[2]):
            if factors[i, ROWS, d] > 1 or factors[i, COLS, d] > 1:
                spatial = True
            rf *= factors[i, RF_LEVEL, d]
            every *= factors[i, DRAM_LEVEL, d] * factors[i, GLB_LEVEL, d] * factors[i, RF_LEVEL, d]
        out[i] = rf if spatial else every
    return out


@njit(cache=True)
def _needs(lay, factors, first_level):
    out = np.zeros((factors.shape[0], N_ROLES), dtype=np.int64)
    for i in range(factors.shape[0]):
        need = _tile_need(lay, factors[i], first_level)
        for k in range(N_ROLES):
            out[i, k] = need[k]
    return out


@njit(cache=True)
def _kernel(c, kcol, dr, mr, vk, vd, vm, st_keys, st_gate, st_q, e_kind, e_key, e_w, eff, gmacs, mode, factor,
            lv_keys, bws, net_keys, ab, energy, cycles):
    K = kcol.shape[0]
    data = np.empty(K)
    meta = np.empty(K)
    gated = np.empty(K)
    tot = np.empty(K)
    d_row = np.empty(K)
    m_row = np.empty(K)
    for b in range(c.shape[0]):
        for k in range(K):
            d_row[k] = dr[k]
            m_row[k] = mr[k]
        for v in range(vk.shape[0]):
            d_row[vk[v]] = vd[b, v]
            m_row[vk[v]] = vm[b, v]
        for k in range(K):
            w = float(c[b, kcol[k]])
            data[k] = w * d_row[k]
            meta[k] = w * m_row[k]
            gated[k] = 0.0
        for s in range(st_keys.shape[0]):
            q = st_q[b, s]
            for j in range(st_keys.shape[1]):
                k = st_keys[s, j]
                if k < 0:
                    break
                dq = data[k] * q
                data[k] = data[k] - dq
                if st_gate[s]:
                    gated[k] = gated[k] + dq
                else:
                    meta[k] = meta[k] - meta[k] * q
        acc = 0.0
        for e in range(e_kind.shape[0]):
            kind = e_kind[e]
            if kind == 0:
                v = data[e_key[e]]
            elif kind == 1:
                v = meta[e_key[e]]
            elif kind == 2:
                v = gated[e_key[e]]
            elif kind == 3:
                v = eff
            else:
                v = gmacs
            acc = acc + v * e_w[e]
        energy[b] = acc
        # the latency bound of the compressed words (data + metadata + gated per key)
        for k in range(K):
            tot[k] = (data[k] + meta[k]) + gated[k]
        dense_cycles = float(c[b, 1])
        cyc = dense_cycles * factor[b] if mode == 1 else dense_cycles
        best = float(math.ceil(cyc))
        for li in range(lv_keys.shape[0]):
            out_w = (tot[lv_keys[li, 0]] + tot[lv_keys[li, 1]]) + tot[lv_keys[li, 2]]
            in_w = (tot[lv_keys[li, 3]] + tot[lv_keys[li, 4]]) + tot[lv_keys[li, 5]]
            if bws[li, 0] > 0.0 and out_w / bws[li, 0] > best:
                best = out_w / bws[li, 0]
            if bws[li, 1] > 0.0 and in_w / bws[li, 1] > best:
                best = in_w / bws[li, 1]
            if bws[li, 2] > 0.0 and (out_w + in_w) / bws[li, 2] > best:
                best = (out_w + in_w) / bws[li, 2]
        for s in range(4):
            if s == 0:
                delivered, distinct = tot[net_keys[0]], tot[net_keys[1]]
            elif s == 1:
                delivered, distinct = tot[net_keys[2]], tot[net_keys[3]]
            elif s == 2:
                delivered, distinct = tot[net_keys[4]], tot[net_keys[4]]
            else:
                delivered, distinct = tot[net_keys[5]], tot[net_keys[6]] - tot[net_keys[4]]
            x = ab[s, 0] * delivered + ab[s, 1] * distinct
            if x > best:
                best = x
        cycles[b] = best


__all__ = ["SparseBatch", "unsupported"]
