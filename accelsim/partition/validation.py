"""Held-out validation of the calibrated SoC profiles against CoDL's published numbers.

Nothing here fits co-execution results. Each check calibrates on part of the single-processor
latencies (:mod:`accelsim.partition.soc_fit`) and predicts what was held out:

- leave one model out: fit on the other models (every SoC), predict the held-out model's CPU-only and
  GPU-only latency on every SoC, and plan its co-execution with the profiles of that fit;
- leave one SoC out: fit on the other SoCs (every model), predict the held-out SoC's latencies (its own
  per-SoC scale is then 0, and a family without data falls back to the shared classes).

Published figures compared with (reference/codl.md): CoDL's measured latencies on the Snapdragon 855,
its average speedups over CPU-only and GPU-only (Snapdragons 2.08x / 1.56x; Kirin 990 1.41x / 2.43x).
Definitions: ``error = predicted / measured - 1``; ``speedup over X = predicted X-only latency /
predicted CoDL latency`` (both from the same held-out profile); ``over best`` uses the faster of the two
single-processor predictions. The table also states the mean speedups over CoDL's measured
single-processor latencies (measured X-only / predicted CoDL), for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.partition.kernel_class import FACTORS, MEMORY, label
from accelsim.partition.latencies import PROCESSORS, Latency
from accelsim.partition.predictor import processors
from accelsim.partition.report import run
from accelsim.partition.soc import SoC
from accelsim.partition.soc_fit import Regularization, check_determined, class_times_ms, fit_socs, model_ms
from workloads.layer import Workload

#: CoDL's measured co-execution latencies on the Snapdragon 855, ms (reference/codl.md)
CODL_MS_SD855: dict[str, float] = {"codl_retinaface": 680.0, "codl_yolov2": 140.0, "codl_vgg16": 137.0,
                                   "codl_posenet": 244.0, "codl_fast_style_transfer": 267.0}
#: CoDL's average speedups (vs CPU-only, vs GPU-only): Snapdragons, and Kirin 990 (its figure's order)
PUBLISHED_SPEEDUPS: dict[str, tuple[float, float]] = {"snapdragon": (2.08, 1.56), "kirin990": (1.41, 2.43)}
#: CoDL's average speedup over its muLayer-like baseline, and its share of operators split along H (all SoCs)
PUBLISHED_OVER_MULAYER = 3.43
PUBLISHED_H_SHARE = 0.77


#: the SoCs CoDL measured, by the group of published averages each belongs to
SOC_GROUPS: dict[str, str] = {"sd855": "snapdragon", "sd865": "snapdragon", "sd888": "snapdragon",
                              "kirin990": "kirin990"}


def soc_group(soc: str) -> str | None:
    """The group of CoDL's published averages a SoC (shipped name or YAML path, by its stem) belongs
    to; None for a SoC CoDL did not measure (a user's own profile): no published figure applies."""
    return SOC_GROUPS.get(Path(soc).stem)


def published(soc: str) -> dict[str, float] | None:
    """CoDL's published averages that apply to ``soc``: speedup over each baseline, and the H share;
    None when CoDL did not measure that SoC (:func:`soc_group`)."""
    group = soc_group(soc)
    if group is None:
        return None
    over_cpu, over_gpu = PUBLISHED_SPEEDUPS[group]
    return {"cpu_only": over_cpu, "gpu_only": over_gpu, "mulayer": PUBLISHED_OVER_MULAYER,
            "h_share": PUBLISHED_H_SHARE}


@dataclass(frozen=True)
class HeldOut:
    """One held-out (soc, model): measured and predicted single-processor latencies, and the plan."""

    soc: str
    model: str
    measured: tuple[tuple[str, float], ...]     # (processor, ms) for each processor measured
    predicted: tuple[tuple[str, float], ...]    # (processor, ms) for cpu and gpu
    codl_ms: float | None = None                # predicted CoDL latency (planned with the held-out profile)
    coexecuted: int = 0
    h_share: float | None = None

    def measured_ms(self, processor: str) -> float | None:
        return dict(self.measured).get(processor)

    def predicted_ms(self, processor: str) -> float:
        return dict(self.predicted)[processor]

    def error(self, processor: str) -> float | None:
        m = self.measured_ms(processor)
        return None if m is None else self.predicted_ms(processor) / m - 1.0

    def speedup(self, processor: str) -> float:
        assert self.codl_ms is not None
        return self.predicted_ms(processor) / self.codl_ms

    @property
    def speedup_best(self) -> float:
        assert self.codl_ms is not None
        return min(self.predicted_ms(p) for p in PROCESSORS) / self.codl_ms


def _held_out(latencies: Sequence[Latency], socs: Mapping[str, SoC], workloads: Mapping[str, Workload],
              keep, targets: Sequence[tuple[str, str]], plan: bool, reg: Regularization | None) -> list[HeldOut]:
    fit = fit_socs([lat for lat in latencies if keep(lat)], socs, workloads, reg or Regularization())
    out = []
    for soc_name, model in targets:
        soc = fit.calibrated(soc_name, socs[soc_name])
        w = workloads[model]
        measured = tuple((lat.processor, lat.ms) for lat in latencies if (lat.soc, lat.model) == (soc_name, model))
        predicted = tuple((p, model_ms(soc, w, p)) for p in PROCESSORS)
        codl_ms, co, h = None, 0, None
        if plan:
            result = run(soc, w)
            codl_ms, co, h = result.codl.latency_ms, len(result.coexecuted()), result.h_share
        out.append(HeldOut(soc_name, model, measured, predicted, codl_ms, co, h))
    return out


def _pairs(latencies: Sequence[Latency]) -> list[tuple[str, str]]:
    return sorted({(lat.soc, lat.model) for lat in latencies})


def leave_one_model_out(latencies: Sequence[Latency], socs: Mapping[str, SoC], workloads: Mapping[str, Workload],
                        plan: bool = True, reg: Regularization | None = None) -> list[HeldOut]:
    out = []
    for model in sorted({lat.model for lat in latencies}):
        targets = [(s, m) for s, m in _pairs(latencies) if m == model]
        out += _held_out(latencies, socs, workloads, lambda lat, m=model: lat.model != m, targets, plan, reg)
    return out


def check_holdouts(latencies: Sequence[Latency], source: str) -> None:
    """ConfigError (one line, naming ``source``) unless the latencies cover at least 2 models and 2 SoCs
    and every held-out fit is determined (:func:`~accelsim.partition.soc_fit.check_determined`): checked
    before anything is fitted or printed."""
    for what, names in (("model", {lat.model for lat in latencies}), ("SoC", {lat.soc for lat in latencies})):
        if len(names) < 2:
            raise ConfigError(f"leave one {what} out needs latencies of at least 2 {what}s; the file has "
                              f"{len(names)} ({', '.join(sorted(names)) or 'none'})", source=source)
    for what, key in (("model", lambda lat: lat.model), ("SoC", lambda lat: lat.soc)):
        for held in sorted({key(lat) for lat in latencies}):
            check_determined([lat for lat in latencies if key(lat) != held], source,
                             f"leave one {what} out, without {held}: ")


def leave_one_soc_out(latencies: Sequence[Latency], socs: Mapping[str, SoC], workloads: Mapping[str, Workload],
                      plan: bool = False, reg: Regularization | None = None) -> list[HeldOut]:
    out = []
    for soc in sorted({lat.soc for lat in latencies}):
        targets = [(s, m) for s, m in _pairs(latencies) if s == soc]
        out += _held_out(latencies, socs, workloads, lambda lat, s=soc: lat.soc != s, targets, plan, reg)
    return out


def median(values: Sequence[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def latency_table(rows: Sequence[HeldOut], title: str) -> str:
    """Per (soc, model): measured and predicted CPU-only and GPU-only latency and the errors."""
    lines = [title, (f"{'soc':<10}{'model':<26}{'CPU meas':>9}{'CPU pred':>9}{'err':>7}"
                     f"{'GPU meas':>9}{'GPU pred':>9}{'err':>7}")]
    errors = []
    for r in rows:
        cells = []
        for p in PROCESSORS:
            m, e = r.measured_ms(p), r.error(p)
            cells.append(f"{'-' if m is None else f'{m:.0f}':>9}{r.predicted_ms(p):>9.1f}"
                         f"{'-' if e is None else f'{100 * e:+.1f}%':>7}")
            if e is not None:
                errors.append(abs(e))
        lines.append(f"{r.soc:<10}{r.model:<26}" + "".join(cells))
    if errors:
        lines.append(f"|error|: median {100 * median(errors):.1f}%, max {100 * max(errors):.1f}%, "
                     f"within 20%: {sum(e <= 0.20 for e in errors)} of {len(errors)}")
    return "\n".join(lines)


def coexecution_table(rows: Sequence[HeldOut], title: str) -> str:
    """Per (soc, model): predicted CoDL latency (and CoDL's measured on SD855), speedups; means by group."""
    lines = [title, (f"{'soc':<10}{'model':<26}{'CoDL pred':>10}{'measured':>9}{'err':>7}"
                     f"{'xCPU':>7}{'xGPU':>7}{'xbest':>7}{'co-exec':>8}{'along H':>8}")]
    for r in rows:
        assert r.codl_ms is not None, "coexecution_table needs planned rows (plan=True)"
        meas = CODL_MS_SD855.get(r.model) if r.soc == "sd855" else None
        err = "-" if meas is None else f"{100 * (r.codl_ms / meas - 1):+.1f}%"
        h = "n/a" if r.h_share is None else f"{100 * r.h_share:.0f}%"
        lines.append(f"{r.soc:<10}{r.model:<26}{r.codl_ms:>10.1f}{'-' if meas is None else f'{meas:.0f}':>9}{err:>7}"
                     f"{r.speedup('cpu'):>6.2f}x{r.speedup('gpu'):>6.2f}x{r.speedup_best:>6.2f}x{r.coexecuted:>8}{h:>8}")
    for group, (pub_cpu, pub_gpu) in PUBLISHED_SPEEDUPS.items():
        mine = [r for r in rows if soc_group(r.soc) == group]
        if mine:
            mc = sum(r.speedup("cpu") for r in mine) / len(mine)
            mg = sum(r.speedup("gpu") for r in mine) / len(mine)
            lines.append(f"mean {group} ({len(mine)} runs): x{mc:.2f} over CPU-only (CoDL {pub_cpu:.2f}x, "
                         f"{100 * (mc / pub_cpu - 1):+.1f}%), x{mg:.2f} over GPU-only (CoDL {pub_gpu:.2f}x, "
                         f"{100 * (mg / pub_gpu - 1):+.1f}%)")
            measured = [r for r in mine if all(r.measured_ms(p) is not None for p in PROCESSORS)]
            if measured:
                triples = [(r.measured_ms("cpu"), r.measured_ms("gpu"), r.codl_ms) for r in measured]
                xc = sum(c / t for c, _, t in triples if c is not None and t is not None) / len(triples)
                xg = sum(g / t for _, g, t in triples if g is not None and t is not None) / len(triples)
                lines.append(f"  the same over CoDL's *measured* single-processor latencies: x{xc:.2f} over CPU-only, "
                             f"x{xg:.2f} over GPU-only")
    return "\n".join(lines)


def class_share_table(soc: SoC, workloads: Mapping[str, Workload], soc_name: str) -> str:
    """Where each model's predicted single-processor time sits, per kernel-class factor combination
    (``soc``'s calibrated profile): the combinations a held-out model leans on that the other models
    barely exercise are the ones its prediction has to extrapolate."""
    cpu, gpu = processors(soc)
    times = {(name, p): class_times_ms(proc, workloads[name])
             for name in sorted(workloads) for p, proc in (("cpu", cpu), ("gpu", gpu))}
    combos = sorted({c for t in times.values() for c in t}, key=lambda c: (c == (MEMORY,), [FACTORS.index(f) for f in c]))
    labels = [label(c) for c in combos]
    widths = [max(6, len(x)) + 1 for x in labels]
    lines = [f"share of each model's predicted single-processor time per kernel class on {soc_name} "
             f"(calibrated profile; compute terms by factor combination, every operator's DRAM traffic in {MEMORY})",
             f"{'model':<26}{'proc':<5}{'ms':>8}" + "".join(f"{x:>{w}}" for x, w in zip(labels, widths))]
    for (name, proc_name), t in times.items():
        total = sum(t.values())
        lines.append(f"{name:<26}{proc_name:<5}{total:>8.1f}"
                     + "".join(f"{100 * t.get(c, 0.0) / total:>{w - 1}.0f}%" for c, w in zip(combos, widths)))
    return "\n".join(lines)
