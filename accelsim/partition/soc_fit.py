"""Calibrate SoC profiles: kernel-class factor efficiencies fitted to measured single-processor latencies.

Model. A processor's time for an operator is the sum of two roofline terms (:mod:`accelsim.partition.predictor`):
its compute prior (:mod:`accelsim.partition.priors`, the CoDL form at spec-sheet rates) divided by the
product of its kernel-class factors' efficiencies (:mod:`accelsim.partition.kernel_class`: the base
``conv`` and the modifiers its shape has, e.g. ``thin`` and ``large`` for a 9x9 layer on 3 channels), and
its DRAM traffic at the spec bandwidth divided by factor ``mem``'s (memory-bound operators: that term
alone). A whole model on one processor therefore takes

    T(soc, model, p) = sum_k A[soc, model, p, k] * exp(x[soc, p, k])
    x[soc, p, k] = sum_{c in k} (a[p, c] + d[fam, c]) + f[fam] + v[soc, p] + e[p, kind(k)] * log(rate[soc, p, kind(k)] / rate_ref)

where ``k`` runs over the factor combinations the model has (compute combinations and ``mem``), ``A`` is
their prior time and ``exp(-x)`` their efficiency. ``a`` is shared by every processor of kind ``p`` (cpu
/ gpu) in the fit, ``d`` (per factor) and ``f`` (one scale) by a family (SoC YAML ``family``: the Arm
big-core clusters, the Adreno GPUs, Kirin 990's Mali), ``v`` is one scale per SoC and processor. The
last term is the **elasticity** of the measured speed to the spec sheet, shared by a kind: ``rate`` is the
processor's spec peak (cores x MACs per second) for compute and the spec DRAM bandwidth for ``mem``,
``rate_ref`` the geometric mean over the fit's SoCs; ``e = 0`` means the measured speed follows the spec
sheet (what the prior already does), ``e = 1`` means it does not follow it at all. The data are thin (5
models per SoC and processor), so the fit is regularized (ridge, in log units): modifiers toward 1
(weight ``modifiers``: a large filter costs what the base does unless the data say otherwise), family
deviations toward 0 (``family``), family scales toward 0 (``family_scale``), per-SoC scales toward 0
(``scale``), elasticities toward 0 (``elasticity``); the two bases are free. A modifier no model
exercises thus stays at 1; a SoC without data gets its family's factors and scale at its own spec rates
through the shared elasticity; a family without data gets the shared factors. The per-SoC efficiencies
reported (and written to the SoC files) carry the scales and the elasticity term in the bases ``conv``
and ``mem``, so every combination's efficiency is the product of its factors'.

Fit: Levenberg-Marquardt on ``log T_pred - log T_measured`` (relative error) plus the penalty rows,
analytic Jacobian, from x = 0, a fixed iteration cap and a fixed stopping rule: deterministic. A fit that
reaches the cap (``MAX_ITERATIONS``) before the stopping rule holds records ``SocFit.converged = False``.
Inputs are single-processor latencies only (:mod:`accelsim.partition.latencies`); co-execution
results are never fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from accelsim.errors import ConfigError
from accelsim.partition.kernel_class import COMPUTE, FACTORS, MEMORY, MODIFIERS, combined
from accelsim.partition.latencies import PROCESSORS, Latency
from accelsim.partition.predictor import Processor, processors
from accelsim.partition.shape import shape_of
from accelsim.partition.soc import SoC
from workloads.layer import Workload

MAX_ITERATIONS = 200


@dataclass(frozen=True)
class Regularization:
    """Ridge weights (log units) toward 0: modifiers (toward efficiency 1: no change from the base), per-SoC
    scales, family factor deviations, family scales and elasticities. Fixed a priori: a family's overall
    scale is nearly free (every SoC of the family informs it), its per-factor pattern is held close to its
    kind's."""

    modifiers: float = 0.01
    scale: float = 0.01
    family: float = 0.1
    family_scale: float = 0.001
    elasticity: float = 0.01


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
    elasticities: tuple[tuple[str, str, float], ...] = ()   # (processor, "compute" / "mem", e)
    converged: bool = True   # False: stopped at MAX_ITERATIONS with the cost still falling (maybe not a minimum)

    def efficiency(self, soc: str, processor: str) -> tuple[float, ...]:
        for s, p, eff in self.efficiencies:
            if (s, p) == (soc, processor):
                return eff
        raise KeyError((soc, processor))

    def calibrated(self, name: str, soc: SoC) -> SoC:
        """``soc`` with this fit's efficiencies for ``name``."""
        return replace(soc, cpu=replace(soc.cpu, efficiency=self.efficiency(name, "cpu")),
                       gpu=replace(soc.gpu, efficiency=self.efficiency(name, "gpu")))


def class_times_ms(proc: Processor, workload: Workload) -> dict[tuple[str, ...], float]:
    """Time of the workload's operators on ``proc`` per kernel-class factor combination, whole operators:
    each operator's compute term under its combination, its DRAM-traffic term under ``("mem",)``, each at
    ``proc``'s efficiency. Combinations in first-seen order."""
    out: dict[tuple[str, ...], float] = {}
    mem_eff = proc.efficiency[FACTORS.index(MEMORY)]
    for layer in workload.layers:
        combo, compute, traffic = proc.class_ms(shape_of(layer))
        out[combo] = out.get(combo, 0.0) + compute / combined(proc.efficiency, combo)
        if traffic:
            out[(MEMORY,)] = out.get((MEMORY,), 0.0) + traffic / mem_eff
    return out


def model_ms(soc: SoC, workload: Workload, processor: str) -> float:
    """The whole model on one processor of ``soc`` as calibrated (its single-processor latency)."""
    cpu, gpu = processors(soc)
    return sum(class_times_ms(cpu if processor == "cpu" else gpu, workload).values())


def spec_rate(soc: SoC, processor: str, kind: str) -> float:
    """The spec-sheet rate a ``kind`` (``compute`` or ``mem``) of ``processor``'s time scales with: DRAM
    bandwidth (GB/s) for ``mem``, else the processor's peak (GMAC/s over all cores)."""
    if kind == MEMORY:
        return soc.bandwidth_gbs
    spec = soc.cpu if processor == "cpu" else soc.gpu
    return spec.cores * spec.macs_per_s_per_core / 1e9


def _family(soc: SoC, processor: str) -> str:
    spec = soc.cpu if processor == "cpu" else soc.gpu
    return spec.family or spec.name


#: the kinds of time an elasticity applies to, each carried by its base factor (``conv``, ``mem``)
KINDS = ("compute", MEMORY)
_BASE = {"compute": COMPUTE, MEMORY: MEMORY}


def _kind(combo: tuple[str, ...]) -> str:
    return MEMORY if combo == (MEMORY,) else "compute"


class _Layout:
    """Names of the parameter vector's entries, in a fixed order, and the design row of each (soc,
    processor, factor combination): the coefficients summed into its log inverse efficiency x."""

    def __init__(self, socs: Mapping[str, SoC], families: Mapping[tuple[str, str], tuple[str, str]]):
        self.socs = socs
        self.families = families
        self.names: list[tuple] = []
        for p in PROCESSORS:
            self.names += [("a", p, c) for c in FACTORS]
        for fam in sorted(set(families.values())):
            self.names += [("d", fam, c) for c in FACTORS] + [("f", fam)]
        self.names += [("v", s, p) for s in sorted(socs) for p in PROCESSORS]
        self.names += [("e", p, kind) for p in PROCESSORS for kind in KINDS]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.ref = {(p, kind): float(np.exp(np.mean([np.log(spec_rate(soc, p, kind)) for soc in socs.values()])))
                    for p in PROCESSORS for kind in KINDS}
        self._rows: dict[tuple[str, str, tuple[str, ...]], np.ndarray] = {}

    def scale_row(self, s: str, p: str, kind: str) -> np.ndarray:
        """The family scale, the SoC scale and the elasticity term (one per combination)."""
        m = np.zeros(len(self.names))
        m[self.index[("f", self.families[s, p])]] = 1.0
        m[self.index[("v", s, p)]] = 1.0
        m[self.index[("e", p, kind)]] = np.log(spec_rate(self.socs[s], p, kind) / self.ref[p, kind])
        return m

    def factor_row(self, s: str, p: str, factor: str) -> np.ndarray:
        m = np.zeros(len(self.names))
        m[self.index[("a", p, factor)]] = 1.0
        m[self.index[("d", self.families[s, p], factor)]] = 1.0
        return m

    def row(self, s: str, p: str, combo: tuple[str, ...]) -> np.ndarray:
        key = (s, p, combo)
        if key not in self._rows:
            self._rows[key] = sum((self.factor_row(s, p, c) for c in combo), self.scale_row(s, p, _kind(combo)))
        return self._rows[key]


#: latencies of at least this many models per processor kind determine a fit: each kind's two bases
#: (``conv`` and ``mem``) are free (unregularized), so one model per kind leaves them underdetermined
MIN_MODELS_PER_PROCESSOR = 2


def check_determined(latencies: Sequence[Latency], source: str | None = None, context: str = "") -> None:
    """ConfigError (one line) unless the latencies cover at least ``MIN_MODELS_PER_PROCESSOR`` models on
    each processor kind: with fewer, the fit's free bases are not determined (a singular system)."""
    for p in PROCESSORS:
        models = sorted({lat.model for lat in latencies if lat.processor == p})
        if len(models) < MIN_MODELS_PER_PROCESSOR:
            raise ConfigError(f"{context}the {p} latencies cover {len(models)} model(s) "
                              f"({', '.join(models) or 'none'}); a calibration needs latencies of at least "
                              f"{MIN_MODELS_PER_PROCESSOR} models on each processor (cpu and gpu) to determine "
                              f"its compute and memory bases", source=source)


def fit_socs(latencies: Sequence[Latency], socs: Mapping[str, SoC], workloads: Mapping[str, Workload],
             reg: Regularization | None = None) -> SocFit:
    """Fit efficiencies for every SoC in ``socs`` to the latencies (whose SoCs must be among them)."""
    reg = reg or Regularization()
    if not latencies:
        raise ConfigError("calibration needs at least one measured latency")
    check_determined(latencies)
    names = sorted(socs)
    fams = {(s, p): (p, _family(socs[s], p)) for s in names for p in PROCESSORS}
    layout = _Layout(socs, fams)
    base = {s: processors(socs[s], calibrated=False) for s in names}
    rows = []
    for lat in latencies:
        if lat.soc not in socs or lat.model not in workloads:
            raise ConfigError(f"latency of {lat.model} on {lat.soc}: SoC or workload not loaded for the fit")
        proc = base[lat.soc][PROCESSORS.index(lat.processor)]
        times = class_times_ms(proc, workloads[lat.model])
        a = np.array(list(times.values()))
        m = np.array([layout.row(lat.soc, lat.processor, combo) for combo in times])
        rows.append((lat, a, m))
    n = len(layout.names)

    weights = {"d": reg.family, "f": reg.family_scale, "v": reg.scale, "e": reg.elasticity}
    penalty = np.zeros(n)
    for name, i in layout.index.items():
        if name[0] == "a":
            penalty[i] = reg.modifiers if name[2] in MODIFIERS else 0.0
        else:
            penalty[i] = weights[name[0]]
    keep = penalty > 0
    pen = np.diag(np.sqrt(penalty))[keep]

    def evaluate(theta):
        res = np.empty(len(rows))
        jac = np.zeros((len(rows), n))
        for r, (lat, a, m) in enumerate(rows):
            terms = a * np.exp(m @ theta)
            total = terms.sum()
            res[r] = np.log(total / lat.ms)
            jac[r] = (terms / total) @ m
        return np.concatenate([res, pen @ theta]), np.vstack([jac, pen])

    theta = np.zeros(n)
    r, jac = evaluate(theta)
    cost = float(r @ r)
    damping = 1e-3
    iterations = 0
    converged = False
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
                converged = True
                break
        else:
            damping *= 4.0
            if damping > 1e12:   # no step lowers the cost: a minimum to rounding
                converged = True
                break

    # effective number of parameters: trace of J_d (J'J)^-1 J_d' with J the stacked data and penalty rows
    jd = jac[:len(rows)]
    edf = float(np.trace(jd @ np.linalg.solve(jac.T @ jac, jd.T)))
    effs = []
    for s in names:
        for p in PROCESSORS:
            x = [layout.factor_row(s, p, c) @ theta for c in FACTORS]
            for kind in KINDS:   # the scales and the elasticity term ride on the bases
                x[FACTORS.index(_BASE[kind])] += layout.scale_row(s, p, kind) @ theta
            effs.append((s, p, tuple(float(np.exp(-v)) for v in x)))
    residuals = []
    for lat, a, m in rows:
        residuals.append(Residual(lat.soc, lat.model, lat.processor, lat.ms, float((a * np.exp(m @ theta)).sum())))
    elasticities = tuple((p, kind, float(theta[layout.index[("e", p, kind)]])) for p in PROCESSORS for kind in KINDS)
    return SocFit(tuple(effs), tuple(residuals), n, iterations, edf, elasticities, converged)


def load_inputs(latencies: Sequence[Latency], extra_socs: Sequence[str] = ()
                ) -> tuple[dict[str, SoC], dict[str, Workload]]:
    """The SoCs (named in the latencies, plus ``extra_socs``) and workloads a fit needs."""
    from accelsim.partition.soc import load_soc
    from workloads.loader import load_workload

    socs = {s: load_soc(s) for s in sorted({lat.soc for lat in latencies} | set(extra_socs))}
    workloads = {m: load_workload(m) for m in sorted({lat.model for lat in latencies})}
    return socs, workloads
