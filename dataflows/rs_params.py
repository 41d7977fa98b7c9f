"""Eyeriss's row-stationary mapping parameters (ISCA'16 Table 2, JSSC'17 Table III) and the rule
that chooses them for a layer on an arch with per-tensor PE scratchpads.

The parameters (Eyeriss names; accelsim dims in brackets):
- a *PE set* is R filter rows x ``e`` output rows [R on the PE rows, P across the columns]; a set
  wider than the array is folded: its ``fold`` parts are stacked vertically [P on the rows too];
- each PE holds ``p`` filters x ``q`` channels of one filter row [rf: K p, C q, S whole], so
  p·q·S filter words, q·S ifmap words (the sliding window) and p psums;
- ``r`` sets work on different channels and ``t`` sets on different filters [rows: C r, K t; or
  K t across the columns when the set is too tall to stack];
- ``n`` images go through the array per processing pass with the filters held [glb: N n];
- the GLB keeps the psums of ``m`` output channels (a multiple of p·t) [glb: K m/(p·t)].

The schedule (JSSC'17; the order of the chip's passes): for each group of m filters, for each strip
of e output rows, for each group of q·r channels, for each of the m/(p·t) filter groups: one
processing pass, whose n images stream through with the ifmap rows sliding along [glb: Q whole,
innermost]. So the DRAM loops are (G, N/n, K/m, P/e, C/(q·r)) outer to inner, the GLB loops
(K m/(p·t), N n, Q), and a GLB holds the psums of m channels across all channel passes while the
ifmaps of the current q·r channels are refilled.

The rule (:func:`choose`) applies to archs that declare this mapping space (``constraints.unsplit.rf``
lists N, Q and R: configs/eyeriss_v1.yaml); other archs keep rs.py's generic named mapping. It
fills the PE first, then the array, then the GLB, each step in the order the chip's published
mappings show (the docs name the rows it does not reproduce):
1. q: the most channels whose windows fit the ifmap scratchpad (q·S words);
2. p: the most filters that fit the psum and filter scratchpads and divide the filters per group;
3. the set: e = the output rows, folded when the folded set fits the rows, else at most one row
   of sets across the columns;
4. r, t: copies of the set for channels, then filters, filling the rows (or the columns);
5. n, m, e in the GLB: the most images per pass, then the most psum channels, then the widest strip
   whose psums (m·n·e·Q words) and ifmap rows fit the ifmap/psum part of the GLB;
6. the filters: the GLB keeps those of the current processing pass (JSSC'17's 8 kB filter part,
   refilled per pass: ``Mapping.glb_pass``) when they fit it, else they go from DRAM to the PEs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from accelsim.energy import TENSORS
from accelsim.legality import problems_of
from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping
from dataflows.named import ceil_div, order
from workloads.layer import DIMS, Layer

PARAMS = ("m", "n", "e", "p", "q", "r", "t")
# the chip's RS mapping space, as an arch declares it (constraints.unsplit.rf): a PE keeps filters
# and channels of ONE filter row of one image, whole rows sliding through (configs/eyeriss_v1.yaml)
CHIP_RF_PINS = {DIMS.index("N"), DIMS.index("Q"), DIMS.index("R")}


@dataclass(frozen=True)
class RsParams:
    """One RS mapping in the chip's terms (see the module docstring)."""

    m: int
    n: int
    e: int
    p: int
    q: int
    r: int
    t: int
    fold: int = 1              # parts of a folded set, stacked on the PE rows
    t_cols: int = 1            # of the t sets, how many sit side by side across the columns

    def text(self) -> str:
        out = " ".join(f"{k}={getattr(self, k)}" for k in PARAMS)
        if self.fold > 1:
            out += f" (set folded in {self.fold})"
        return out


def to_mapping(layer: Layer, arch, prm: RsParams, keep_weight_in_glb: bool | None = None,
               weight_per_pass: bool = False) -> Mapping:
    """The accelsim mapping of ``prm`` (not checked: see :func:`problems_of`). ``keep_weight_in_glb``
    None: the GLB keeps the filters when the arch's GLB holds them; ``weight_per_pass``: it keeps
    the filters of the current processing pass only (``Mapping.glb_pass``: the filter tile spans the
    GLB loops inside the filter-group loop K m/(p·t), and each of its steps refills it)."""
    n, g, k, c, p, q, r, s = layer.dims
    f = {lv: [1] * len(DIMS) for lv in (DRAM, GLB, ROWS, COLS, RF)}
    ix = DIMS.index
    # the PE: p filters x q channels of one filter row
    f[RF][ix("K")], f[RF][ix("C")], f[RF][ix("S")] = prm.p, prm.q, s
    # the array: R x e sets (folded: fold parts stacked), r channel sets, t filter sets
    f[ROWS][ix("R")] = r
    f[ROWS][ix("C")] = prm.r
    f[ROWS][ix("P")] = prm.fold
    f[COLS][ix("P")] = ceil_div(prm.e, prm.fold)
    f[ROWS][ix("K")] = prm.t // prm.t_cols
    f[COLS][ix("K")] = prm.t_cols
    # the GLB: m/(p·t) filter groups, n images, whole rows (the window slides along Q)
    pt = prm.p * prm.t
    f[GLB][ix("K")] = ceil_div(min(prm.m, k), pt)
    f[GLB][ix("N")] = prm.n
    f[GLB][ix("Q")] = q
    # DRAM: the rest (groups, image groups, m-groups, strips, channel groups)
    for d, D in enumerate(layer.dims):
        inner = f[GLB][d] * f[ROWS][d] * f[COLS][d] * f[RF][d]
        f[DRAM][d] = ceil_div(D, inner)
    # a factor may not over-tile its dim (ceil tiling): clip from the inside out
    for d, D in enumerate(layer.dims):
        span = 1
        for lv in (RF, COLS, ROWS, GLB):
            f[lv][d] = max(1, min(f[lv][d], ceil_div(D, span)))
            span *= f[lv][d]
        f[DRAM][d] = ceil_div(D, span)
    glb_holds = set(arch.glb.holds)
    keep_w = ("weight" in glb_holds) if keep_weight_in_glb is None else keep_weight_in_glb
    glb_keep = tuple((t in glb_holds) and (t != "weight" or keep_w) for t in TENSORS)
    rf_keep = tuple(arch.rf.holds(t) for t in TENSORS)
    reg_keep = tuple(t in arch.pe_array.operand_registers for t in TENSORS)
    orders = (order(("K", "P", "C")), order(("K", "N", "Q")), order(("K", "C", "S")))
    factors = tuple(tuple(f[lv]) for lv in (DRAM, GLB, ROWS, COLS, RF))
    glb_pass = tuple(weight_per_pass and t == "weight" and k for t, k in zip(TENSORS, glb_keep))
    return Mapping(factors, orders, glb_keep, rf_keep, reg_keep, glb_pass)


def _pow2_floor(x: int) -> int:
    out = 1
    while out * 2 <= x:
        out *= 2
    return out


def pe_params(layer: Layer, arch) -> tuple[int, int] | None:
    """(p, q) of steps 1-2 of the rule, or None when the arch has no per-tensor scratchpads or a
    filter row does not fit them."""
    rf = arch.rf
    if rf.shared is not None or any(rf.capacity(t) is None for t in TENSORS):
        return None
    _, _, k, c, _, _, _, s = layer.dims
    cap_i, cap_w, cap_p = rf.capacity("ifmap"), rf.capacity("weight"), rf.capacity("psum")
    if s > cap_i or s > cap_w:
        return None
    # q: channels whose windows fit with one more column each (the next column arrives while the
    # current window is in use); at least one window
    q = max(1, min(c, cap_i // (s + 1)))
    # p: filters sharing the window, a power of two within the psum and filter scratchpads
    p = min(k, _pow2_floor(max(1, min(cap_p, cap_w // (q * s)))))
    return p, q


def _array_candidates(layer: Layer, arch, p: int, q: int):
    """(tier, RsParams with m = p·t and n = 1) for steps 3-4 of the rule. Tier 0: the set spans
    all output rows (e = P), folded when they do not fit the columns; tier 1 (when tier 0 fits
    nothing): strips of e output rows. The t sets fill the rows under the r channel sets, then
    the columns beside the set."""
    _, _, k, c, P, _, R, _ = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    fold0 = ceil_div(P, cols)
    tiers = [(0, [(fold0, P)] if R * fold0 <= rows else [])]
    # strip widths: each number of strips' narrowest width, only those the columns hold (O(cols))
    widths = sorted({ceil_div(P, ceil_div(P, e)) for e in range(1, min(P, cols) + 1)} - {P})
    tiers.append((1, [(1, e) for e in widths]))
    for tier, shapes in tiers:
        for fold, e in shapes:
            set_rows, set_cols = R * fold, ceil_div(e, fold)
            if set_rows > rows:
                continue
            for t_cols in range(1, min(cols // set_cols, ceil_div(k, p)) + 1):
                for r in range(1, min(rows // set_rows, ceil_div(c, q)) + 1):
                    for t_rows in range(1, min(rows // (set_rows * r), ceil_div(k, p) // t_cols) + 1):
                        t = t_rows * t_cols
                        yield tier, RsParams(p * t, 1, e, p, q, r, t, fold, t_cols)


def _fit(layer: Layer, arch, prm: RsParams) -> Mapping | None:
    """The mapping of ``prm`` if it fits the arch, else None: the GLB keeps the filters of the current
    processing pass (JSSC'17: the 8 kB filter part, refilled per pass; ``Mapping.glb_pass``) if
    they fit its part, else they go from DRAM to the PEs."""
    options = ((True, True), (False, False)) if "weight" in arch.glb.holds else ((False, False),)
    for keep_w, per_pass in options:
        m = to_mapping(layer, arch, prm, keep_weight_in_glb=keep_w, weight_per_pass=per_pass)
        if not problems_of(layer, m, arch):
            return m
    return None


def _fewest_groups(layer: Layer, arch, base: RsParams, n: int, most: int) -> tuple[RsParams, Mapping] | None:
    """The fewest m-groups (1..``most``; m = ceil(ceil(K/groups)/(p·t))·(p·t)) whose mapping of
    ``base`` with ``n`` images fits, and that mapping; None when none fits. Bisection: more groups
    never make a mapping fit less (m only sets the GLB's K factor, which does not grow with the
    groups: the GLB's psum and filter tiles shrink or stay, nothing else changes), so "fits" is
    False up to some groups and True from there; the answer is the first True, as a scan finds."""

    k = layer.dims[DIMS.index("K")]        # filters per group

    def attempt(groups: int) -> tuple[RsParams, Mapping | None]:
        m_val = ceil_div(ceil_div(k, groups), base.p * base.t) * base.p * base.t
        prm = replace(base, m=min(m_val, k), n=n)
        return prm, _fit(layer, arch, prm)

    prm, mapping = attempt(1)           # the usual answer: one group, all filters' psums kept
    if mapping is not None or most == 1:
        return None if mapping is None else (prm, mapping)
    prm, mapping = attempt(most)
    if mapping is None:
        return None
    lo, hi = 2, most                  # 1 does not fit, hi does: the first that fits is in [lo, hi]
    found = (prm, mapping)
    while lo < hi:
        mid = (lo + hi) // 2
        prm, mapping = attempt(mid)
        if mapping is None:
            lo = mid + 1
        else:
            hi, found = mid, (prm, mapping)
    return found


def traffic(layer: Layer, prm: RsParams) -> tuple[int, int]:
    """The compiler's estimate of (DRAM words, GLB words) of ``prm``'s schedule: the ifmap is read
    once per group of m filters (strips of e output rows re-read their overlapping rows), the
    filters once per n images and strip, each output written once; the GLB re-reads and re-writes
    every psum once per group of q·r channels and serves the ifmap to each of the m/(p·t) filter
    groups. An estimate for ranking candidates, not the cost model's exact count."""
    from accelsim.tiles import touched

    n_dim, g, k, c, p_dim, q_dim, r_dim, s_dim = layer.dims
    strips = ceil_div(p_dim, prm.e)
    last = p_dim - (strips - 1) * prm.e

    def rows(e: int) -> int:
        return min(layer.H, touched(e, r_dim, layer.stride_h, layer.dil_h))

    width = min(layer.W, touched(q_dim, s_dim, layer.stride_w, layer.dil_w))
    m = min(prm.m, k)
    ifmap = g * n_dim * c * ((strips - 1) * rows(prm.e) + rows(last)) * width * ceil_div(k, m)
    weights = g * k * c * r_dim * s_dim * ceil_div(n_dim, prm.n) * strips
    outputs = n_dim * g * k * p_dim * q_dim
    dram = ifmap + weights + outputs
    glb = 2 * outputs * ceil_div(c, prm.q * prm.r) + ifmap * ceil_div(m, prm.p * prm.t)
    return dram, glb


def choose(layer: Layer, arch) -> tuple[RsParams, Mapping] | None:
    """The rule of the module docstring; None where it does not apply (not the chip's mapping space,
    no per-tensor scratchpads, a filter row or a set taller than the array). Among the array shapes
    that keep the most PEs busy, the (n, m) and shape with the fewest DRAM words, then the fewest
    GLB words (the compiler's estimate, :func:`traffic`), then the largest parameters."""
    if not CHIP_RF_PINS <= set(arch.constraints.pinned(RF)):
        return None                   # not the chip's RS mapping space (see the module docstring)
    pq = pe_params(layer, arch)
    if pq is None:
        return None
    p, _ = pq
    n_dim, k = layer.dims[DIMS.index("N")], layer.dims[DIMS.index("K")]
    by_pes: dict[tuple[int, int], list[RsParams]] = {}
    for tier, prm in _array_candidates(layer, arch, *pq):
        pes = layer.R * prm.fold * ceil_div(prm.e, prm.fold) * prm.r * prm.t
        by_pes.setdefault((tier, -pes), []).append(prm)
    for group in sorted(by_pes):
        best = None
        for base in by_pes[group]:
            pt = base.p * base.t
            for n in range(1, n_dim + 1):
                # m: the most psum channels that fit, in steps of p·t, as few m-groups as allows
                found = _fewest_groups(layer, arch, base, n, ceil_div(k, pt))
                if found is None:
                    continue
                prm, mapping = found
                key = (*traffic(layer, prm), tuple(-getattr(prm, x) for x in PARAMS))
                if best is None or key < best[0]:
                    best = (key, prm, mapping)
        if best is not None:
            return best[1], best[2]
    return None


def params_of(layer: Layer, m: Mapping) -> RsParams | None:
    """The RS parameters a mapping realises (the inverse of :func:`to_mapping`), or None when it is
    not of that shape (a filter row split, Q or N across the array, other dims in the PE)."""
    f = m.factors
    ix = DIMS.index
    rf_other = [d for d in ("N", "P", "Q", "R") if f[RF][ix(d)] > 1]
    if (rf_other or f[COLS][ix("C")] > 1 or any(f[lv][ix(d)] > 1 for lv in (ROWS, COLS) for d in ("N", "Q", "S"))
            or f[ROWS][ix("R")] * f[RF][ix("R")] < layer.R or f[RF][ix("S")] < layer.S):
        return None
    p, q = f[RF][ix("K")], f[RF][ix("C")]
    t_cols = f[COLS][ix("K")]
    t = f[ROWS][ix("K")] * t_cols
    fold = f[ROWS][ix("P")]
    e = min(layer.dims[ix("P")], fold * f[COLS][ix("P")])
    mm = min(layer.dims[ix("K")], f[GLB][ix("K")] * p * t)
    return RsParams(mm, f[GLB][ix("N")], e, p, q, f[ROWS][ix("C")], t, fold, t_cols)


def describe(layer: Layer, m: Mapping) -> str | None:
    """One line naming the mapping's RS parameters (JSSC'17 Table III's columns), or None."""
    prm = params_of(layer, m)
    return None if prm is None else f"RS parameters (JSSC'17): {prm.text()}"
