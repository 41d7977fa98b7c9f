"""The brute-force oracle and functional mode of the attention dataflows (small instances only).

:func:`walk` executes a dataflow's schedule element by element on numbers (float64): every MAC and
every non-MAC op is counted where it happens, every word crossing DRAM is counted when a tile loads
it (a word already on chip is not loaded again) or when a result is stored. It shares no counting
code with ``accelsim.attention.model`` (the closed form); it takes the closed form's tiling choice
(``Plan``: rows per tile, key tile, K/V resident per head) as its input, as the core's interpreter
takes a mapping. The result is checked against NumPy's ``softmax(Q K^T) V`` (:func:`reference`).

Schedules (loops outermost first; n = batch x head):
- ``unfused``: kernel QK over (n, i, j), kernel softmax over (n, i) [max, exp, sum, divide over j],
  kernel AV over (n, i, f); each kernel loads its inputs once and stores its output.
- ``flat``: n, row tile; QK in array passes (``plan.pass_rows`` query rows x ``plan.pass_cols``
  keys); per row the three-pass softmax; AV in passes (query rows x output columns). A tensor the
  buffer holds (``plan.onchip``) is loaded on first use: Q per row, K/V per head (resident) or per
  row tile; one it does not hold is evicted at every pass (only the PEs' registers keep it).
- ``fusemax``: n, row tile, key tile (``plan.tile`` keys, the last one ragged when it does not divide
  L); per row: scores of the tile, tile max, running max, correction,
  exp, tile sum, the tile's AV, the two merges; per row at the end: divide.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.attention.cascade import ARRAY, VECTOR, AttentionShape
from accelsim.attention.model import Plan


class _Tally:
    def __init__(self) -> None:
        self.ops: dict[tuple[str, str], int] = {}
        self.dram: dict[tuple[str, str], int] = {}
        self.on_chip: set[tuple[str, tuple[int, ...]]] = set()

    def op(self, unit: str, name: str, n: int = 1) -> None:
        self.ops[(unit, name)] = self.ops.get((unit, name), 0) + n

    def load(self, tensor: str, idx: tuple[int, ...]) -> None:
        if (tensor, idx) not in self.on_chip:
            self.on_chip.add((tensor, idx))
            self.dram[(tensor, "read")] = self.dram.get((tensor, "read"), 0) + 1

    def store(self, tensor: str) -> None:
        self.dram[(tensor, "write")] = self.dram.get((tensor, "write"), 0) + 1

    def evict(self, tensor: str) -> None:
        self.on_chip = {k for k in self.on_chip if k[0] != tensor}


def _dot_row(t: _Tally, qrow: np.ndarray, krow: np.ndarray) -> float:
    acc = 0.0
    for e in range(len(qrow)):
        acc += float(qrow[e]) * float(krow[e])
        t.op(ARRAY, "mac")
    return acc


def _unfused(t: _Tally, s: AttentionShape, q, k, v) -> np.ndarray:
    nn = q.shape[0]
    S = np.zeros((nn, s.queries, s.keys))
    for n in range(nn):                                  # kernel QK
        for i in range(s.queries):
            for e in range(s.e):
                t.load("Q", (n, i, e))
            for j in range(s.keys):
                for e in range(s.e):
                    t.load("K", (n, j, e))
                S[n, i, j] = _dot_row(t, q[n, i], k[n, j])
                t.store("S")
    t.on_chip.clear()
    A = np.zeros_like(S)
    for n in range(nn):                                  # kernel softmax
        for i in range(s.queries):
            for j in range(s.keys):
                t.load("S", (n, i, j))
            m = -math.inf
            for j in range(s.keys):
                m = max(m, S[n, i, j])
                t.op(VECTOR, "max")
            ex = [0.0] * s.keys
            for j in range(s.keys):
                ex[j] = math.exp(S[n, i, j] - m)
                t.op(VECTOR, "exp")
            d = 0.0
            for j in range(s.keys):
                d += ex[j]
                t.op(VECTOR, "sum")
            for j in range(s.keys):
                A[n, i, j] = ex[j] / d
                t.op(VECTOR, "divide")
                t.store("A")
    t.on_chip.clear()
    O = np.zeros((nn, s.queries, s.f))
    for n in range(nn):                                  # kernel AV
        for i in range(s.queries):
            for j in range(s.keys):
                t.load("A", (n, i, j))
            for f in range(s.f):
                acc = 0.0
                for j in range(s.keys):
                    t.load("V", (n, j, f))
                    acc += A[n, i, j] * float(v[n, j, f])
                    t.op(ARRAY, "mac")
                O[n, i, f] = acc
                t.store("O")
    return O


def _rows(t: _Tally, s: AttentionShape, plan: Plan, n: int):
    """Yield the row tiles of head ``n``, managing K/V residency (resident per head or per tile)."""
    t.evict("K")
    t.evict("V")
    for r0 in range(0, s.queries, plan.rows):
        if not plan.kv_resident:
            t.evict("K")
            t.evict("V")
        yield range(r0, min(s.queries, r0 + plan.rows))


def _passes(rows: range, size: int):
    """Consecutive chunks of ``rows`` of at most ``size`` (one array pass each)."""
    for p0 in range(0, len(rows), size):
        yield rows[p0:p0 + size]


def _flat(t: _Tally, s: AttentionShape, plan: Plan, q, k, v) -> np.ndarray:
    nn = q.shape[0]
    O = np.zeros((nn, s.queries, s.f))
    streamed = [x for x in ("Q", "K", "V") if x not in plan.onchip]
    for n in range(nn):
        for rows in _rows(t, s, plan, n):
            sc = {i: [0.0] * s.keys for i in rows}
            for qp in _passes(rows, plan.pass_rows):                    # QK passes: query rows x keys
                for kp in _passes(range(s.keys), plan.pass_cols):
                    for x in streamed:
                        t.evict(x)                                      # off chip: only the PEs' registers
                    for i in qp:
                        for j in kp:
                            for e in range(s.e):
                                t.load("Q", (n, i, e))
                                t.load("K", (n, j, e))
                            sc[i][j] = _dot_row(t, q[n, i], k[n, j])
            a = {}
            for i in rows:
                m = -math.inf
                for j in range(s.keys):
                    m = max(m, sc[i][j])
                    t.op(VECTOR, "max")
                ex = [0.0] * s.keys
                for j in range(s.keys):
                    ex[j] = math.exp(sc[i][j] - m)
                    t.op(VECTOR, "exp")
                d = 0.0
                for j in range(s.keys):
                    d += ex[j]
                    t.op(VECTOR, "sum")
                a[i] = [0.0] * s.keys
                for j in range(s.keys):
                    a[i][j] = ex[j] / d
                    t.op(VECTOR, "divide")
            for qp in _passes(rows, plan.pass_rows):                    # AV passes: query rows x F
                for fp in _passes(range(s.f), plan.pass_cols):
                    for x in streamed:
                        t.evict(x)
                    for i in qp:
                        for f in fp:
                            acc = 0.0
                            for j in range(s.keys):
                                t.load("V", (n, j, f))
                                acc += a[i][j] * float(v[n, j, f])
                                t.op(ARRAY, "mac")
                            O[n, i, f] = acc
                            t.store("O")
    return O


def _fusemax(t: _Tally, s: AttentionShape, plan: Plan, q, k, v, element_unit: str) -> np.ndarray:
    nn = q.shape[0]
    T = plan.tile
    O = np.zeros((nn, s.queries, s.f))
    for n in range(nn):
        for rows in _rows(t, s, plan, n):
            run_m = {i: -math.inf for i in rows}
            run_d = {i: 0.0 for i in rows}
            run_o = {i: [0.0] * s.f for i in rows}
            for i in rows:
                for e in range(s.e):
                    t.load("Q", (n, i, e))
            for j0 in range(0, s.keys, T):
                for i in rows:
                    sc = []
                    for j in range(j0, min(j0 + T, s.keys)):
                        for e in range(s.e):
                            t.load("K", (n, j, e))
                        sc.append(_dot_row(t, q[n, i], k[n, j]))
                    lm = -math.inf
                    for x in sc:
                        lm = max(lm, x)
                        t.op(element_unit, "max")
                    new_m = max(run_m[i], lm)
                    t.op(VECTOR, "max")
                    corr = math.exp(run_m[i] - new_m) if run_m[i] != -math.inf else 0.0
                    t.op(VECTOR, "exp")
                    ex = []
                    for x in sc:
                        ex.append(math.exp(x - new_m))
                        t.op(element_unit, "exp")
                    ld = 0.0
                    for x in ex:
                        ld += x
                        t.op(element_unit, "sum")
                    part = [0.0] * s.f
                    for f in range(s.f):
                        for jj, j in enumerate(range(j0, min(j0 + T, s.keys))):
                            t.load("V", (n, j, f))
                            part[f] += ex[jj] * float(v[n, j, f])
                            t.op(ARRAY, "mac")
                    run_d[i] = run_d[i] * corr + ld
                    t.op(VECTOR, "fma")
                    for f in range(s.f):
                        run_o[i][f] = run_o[i][f] * corr + part[f]
                        t.op(VECTOR, "fma")
                    run_m[i] = new_m
            for i in rows:
                for f in range(s.f):
                    O[n, i, f] = run_o[i][f] / run_d[i]
                    t.op(VECTOR, "divide")
                    t.store("O")
    return O


def walk(s: AttentionShape, dataflow: str, plan: Plan, q: np.ndarray, k: np.ndarray, v: np.ndarray,
         element_unit: str = ARRAY) -> tuple[dict, dict, np.ndarray]:
    """(ops by (unit kind, op), DRAM words by (tensor, read|write), output) of one execution.
    ``q``: (B*H, M, E), ``k``: (B*H, L, E), ``v``: (B*H, L, F)."""
    t = _Tally()
    if dataflow == "unfused":
        out = _unfused(t, s, q, k, v)
    elif dataflow == "flat":
        out = _flat(t, s, plan, q, k, v)
    elif dataflow == "fusemax":
        out = _fusemax(t, s, plan, q, k, v, element_unit)
    else:
        raise ValueError(dataflow)
    return t.ops, t.dram, out


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """NumPy's softmax(Q K^T) V per head (no scaling: fold 1/sqrt(E) into Q)."""
    sc = np.einsum("nie,nje->nij", q, k)
    sc = sc - sc.max(axis=-1, keepdims=True)
    p = np.exp(sc)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("nij,njf->nif", p, v)
