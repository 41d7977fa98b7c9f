"""CoDL's kernel-latency predictor, its least-squares fit, and the FLOPs-only predictor beside it.

Kernel time (CoDL, MobiSys'22)::

    T_kernel = ceil(Size_out / (Size_block * #cores)) * ceil(Size_block / Size_basicUnit) * t_basicUnit

Sizes are counted in work items (:class:`~accelsim.partition.soc.Tile`: a CPU micro-kernel call's or a
GPU work item's output tile, partial tiles counted whole), so a thin band or a ragged channel count
pays for the items it leaves half empty. ``t_basicUnit`` is linear in the part's
``(1, H, W, IC, OC, red)`` where ``red`` is the reduction length per output (``IC*R*S/G`` for a
convolution): CoDL fits one model per kernel and filter size, which is the same as scaling IC by the
filter taps, so one model covers several filter sizes here.

A processor of a SoC adds to every compute-bound operator (part) whose kernel runs on its spec prior
(a kernel with measured ``t_unit_ns`` already includes its memory time) the time its DRAM traffic takes
(:func:`accelsim.partition.priors.traffic_bytes`: input, output and weights once, at the spec bandwidth):
a second roofline term, summed rather than overlapped (conservative). Each term is divided by its
calibrated efficiency: the compute term by the product of its kernel-class factors' efficiencies
(:mod:`accelsim.partition.kernel_class`), the traffic by factor ``mem``'s (which memory-bound operators,
whose prior already is their traffic, use alone)::

    T(part) = T_kernel / prod(efficiency[f] for f in factors(part)) + traffic_bytes(part) / bandwidth / efficiency[mem]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.errors import ConfigError
from accelsim.partition.impl import select
from accelsim.partition.kernel_class import FACTORS, MEMORY, combined, factors
from accelsim.partition.priors import prior, traffic_bytes
from accelsim.partition.shape import OpShape, channels_in_blocks
from accelsim.partition.soc import COEF_KEYS, SoC, Tile


def features(s: OpShape) -> tuple[float, ...]:
    """The regressors of ``t_basicUnit`` in ``COEF_KEYS`` order."""
    return (1.0, float(s.H), float(s.W), float(s.C), float(s.K), float(s.red))


@dataclass(frozen=True)
class KernelModel:
    """CoDL's form for one kernel implementation on one processor. ``measured``: the coefficients were
    fitted to measured kernel times (a SoC file's ``t_unit_ns``), which include the kernel's memory time,
    so no separate DRAM-traffic term is added to it; ``False``: a spec prior (compute roofline only)."""

    name: str
    item: Tile
    block: int
    unit: int
    coef_ns: tuple[float, ...]
    measured: bool = True

    def counts(self, s: OpShape, cores: int) -> tuple[int, int]:
        """(rounds of blocks over the cores, basic units per block)."""
        n = self.item.count(s.N, s.K, s.P, s.Q)
        if n == 0:
            return 0, 0
        rounds = -(-n // (self.block * cores))
        per_block = -(-min(self.block, n) // self.unit)
        return rounds, per_block

    def regressors(self, s: OpShape) -> tuple[float, ...]:
        """``features`` of the part as this kernel computes it: input channels in blocks of ``item.ic``."""
        return features(channels_in_blocks(s, self.item.ic))

    def linear_ns(self, s: OpShape) -> float:
        """The linear model's value for part ``s``, unclamped (may be <= 0 for a model with negative terms)."""
        return sum(c * x for c, x in zip(self.coef_ns, self.regressors(s)))

    def t_unit_ns(self, s: OpShape) -> float:
        return max(0.0, self.linear_ns(s))

    def time_ms(self, s: OpShape, cores: int) -> float:
        rounds, per_block = self.counts(s, cores)
        if rounds == 0:
            return 0.0
        return rounds * per_block * self.t_unit_ns(s) * 1e-6


@dataclass(frozen=True)
class Processor:
    """A processor as the planner sees it: cores, kernel models, the rule that picks one, the
    calibrated efficiency of each kernel-class factor (``FACTORS`` order; a part's compute time is divided
    by the product of its factors') and
    the DRAM bandwidth its compute-bound operators' traffic crosses (``None``: no traffic term). ``soc``:
    the SoC file (or name) it comes from, named in errors."""

    name: str
    cores: int
    models: tuple[KernelModel, ...]
    selector: str
    efficiency: tuple[float, ...] = (1.0,) * len(FACTORS)
    bandwidth_gbs: float | None = None
    soc: str = ""

    def model(self, name: str) -> KernelModel:
        for m in self.models:
            if m.name == name:
                return m
        raise ConfigError(f"{self.name}: no kernel model {name!r}; have {', '.join(m.name for m in self.models)}")

    def impl(self, s: OpShape) -> str:
        return select(self.selector, s)

    def class_ms(self, s: OpShape) -> tuple[tuple[str, ...], float, float]:
        """(kernel-class factors, compute term, DRAM-traffic term) of part ``s`` at efficiency 1 (the priors).

        A measured kernel (``t_unit_ns``) whose linear model gives a non-empty part <= 0 ns raises a
        ConfigError (a part costs time; the model is outside the range it was fitted on)."""
        combo = factors(s)
        if s.empty:
            return combo, 0.0, 0.0
        model = self.model(self.impl(s))
        if model.measured and model.linear_ns(s) <= 0:
            raise ConfigError(
                f"gives a non-positive time ({model.linear_ns(s):.4g} ns per basic unit) for a "
                f"{s.kind.value} part N={s.N} C={s.C} K={s.K} H={s.H} W={s.W} P={s.P} Q={s.Q} R={s.R} S={s.S} "
                f"on {self.name} kernel {model.name}; the coefficients must give every part a positive time",
                source=self.soc or None, key=f"{self.name}.kernels.{model.name}.t_unit_ns")
        compute = model.time_ms(s, self.cores)
        if combo == (MEMORY,) or model.measured or self.bandwidth_gbs is None:
            return combo, compute, 0.0
        return combo, compute, traffic_bytes(s) / (self.bandwidth_gbs * 1e9) * 1e3

    def time_ms(self, s: OpShape) -> float:
        combo, compute, traffic = self.class_ms(s)
        eff = self.efficiency
        return compute / combined(eff, combo) + traffic / eff[FACTORS.index(MEMORY)]

    def slowed(self, factor: float) -> Processor:
        """The same processor with every basic unit and its DRAM traffic ``factor`` times slower (a what-if
        for kernels that reach ``1/factor`` of their rooflines; not a calibration)."""
        if not factor > 0:
            raise ConfigError(f"slow-down factor must be > 0, got {factor!r}")
        models = tuple(KernelModel(m.name, m.item, m.block, m.unit, tuple(c * factor for c in m.coef_ns), m.measured)
                       for m in self.models)
        bandwidth = None if self.bandwidth_gbs is None else self.bandwidth_gbs / factor
        return Processor(self.name, self.cores, models, self.selector, self.efficiency, bandwidth, self.soc)


def processors(soc: SoC, calibrated: bool = True) -> tuple[Processor, Processor]:
    """(CPU, GPU) of ``soc`` with each kernel's coefficients: from the YAML if given, else the prior;
    with the SoC file's kernel-class efficiencies, or all 1.0 (``calibrated=False``: what a fit starts from)."""
    out = []
    for name, spec in (("cpu", soc.cpu), ("gpu", soc.gpu)):
        models = tuple(KernelModel(k.name, k.item, k.block, k.unit,
                                   k.coef_ns if k.coef_ns is not None else prior(k, spec, soc.bandwidth_gbs),
                                   measured=k.coef_ns is not None)
                       for k in spec.kernels)
        eff = spec.efficiency if calibrated else (1.0,) * len(FACTORS)
        out.append(Processor(name, spec.cores, models, name, eff, soc.bandwidth_gbs, soc.source or soc.name))
    return out[0], out[1]


# ---- fitting ---------------------------------------------------------------------------------

#: robust refit: rows whose relative residual is further than this many robust standard deviations
#: (1.4826 x median absolute deviation) from the median residual are dropped, but never rows within
#: +-10% (the accuracy band) of the median
OUTLIER_SIGMAS = 3.0
REFITS = 2


def _lstsq(x, y):
    import numpy as np

    a = x / y[:, None]
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    sol, *_ = np.linalg.lstsq(a / scale, np.ones(len(y)), rcond=None)
    return sol / scale


def _relative_lstsq(rows: Sequence[Sequence[float]], targets: Sequence[float]) -> tuple[float, ...]:
    """Least squares on relative error: minimise sum(((x . b) - y) / y)^2 (columns rescaled), then
    refit without outliers (``OUTLIER_SIGMAS`` robust deviations off; ``REFITS`` rounds): a timing
    disturbed by another process must not pull the model. Exact data keep every row."""
    import numpy as np

    x = np.asarray(rows, dtype=float)
    y = np.asarray(targets, dtype=float)
    if x.ndim != 2 or len(y) != len(x) or len(y) == 0:
        raise ConfigError("fit needs at least one measurement")
    if (y <= 0).any():
        raise ConfigError("fit needs positive measured times")
    keep = np.ones(len(y), dtype=bool)
    sol = _lstsq(x, y)
    for _ in range(REFITS):
        resid = x @ sol / y - 1.0
        centre = np.median(resid[keep])
        spread = max(OUTLIER_SIGMAS * 1.4826 * np.median(np.abs(resid[keep] - centre)), 0.10)
        new_keep = np.abs(resid - centre) <= spread
        if new_keep.sum() <= x.shape[1] or (new_keep == keep).all():
            break
        keep = new_keep
        sol = _lstsq(x[keep], y[keep])
    return tuple(float(v) for v in sol)


def fit_kernel(name: str, item: Tile, block: int, unit: int, shapes: Sequence[OpShape],
               cores: Sequence[int], seconds: Sequence[float]) -> KernelModel:
    """Fit ``t_basicUnit``'s coefficients to measured kernel times (seconds) by least squares.

    Each measurement is divided by its ``rounds * units per block`` to give the time of one basic
    unit, the target of the linear model (as CoDL's artifact does).
    """
    skeleton = KernelModel(name, item, block, unit, (0.0,) * len(COEF_KEYS))
    rows, targets = [], []
    for s, c, t in zip(shapes, cores, seconds, strict=True):
        rounds, per_block = skeleton.counts(s, c)
        if rounds == 0:
            continue
        rows.append(skeleton.regressors(s))
        targets.append(t * 1e9 / (rounds * per_block))
    return KernelModel(name, item, block, unit, _relative_lstsq(rows, targets))


@dataclass(frozen=True)
class FlopsModel:
    """The FLOPs-only predictor (muLayer's kind): ``T = intercept + slope * FLOPs``."""

    intercept_ms: float
    ms_per_gflop: float

    def time_ms(self, s: OpShape) -> float:
        if s.empty:
            return 0.0
        return max(0.0, self.intercept_ms + self.ms_per_gflop * s.flops / 1e9)


def fit_flops(flops: Sequence[float], ms: Sequence[float]) -> FlopsModel:
    """Least squares (relative error) of measured times on FLOPs."""
    a, b = _relative_lstsq([(1.0, f / 1e9) for f in flops], ms)
    return FlopsModel(a, b)


def within(predicted: Sequence[float], measured: Sequence[float], tolerance: float = 0.10) -> float:
    """Share of predictions within ``+-tolerance`` of the measured value (CoDL's accuracy metric)."""
    pairs = list(zip(predicted, measured, strict=True))
    if not pairs:
        return 0.0
    return sum(1 for p, m in pairs if abs(p - m) <= tolerance * m) / len(pairs)
