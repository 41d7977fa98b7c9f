"""Real convolutions on this machine's CPU (numba, fp32), for calibrating the CPU predictor.

Two implementations, as CoDL's CPU has several:

- ``direct``: each work item computes 4 output channels x 16 columns of one output row, straight from
  the padded input;
- ``gemm``: im2col (the ``C*R*S x P*Q`` patch matrix) then a GEMM whose work items are 4 output
  channels x 32 output pixels.

Work items are spread over the threads by ``numba.prange`` (static chunks), so the CoDL form with
``block = unit = 1`` item and ``cores = threads`` describes them: ``T = ceil(items / threads) * t_item``.
``KERNELS`` records each implementation's item tile for the fit.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from accelsim.partition.soc import KernelSpec, Tile

DIRECT_OC, DIRECT_W = 4, 16
GEMM_OC, GEMM_PX = 4, 32

KERNELS: dict[str, KernelSpec] = {
    "direct": KernelSpec("direct", Tile(DIRECT_OC, 1, DIRECT_W), 1, 1),
    "gemm": KernelSpec("gemm", Tile(GEMM_OC, 1, GEMM_PX, flat=True), 1, 1),
}


@njit(parallel=True, fastmath=True, cache=True)
def _direct(xp, w, out, stride):  # pragma: no cover - compiled
    # out is (K padded to DIRECT_OC, P, Q padded to DIRECT_W): every item is a full tile
    K, C, R, S = w.shape
    P, Q = out.shape[1], out.shape[2]
    nk = K // DIRECT_OC
    nq = Q // DIRECT_W
    span = (DIRECT_W - 1) * stride + 1
    for it in prange(nk * P * nq):
        kb = it // (P * nq)
        rem = it % (P * nq)
        p = rem // nq
        q0 = (rem % nq) * DIRECT_W
        k0 = kb * DIRECT_OC
        acc = np.zeros((DIRECT_OC, DIRECT_W), dtype=np.float32)
        for c in range(C):
            for r in range(R):
                for s in range(S):
                    base = q0 * stride + s
                    xrow = xp[c, p * stride + r, base:base + span:stride]
                    w0 = w[k0, c, r, s]
                    w1 = w[k0 + 1, c, r, s]
                    w2 = w[k0 + 2, c, r, s]
                    w3 = w[k0 + 3, c, r, s]
                    for b in range(DIRECT_W):
                        v = xrow[b]
                        acc[0, b] += w0 * v
                        acc[1, b] += w1 * v
                        acc[2, b] += w2 * v
                        acc[3, b] += w3 * v
        out[k0:k0 + DIRECT_OC, p, q0:q0 + DIRECT_W] = acc


@njit(parallel=True, fastmath=True, cache=True)
def _im2col(xp, R, S, stride, P, Q, cols):  # pragma: no cover - compiled
    C = xp.shape[0]
    for j in prange(C * R * S):
        c = j // (R * S)
        r = (j // S) % R
        s = j % S
        for p in range(P):
            for q in range(Q):
                cols[j, p * Q + q] = xp[c, p * stride + r, q * stride + s]


@njit(parallel=True, fastmath=True, cache=True)
def _gemm(wm, cols, out):  # pragma: no cover - compiled
    # wm is (K padded to GEMM_OC, D), cols (D, P*Q padded to GEMM_PX): every item is a full tile
    K, D = wm.shape
    PX = cols.shape[1]
    nk = K // GEMM_OC
    npx = PX // GEMM_PX
    for it in prange(nk * npx):
        kb = it // npx
        p0 = (it % npx) * GEMM_PX
        k0 = kb * GEMM_OC
        acc = np.zeros((GEMM_OC, GEMM_PX), dtype=np.float32)
        for d in range(D):
            crow = cols[d, p0:p0 + GEMM_PX]
            w0 = wm[k0, d]
            w1 = wm[k0 + 1, d]
            w2 = wm[k0 + 2, d]
            w3 = wm[k0 + 3, d]
            for b in range(GEMM_PX):
                v = crow[b]
                acc[0, b] += w0 * v
                acc[1, b] += w1 * v
                acc[2, b] += w2 * v
                acc[3, b] += w3 * v
        out[k0:k0 + GEMM_OC, p0:p0 + GEMM_PX] = acc


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


class Conv:
    """One convolution ready to run repeatedly: buffers allocated once, ``__call__`` runs it.

    Output channels and columns (direct) or pixels (GEMM) are padded up to whole work items, as
    tiled kernels do; the padding is computed and discarded, so every item costs the same.
    """

    def __init__(self, impl: str, x: np.ndarray, w: np.ndarray, stride: int, pad: int):
        if impl not in KERNELS:
            raise KeyError(impl)
        self.impl = impl
        k, c, r, s = w.shape
        self.K = k
        self.stride = stride
        H, W = x.shape[1], x.shape[2]
        self.P = (H + 2 * pad - r) // stride + 1
        self.Q = (W + 2 * pad - s) // stride + 1
        if impl == "direct":
            kp, qp = _round_up(k, DIRECT_OC), _round_up(self.Q, DIRECT_W)
            width = (qp - 1) * stride + s
            extra = max(0, width - (W + 2 * pad))
            self.xp = np.ascontiguousarray(np.pad(x.astype(np.float32), ((0, 0), (pad, pad), (pad, pad + extra))))
            self.w = np.zeros((kp, c, r, s), dtype=np.float32)
            self.w[:k] = w
            self.out = np.zeros((kp, self.P, qp), dtype=np.float32)
        else:
            kp, pxp = _round_up(k, GEMM_OC), _round_up(self.P * self.Q, GEMM_PX)
            self.xp = np.ascontiguousarray(np.pad(x.astype(np.float32), ((0, 0), (pad, pad), (pad, pad))))
            self.r, self.s = r, s
            self.wm = np.zeros((kp, c * r * s), dtype=np.float32)
            self.wm[:k] = w.reshape(k, c * r * s)
            self.cols = np.zeros((c * r * s, pxp), dtype=np.float32)
            self.out = np.zeros((kp, pxp), dtype=np.float32)

    def __call__(self) -> np.ndarray:
        """Run the convolution; returns the (K, P, Q) output (a view of the padded buffer)."""
        if self.impl == "direct":
            _direct(self.xp, self.w, self.out, self.stride)
            return self.out[:self.K, :, :self.Q]
        _im2col(self.xp, self.r, self.s, self.stride, self.P, self.Q, self.cols)
        _gemm(self.wm, self.cols, self.out)
        return self.out[:self.K, :self.P * self.Q].reshape(self.K, self.P, self.Q)


def max_threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


class threads:
    """Context manager: run numba kernels on ``n`` threads, restoring the previous count after."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.previous = get_num_threads()
        set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        set_num_threads(self.previous)
        return False
