"""Calibrate SoC profiles: per-kernel-class efficiencies fitted to measured single-processor latencies.

Model. A processor's time for an operator is its prior (:mod:`accelsim.partition.priors`, the CoDL form
at spec-sheet rates) divided by the efficiency of the operator's kernel class
(:mod:`accelsim.partition.kernel_class`). A whole model on one processor therefore takes

    T(soc, model, p) = sum_c A[soc, model, p, c] * exp(x[soc, p, c]),
    x[soc, p, c] = a[p, c] + d[family(soc, p), c] + v[soc, p]

where ``A`` is the prior time of the model's class-``c`` operators and ``exp(-x)`` the efficiency:
``a`` is shared by every processor of kind ``p`` (cpu / gpu) in the fit, ``d`` by a family (SoC YAML
``family``: e.g. the Adreno GPUs, or Kirin 990's Mali alone) and ``v`` is one scale per SoC and
processor. 7 classes x 2 kinds + 7 per family + 1 per SoC and processor; the data are thin (5 models
per SoC and processor), so the fit is regularized (ridge, in log units): class efficiencies shrink
toward their kind's mean (weight ``classes``), family deviations toward 0 (``family``), per-SoC
scales toward 0 (``scale``). A class no model exercises thus gets its kind's mean efficiency; a SoC or
family without data gets the shared classes (its spec-sheet prior does the rest).

Fit: Levenberg-Marquardt on ``log T_pred - log T_measured`` (relative error) plus the penalty rows,
analytic Jacobian, from x = 0, a fixed iteration cap and a fixed stopping rule: deterministic.
Inputs are single-processor latencies only (:mod:`accelsim.partition.latencies`); co-execution
results are never fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from accelsim.errors import ConfigError
from accelsim.partition.kernel_class import CLASSES, kernel_class
from accelsim.partition.latencies import PROCESSORS, Latency
from accelsim.partition.predictor import Processor, processors
from accelsim.partition.shape import shape_of
from accelsim.partition.soc import SoC
from workloads.layer import Workload

MAX_ITERATIONS = 200


@dataclass(frozen=True)
class Regularization:
    """Ridge weights (log units): classes toward their kind's mean, per-SoC scales and family
    deviations toward 0. Fixed a priori, not tuned on the validation."""

    classes: float = 0.01
    scale: float = 0.01
    family: float = 0.1


@dataclass(frozen=True)
class Residual:
    soc: str
    model: str
    processor: str
    measured_ms: float
    predicted_ms: float

    @property
    def error(self) -> float:
        """Relative error of the prediction: predicted / measured - 1."""
        return self.predicted_ms / self.measured_ms - 1.0


@dataclass(frozen=True)
class SocFit:
    """Fitted efficiencies for every SoC of the fit (with or without data) and the fit's residuals."""

    efficiencies: tuple[tuple[str, str, tuple[float, ...]], ...]   # (soc, processor, per class)
    residuals: tuple[Residual, ...]
    parameters: int
    iterations: int
    effective_parameters: float = 0.0   # trace of the hat matrix at the solution (what the ridge leaves)

    def efficiency(self, soc: str, processor: str) -> tuple[float, ...]:
        for s, p, eff in self.efficiencies:
            if (s, p) == (soc, processor):
                return eff
        raise KeyError((soc, processor))

    def calibrated(self, name: str, soc: SoC) -> SoC:
        """``soc`` with this fit's efficiencies for ``name``."""
        return replace(soc, cpu=replace(soc.cpu, efficiency=self.efficiency(name, "cpu")),
                       gpu=replace(soc.gpu, efficiency=self.efficiency(name, "gpu")))


def class_times_ms(proc: Processor, workload: Workload) -> tuple[float, ...]:
    """Time of the workload's operators on ``proc`` per kernel class (``CLASSES`` order), whole operators."""
    out = [0.0] * len(CLASSES)
    for layer in workload.layers:
        s = shape_of(layer)
        out[CLASSES.index(kernel_class(s))] += proc.time_ms(s)
    return tuple(out)


def model_ms(soc: SoC, workload: Workload, processor: str) -> float:
    """The whole model on one processor of ``soc`` as calibrated (its single-processor latency)."""
    cpu, gpu = processors(soc)
    return sum(class_times_ms(cpu if processor == "cpu" else gpu, workload))


def _family(soc: SoC, processor: str) -> str:
    spec = soc.cpu if processor == "cpu" else soc.gpu
    return spec.family or spec.name


class _Layout:
    """Names of the parameter vector's entries, in a fixed order."""

    def __init__(self, socs: Sequence[str], families: Sequence[tuple[str, str]]):
        self.names: list[tuple] = []
        for p in PROCESSORS:
            self.names += [("a", p, c) for c in CLASSES]
        for fam in families:
            self.names += [("d", fam, c) for c in CLASSES]
        self.names += [("v", s, p) for s in socs for p in PROCESSORS]
        self.index = {n: i for i, n in enumerate(self.names)}

    def x_rows(self, soc: str, processor: str, family: tuple[str, str]) -> list[list[int]]:
        """Per class, the parameter indices summed into x[soc, processor, class]."""
        return [[self.index[("a", processor, c)], self.index[("d", family, c)], self.index[("v", soc, processor)]]
                for c in CLASSES]


def fit_socs(latencies: Sequence[Latency], socs: Mapping[str, SoC], workloads: Mapping[str, Workload],
             reg: Regularization | None = None) -> SocFit:
    """Fit efficiencies for every SoC in ``socs`` to the latencies (whose SoCs must be among them)."""
    reg = reg or Regularization()
    if not latencies:
        raise ConfigError("calibration needs at least one measured latency")
    names = sorted(socs)
    fams = {(s, p): (p, _family(socs[s], p)) for s in names for p in PROCESSORS}
    layout = _Layout(names, sorted(set(fams.values())))
    base = {s: processors(socs[s], calibrated=False) for s in names}
    rows = []
    for lat in latencies:
        if lat.soc not in socs or lat.model not in workloads:
            raise ConfigError(f"latency of {lat.model} on {lat.soc}: SoC or workload not loaded for the fit")
        proc = base[lat.soc][PROCESSORS.index(lat.processor)]
        a = np.array(class_times_ms(proc, workloads[lat.model]))
        rows.append((lat, a, np.array(layout.x_rows(lat.soc, lat.processor, fams[lat.soc, lat.processor]))))
    n = len(layout.names)

    penalty_rows = []   # (weight, {index: coefficient})
    for p in PROCESSORS:
        idx = [layout.index[("a", p, c)] for c in CLASSES]
        for i in idx:
            penalty_rows.append((reg.classes, {j: (1.0 if j == i else 0.0) - 1.0 / len(idx) for j in idx}))
    for name, i in layout.index.items():
        if name[0] == "d":
            penalty_rows.append((reg.family, {i: 1.0}))
        elif name[0] == "v":
            penalty_rows.append((reg.scale, {i: 1.0}))
    pen = np.zeros((len(penalty_rows), n))
    for r, (w, coefs) in enumerate(penalty_rows):
        for j, c in coefs.items():
            pen[r, j] = np.sqrt(w) * c

    def evaluate(theta):
        res = np.empty(len(rows))
        jac = np.zeros((len(rows), n))
        for r, (lat, a, xi) in enumerate(rows):
            x = theta[xi].sum(axis=1)
            terms = a * np.exp(x)
            total = terms.sum()
            res[r] = np.log(total / lat.ms)
            w = terms / total
            for c in range(len(CLASSES)):
                for j in xi[c]:
                    jac[r, j] += w[c]
        return np.concatenate([res, pen @ theta]), np.vstack([jac, pen])

    theta = np.zeros(n)
    r, jac = evaluate(theta)
    cost = float(r @ r)
    damping = 1e-3
    iterations = 0
    for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (read after the loop)
        g = jac.T @ r
        h = jac.T @ jac
        step = np.linalg.solve(h + damping * np.diag(np.diag(h) + 1.0), -g)
        trial = theta + step
        with np.errstate(over="ignore", invalid="ignore"):
            r2, jac2 = evaluate(trial)
        cost2 = float(r2 @ r2)
        if np.isfinite(cost2) and cost2 < cost:
            done = cost - cost2 <= 1e-15 * max(cost, 1.0)
            theta, r, jac, cost = trial, r2, jac2, cost2
            damping = max(damping / 3.0, 1e-12)
            if done:
                break
        else:
            damping *= 4.0
            if damping > 1e12:
                break

    # effective number of parameters: trace of J_d (J'J)^-1 J_d' with J the stacked data and penalty rows
    jd = jac[:len(rows)]
    edf = float(np.trace(jd @ np.linalg.solve(jac.T @ jac, jd.T)))
    effs = []
    for s in names:
        for p in PROCESSORS:
            xi = np.array(layout.x_rows(s, p, fams[s, p]))
            effs.append((s, p, tuple(float(v) for v in np.exp(-theta[xi].sum(axis=1)))))
    residuals = []
    for lat, a, xi in rows:
        residuals.append(Residual(lat.soc, lat.model, lat.processor, lat.ms,
                                  float((a * np.exp(theta[xi].sum(axis=1))).sum())))
    return SocFit(tuple(effs), tuple(residuals), n, iterations, edf)


def load_inputs(latencies: Sequence[Latency], extra_socs: Sequence[str] = ()
                ) -> tuple[dict[str, SoC], dict[str, Workload]]:
    """The SoCs (named in the latencies, plus ``extra_socs``) and workloads a fit needs."""
    from accelsim.partition.soc import load_soc
    from workloads.loader import load_workload

    socs = {s: load_soc(s) for s in sorted({lat.soc for lat in latencies} | set(extra_socs))}
    workloads = {m: load_workload(m) for m in sorted({lat.model for lat in latencies})}
    return socs, workloads
