"""Fit the CoDL-form predictor (and the FLOPs-only one) to a measurements CSV; score both on
held-out shapes with CoDL's metric, the share of predictions within +-10% of the measured time.

- CoDL form: one :class:`~accelsim.partition.predictor.KernelModel` per implementation, filter size
  and stride (CoDL's artifact names them ``..._direct_k3x3s1`` and so on; here ``direct_k3s1``), fitted
  on the fit rows of that key with every thread count together (the thread count enters as
  ``cores``). A key with fewer fit rows than coefficients falls back to its implementation's model
  fitted on all its rows (named after the implementation).
- FLOPs only: one ``T = a + b * FLOPs`` line per thread count (every implementation together, as a
  predictor that knows only FLOPs and the processor configuration would be).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from accelsim.errors import ConfigError
from accelsim.partition.measurements import Measurement, read_csv, split
from accelsim.partition.predictor import FlopsModel, KernelModel, fit_flops, fit_kernel, within
from accelsim.partition.soc import COEF_KEYS


@dataclass(frozen=True)
class FitReport:
    models: tuple[KernelModel, ...]
    flops_models: tuple[tuple[int, FlopsModel], ...]   # (threads, model)
    fit_rows: int
    test_rows: int
    codl_accuracy: float              # share of held-out rows within +-10%
    flops_accuracy: float
    per_impl: tuple[tuple[str, float, float, int], ...]   # (impl, codl acc, flops acc, held-out rows)
    seed: int

    def model(self, impl: str) -> KernelModel:
        for m in self.models:
            if m.name == impl:
                return m
        raise KeyError(impl)

    def flops_model(self, threads: int) -> FlopsModel:
        return dict(self.flops_models)[threads]


def model_key(m: Measurement) -> str:
    """CoDL's per-kernel key: implementation, filter size and stride (``direct_k3s1``)."""
    return f"{m.impl}_k{m.shape.R}s{m.shape.stride_h}"


def predict_codl(models: Sequence[KernelModel], m: Measurement) -> float:
    """Predicted seconds of measurement ``m``: its key's model, else its implementation's."""
    by_name = {k.name: k for k in models}
    model = by_name.get(model_key(m)) or by_name[m.impl]
    return model.time_ms(m.shape, m.threads) / 1e3


def _fit(name: str, rows: Sequence[Measurement]) -> KernelModel:
    tiles = {(m.item, m.block, m.unit) for m in rows}
    if len(tiles) != 1:
        raise ConfigError(f"implementation {rows[0].impl!r} appears with {len(tiles)} different tilings; "
                          f"one expected")
    item, block, unit = tiles.pop()
    return fit_kernel(name, item, block, unit, [m.shape for m in rows], [m.threads for m in rows],
                      [m.seconds for m in rows])


def fit_rows(rows: Sequence[Measurement]) -> tuple[tuple[KernelModel, ...], tuple[tuple[int, FlopsModel], ...]]:
    models = []
    for impl in sorted({m.impl for m in rows}):
        mine = [m for m in rows if m.impl == impl]
        models.append(_fit(impl, mine))
        for key in sorted({model_key(m) for m in mine}):
            keyed = [m for m in mine if model_key(m) == key]
            if len({m.shape_key for m in keyed}) > len(COEF_KEYS):
                models.append(_fit(key, keyed))
    flops = []
    for t in sorted({m.threads for m in rows}):
        mine = [m for m in rows if m.threads == t]
        flops.append((t, fit_flops([m.shape.flops for m in mine], [m.seconds * 1e3 for m in mine])))
    return tuple(models), tuple(flops)


def fit(measurements: str | Path | Sequence[Measurement], seed: int = 0, test_fraction: float = 0.3) -> FitReport:
    """Fit on a seeded share of the shapes, report accuracy on the rest."""
    rows = read_csv(measurements) if isinstance(measurements, (str, Path)) else list(measurements)
    train, test = split(rows, seed, test_fraction)
    models, flops = fit_rows(train)
    known = {m.impl for m in train}
    flops_by_t = dict(flops)
    test = [m for m in test if m.impl in known and m.threads in flops_by_t]
    if not test:
        raise ConfigError("no held-out rows share an implementation and thread count with the fit rows")
    measured = [m.seconds for m in test]
    codl_pred = [predict_codl(models, m) for m in test]
    flops_pred = [flops_by_t[m.threads].time_ms(m.shape) / 1e3 for m in test]
    per_impl = []
    for impl in sorted(known):
        idx = [i for i, m in enumerate(test) if m.impl == impl]
        if idx:
            per_impl.append((impl, within([codl_pred[i] for i in idx], [measured[i] for i in idx]),
                             within([flops_pred[i] for i in idx], [measured[i] for i in idx]), len(idx)))
    return FitReport(models, flops, len(train), len(test), within(codl_pred, measured),
                     within(flops_pred, measured), tuple(per_impl), seed)
