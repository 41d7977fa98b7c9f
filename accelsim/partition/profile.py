"""Time real convolutions on this machine's CPU over a seeded grid of shapes and thread counts.

The grid draws shapes (input rows and columns, channels, filter size 1 or 3, stride 1 or 2, "same"
padding) from a seeded generator, keeps those whose MAC count fits the budget, and times every kernel
of every implementation in :mod:`accelsim.partition.local_kernels` on each at every thread count. Each
time is the fastest of several runs after one warm-up run (as ``timeit`` reports: on a shared machine
the slower runs measure other processes' interference, not the kernel), and the fastest over
``passes`` sweeps of the whole grid. Timings are real, so they vary from run to run; the shapes and
the fit/held-out split do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accelsim.partition.measurements import Measurement
from accelsim.partition.shape import OpShape
from workloads.layer import LayerKind


@dataclass(frozen=True)
class GridSpec:
    shapes: int             # distinct shapes to draw
    max_macs: int           # skip shapes above this many MACs
    min_seconds: float      # keep repeating a measurement until this much time has passed ...
    min_repeats: int        # ... and at least this many runs
    passes: int             # sweeps over the whole grid; a measurement keeps its fastest pass ...
    budget_s: float         # ... but no further sweep starts if it would end after this many seconds


GRIDS = {
    "full": GridSpec(shapes=120, max_macs=12_000_000, min_seconds=0.002, min_repeats=2, passes=6, budget_s=100.0),
    "quick": GridSpec(shapes=12, max_macs=600_000, min_seconds=0.002, min_repeats=3, passes=1, budget_s=10.0),
}

_ROWS = (6, 7, 10, 14, 20, 28, 40, 56)
_CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
_FILTERS = (1, 3)


def conv_shape(C: int, K: int, H: int, W: int, R: int, stride: int) -> OpShape:
    pad = R // 2
    P = (H + 2 * pad - R) // stride + 1
    Q = (W + 2 * pad - R) // stride + 1
    return OpShape(LayerKind.CONV, 1, C, K, H, W, P, Q, R, R, stride, stride)


def grid(spec: GridSpec, seed: int = 0) -> list[OpShape]:
    """Distinct convolution shapes drawn with ``seed``, each within the MAC budget."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: list[OpShape] = []
    seen = set()
    attempts = 0
    while len(out) < spec.shapes and attempts < 100 * spec.shapes:
        attempts += 1
        H = int(rng.choice(_ROWS))
        W = int(rng.choice(_ROWS))
        R = int(rng.choice(_FILTERS))
        stride = int(rng.choice((1, 1, 2)))
        C = int(rng.choice(_CHANNELS))
        K = int(rng.choice(_CHANNELS))
        if R > min(H, W):
            continue
        s = conv_shape(C, K, H, W, R, stride)
        if s.macs > spec.max_macs or s.macs < spec.max_macs // 400:
            continue
        key = (C, K, H, W, R, stride)
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    return out


def _time(fn: Callable[[], object], spec: GridSpec) -> tuple[float, int]:
    fn()  # warm-up (and numba compilation on first use)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < spec.min_repeats or time.perf_counter() - start < spec.min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return min(times), len(times)


def measure(shapes: Sequence[OpShape], thread_counts: Sequence[int], spec: GridSpec, seed: int = 0,
            impls: Sequence[str] | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[list[Measurement], int]:
    """(rows, sweeps done). Time every kernel of every convolution implementation on every shape at every thread count
    (fp32, random data). Row ``group`` is the shape's index in ``shapes``.

    The grid is swept up to ``spec.passes`` times (at least once; a sweep that would end past
    ``spec.budget_s`` is not started) and each measurement keeps its fastest pass, so a burst of load
    from other processes during one sweep does not decide a measurement.
    """
    import numpy as np

    from accelsim.partition.local_kernels import CONV_IMPLS, KERNELS, Conv, threads, work_shape

    impls = list(impls or CONV_IMPLS)
    rng = np.random.default_rng(seed)
    stages = []   # (group, kernel name, conv shape, callable)
    for group, s in enumerate(shapes):
        x = rng.standard_normal((s.C, s.H, s.W)).astype(np.float32)
        w = rng.standard_normal((s.K, s.C, s.R, s.S)).astype(np.float32)
        for impl in impls:
            conv = Conv(impl, x, w, s.stride_h, s.R // 2)
            conv()  # fills the im2col buffer the GEMM stage reads
            stages += [(group, name, s, fn) for name, fn in conv.stages().items()]
    best: dict[tuple[int, int], tuple[float, int]] = {}
    total = spec.passes * len(stages) * len(thread_counts)
    done = 0
    start = time.perf_counter()
    sweeps = 0
    for sweep in range(spec.passes):
        elapsed = time.perf_counter() - start
        if sweep > 0 and elapsed + elapsed / sweep > spec.budget_s:
            break
        sweeps += 1
        for i, (_, _, _, fn) in enumerate(stages):
            for t in thread_counts:
                with threads(t):
                    seconds, repeats = _time(fn, spec)
                old = best.get((i, t))
                best[(i, t)] = (min(seconds, old[0]), repeats + old[1]) if old else (seconds, repeats)
                done += 1
                if progress is not None:
                    progress(done, total)
    rows = []
    for i, (group, name, s, _) in enumerate(stages):
        k = KERNELS[name]
        for t in thread_counts:
            seconds, repeats = best[(i, t)]
            rows.append(Measurement(name, k.item, k.block, k.unit, t, work_shape(name, s), seconds, repeats, group))
    return rows, sweeps
