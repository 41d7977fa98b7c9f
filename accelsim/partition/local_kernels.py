"""Real convolutions on this machine's CPU (numba, fp32), for calibrating the CPU predictor.

Two convolution implementations, as CoDL's CPU has several, built from three timed kernels:

- ``direct``: each work item computes 4 output channels x 16 columns of one output row, straight from
  the padded input;
- ``im2col`` + ``gemm``: im2col writes the ``C*R*S x P*Q`` patch matrix (work items: 32 pixels of one
  patch row), then a GEMM whose work items are 4 output channels x 32 output pixels. The two stages
  are timed and modelled separately, as CoDL's artifact models GEMM packing and compute separately
  (the packing cost is shared by all output channels, so one linear model of both would not fit).

Work items are spread over the threads by ``numba.prange`` (static chunks), so the CoDL form with
``block = unit = 1`` item and ``cores = threads`` describes them: ``T = ceil(items / threads) * t_item``.
``KERNELS`` records each kernel's item tile for the fit; :func:`work_shape` gives the shape each kernel
works on (im2col's "output channels" are the ``C*R*S`` patch rows).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads

from accelsim.partition.shape import OpShape
from accelsim.partition.soc import KernelSpec, Tile
from workloads.layer import LayerKind

DIRECT_OC, DIRECT_W = 4, 16
GEMM_OC, GEMM_PX = 4, 32

KERNELS: dict[str, KernelSpec] = {
    "direct": KernelSpec("direct", Tile(DIRECT_OC, 1, DIRECT_W), 1, 1),
    "im2col": KernelSpec("im2col", Tile(1, 1, GEMM_PX, flat=True), 1, 1),
    "gemm": KernelSpec("gemm", Tile(GEMM_OC, 1, GEMM_PX, flat=True), 1, 1),
}

#: convolution implementation -> the kernels it runs, in order
CONV_IMPLS: dict[str, tuple[str, ...]] = {"direct": ("direct",), "im2col+gemm": ("im2col", "gemm")}


def work_shape(kernel: str, conv: OpShape) -> OpShape:
    """The shape kernel ``kernel`` works on when computing convolution ``conv``.

    im2col is a data-movement operator writing ``C*R*S`` rows of ``P*Q`` pixels, one read per output:
    recorded as an elementwise operator with ``K = C*R*S`` (its filter size and stride kept, so its
    models are keyed like CoDL's).
    """
    if kernel == "im2col":
        return replace(conv, kind=LayerKind.ELTWISE, K=conv.C * conv.R * conv.S, operands=1)
    return conv


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
    # cols is (C*R*S, P*Q padded to GEMM_PX); items are GEMM_PX pixels of one patch row
    C = xp.shape[0]
    npx = cols.shape[1] // GEMM_PX
    for it in prange(C * R * S * npx):
        j = it // npx
        x0 = (it % npx) * GEMM_PX
        c = j // (R * S)
        r = (j // S) % R
        s = j % S
        for b in range(GEMM_PX):
            x = x0 + b
            if x < P * Q:
                p = x // Q
                q = x - p * Q
                cols[j, x] = xp[c, p * stride + r, q * stride + s]


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
        if impl not in CONV_IMPLS:
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

    def stages(self) -> dict:
        """The kernels of this convolution as callables, by kernel name (timed one by one)."""
        if self.impl == "direct":
            return {"direct": lambda: _direct(self.xp, self.w, self.out, self.stride)}
        return {"im2col": lambda: _im2col(self.xp, self.r, self.s, self.stride, self.P, self.Q, self.cols),
                "gemm": lambda: _gemm(self.wm, self.cols, self.out)}

    def __call__(self) -> np.ndarray:
        """Run the convolution; returns the (K, P, Q) output (a view of the padded buffer)."""
        for stage in self.stages().values():
            stage()
        if self.impl == "direct":
            return self.out[:self.K, :, :self.Q]
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
