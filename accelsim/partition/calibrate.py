"""Fit the CoDL-form predictor (and the FLOPs-only one) to a measurements CSV; score both on
held-out convolutions with CoDL's metric, the share of predictions within +-10% of the measured time.

- CoDL form: one :class:`~accelsim.partition.predictor.KernelModel` per kernel, filter size, stride
  and thread count (CoDL's artifact names its models ``..._direct_k3x3s1`` and learns them per device
  configuration; here ``direct_k3s1_t2``), the thread count entering the form as ``cores``. The
  thread counts are fitted separately because the per-unit time is not the same on 1 and on n
  threads (shared caches and memory, and on a shared machine other processes on the other cores).
  A key with too few fitted convolutions (no more than coefficients) falls back to its kernel's model
  at that thread count (``direct_t2``). A convolution's prediction is the sum of its kernels'
  (im2col + GEMM, or direct), as CoDL sums packing and compute.
- FLOPs only: one ``T = a + b * FLOPs`` line per thread count, fitted to whole convolutions of every
  implementation (a predictor that knows only FLOPs and the processor configuration).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.partition.measurements import Measurement, read_csv, split
from accelsim.partition.predictor import FlopsModel, KernelModel, fit_flops, fit_kernel, within
from accelsim.partition.shape import OpShape
from accelsim.partition.soc import COEF_KEYS


@dataclass(frozen=True)
class ConvTime:
    """One measured convolution: its kernels' rows summed."""

    impl: str                    # "direct" or "im2col+gemm" (the kernels joined by '+')
    threads: int
    shape: OpShape               # the convolution's shape (for FLOPs)
    seconds: float
    kernels: tuple[Measurement, ...]


@dataclass(frozen=True)
class FitReport:
    models: tuple[KernelModel, ...]
    flops_models: tuple[tuple[int, FlopsModel], ...]   # (threads, model)
    fit_convs: int
    test_convs: int
    codl_accuracy: float              # share of held-out convolutions predicted within +-10%
    flops_accuracy: float
    per_impl: tuple[tuple[str, float, float, int], ...]   # (conv implementation, codl acc, flops acc, n)
    per_kernel: tuple[tuple[str, float, int], ...]        # (kernel, codl acc on its held-out rows, n)
    per_threads: tuple[tuple[int, float, float, int], ...]  # (threads, codl acc, flops acc, n)
    seed: int

    def model(self, name: str) -> KernelModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def flops_model(self, threads: int) -> FlopsModel:
        return dict(self.flops_models)[threads]


def model_key(m: Measurement) -> str:
    """CoDL's per-kernel key, per thread count: kernel, filter size, stride, threads (``direct_k3s1_t2``)."""
    return f"{m.impl}_k{m.shape.R}s{m.shape.stride_h}_t{m.threads}"


def fallback_key(m: Measurement) -> str:
    return f"{m.impl}_t{m.threads}"


def predict_kernel(models: Sequence[KernelModel], m: Measurement) -> float:
    """Predicted seconds of kernel row ``m``: its key's model, else its kernel's at that thread count."""
    by_name = {k.name: k for k in models}
    model = by_name.get(model_key(m)) or by_name[fallback_key(m)]
    return model.time_ms(m.shape, m.threads) / 1e3


def convolutions(rows: Sequence[Measurement]) -> list[ConvTime]:
    """Group kernel rows into convolutions: rows of one group and thread count, summed.

    A group's rows at one thread count are either one ``direct`` row or the stages of one other
    implementation (im2col then gemm); the convolution's shape is the last stage's (the GEMM works
    on the convolution's own shape)."""
    by: dict[tuple[int, int], list[Measurement]] = defaultdict(list)
    for m in rows:
        by[(m.group, m.threads)].append(m)
    out = []
    for (_group, threads), ms in sorted(by.items()):
        for impl_rows in ([m for m in ms if m.impl == "direct"], [m for m in ms if m.impl != "direct"]):
            if impl_rows:
                out.append(ConvTime("+".join(m.impl for m in impl_rows), threads, impl_rows[-1].shape,
                                    sum(m.seconds for m in impl_rows), tuple(impl_rows)))
    return out


def _fit(name: str, rows: Sequence[Measurement]) -> KernelModel:
    tiles = {(m.item, m.block, m.unit) for m in rows}
    if len(tiles) != 1:
        raise ConfigError(f"kernel {rows[0].impl!r} appears with {len(tiles)} different tilings; one expected")
    item, block, unit = tiles.pop()
    return fit_kernel(name, item, block, unit, [m.shape for m in rows], [m.threads for m in rows],
                      [m.seconds for m in rows])


def fit_rows(rows: Sequence[Measurement]) -> tuple[tuple[KernelModel, ...], tuple[tuple[int, FlopsModel], ...]]:
    models = []
    for base in sorted({fallback_key(m) for m in rows}):
        mine = [m for m in rows if fallback_key(m) == base]
        models.append(_fit(base, mine))
        for key in sorted({model_key(m) for m in mine}):
            keyed = [m for m in mine if model_key(m) == key]
            if len({m.group for m in keyed}) > len(COEF_KEYS):
                models.append(_fit(key, keyed))
    flops = []
    convs = convolutions(rows)
    for t in sorted({c.threads for c in convs}):
        same = [c for c in convs if c.threads == t]
        flops.append((t, fit_flops([c.shape.flops for c in same], [c.seconds * 1e3 for c in same])))
    return tuple(models), tuple(flops)


def fit(measurements: str | Path | Sequence[Measurement], seed: int = 0, test_fraction: float = 0.3) -> FitReport:
    """Fit on a seeded share of the convolutions, report accuracy on the rest."""
    rows = read_csv(measurements) if isinstance(measurements, (str, Path)) else list(measurements)
    train, test = split(rows, seed, test_fraction)
    models, flops = fit_rows(train)
    known = {fallback_key(m) for m in train}
    flops_by_t = dict(flops)
    test = [m for m in test if fallback_key(m) in known and m.threads in flops_by_t]
    convs = convolutions(test)
    if not convs:
        raise ConfigError("no held-out rows share a kernel and thread count with the fit rows")
    measured = [c.seconds for c in convs]
    codl_pred = [sum(predict_kernel(models, m) for m in c.kernels) for c in convs]
    flops_pred = [flops_by_t[c.threads].time_ms(c.shape) / 1e3 for c in convs]
    per_impl = []
    for impl in sorted({c.impl for c in convs}):
        idx = [i for i, c in enumerate(convs) if c.impl == impl]
        per_impl.append((impl, within([codl_pred[i] for i in idx], [measured[i] for i in idx]),
                         within([flops_pred[i] for i in idx], [measured[i] for i in idx]), len(idx)))
    per_threads = []
    for t in sorted({c.threads for c in convs}):
        idx = [i for i, c in enumerate(convs) if c.threads == t]
        per_threads.append((t, within([codl_pred[i] for i in idx], [measured[i] for i in idx]),
                            within([flops_pred[i] for i in idx], [measured[i] for i in idx]), len(idx)))
    per_kernel = []
    for impl in sorted({m.impl for m in test}):
        mine = [m for m in test if m.impl == impl]
        per_kernel.append((impl, within([predict_kernel(models, m) for m in mine], [m.seconds for m in mine]),
                           len(mine)))
    return FitReport(models, flops, len(convolutions(train)), len(convs), within(codl_pred, measured),
                     within(flops_pred, measured), tuple(per_impl), tuple(per_kernel), tuple(per_threads), seed)
