"""One roofline analysis (model, epilogue fusion, optional conv-chain tiling and Winograd) as data,
as the ``accelsim.roofline/1`` JSON document and as the terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim import __version__
from accelsim.errors import ConfigError
from accelsim.roofline.fusion import (
    ChainTiling,
    ModelFusion,
    chain_points,
    check_chain,
    choose_tile,
    model_epilogue_fusion,
    tile_chain,
)
from accelsim.roofline.hardware import Hardware
from accelsim.roofline.model import (
    ModelRoofline,
    OpCost,
    RooflinePoint,
    hardware_dict,
    model_roofline,
    operator_cost,
    place,
)
from accelsim.roofline.winograd import WinogradLayer, eligible, tile_cost, winograd_layer
from workloads.layer import Layer, Workload

SCHEMA = "accelsim.roofline/1"


@dataclass(frozen=True)
class ChainAnalysis:
    layers: tuple[Layer, ...]
    chosen: ChainTiling
    buffer_bytes: float | None           # None: the tile was given, not chosen
    candidates: tuple[ChainTiling, ...]  # a few tile sizes for the trade-off table
    before: RooflinePoint
    after: RooflinePoint


@dataclass(frozen=True)
class WinogradRow:
    layer: WinogradLayer
    direct: RooflinePoint
    fast: RooflinePoint                  # same bytes, Winograd FLOPs

    @property
    def speedup(self) -> float:
        return self.direct.time_s / self.fast.time_s


@dataclass(frozen=True)
class RooflineReport:
    model: ModelRoofline
    fusion: ModelFusion | None
    chain: ChainAnalysis | None
    winograd: tuple[WinogradRow, ...] | None
    winograd_m: int | None


def _chain_layers(workload: Workload, names: Sequence[str]) -> tuple[Layer, ...]:
    layers = workload.select(list(names)).layers
    check_chain(layers)
    return layers


def analyze_chain(workload: Workload, hw: Hardware, names: Sequence[str], *, tile: int | None = None,
                  buffer_bytes: float | None = None, weights: str = "resident") -> ChainAnalysis:
    layers = _chain_layers(workload, names)
    eb = hw.element_bytes
    if tile is not None:
        chosen = tile_chain(layers, min(tile, layers[-1].P), min(tile, layers[-1].Q), element_bytes=eb,
                            weights=weights)
        buffer_bytes = None
    else:
        if buffer_bytes is None:
            buffer_bytes = hw.on_chip_bytes
        if buffer_bytes is None:
            raise ConfigError(f"hardware {hw.name!r} states no on-chip storage: give --buffer-kb or --tile")
        chosen = choose_tile(layers, buffer_bytes, element_bytes=eb, weights=weights)
    last = layers[-1]
    sizes = sorted({t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256) if t < max(last.P, last.Q)}
                   | {max(last.P, last.Q), chosen.tile_h})
    candidates = tuple(tile_chain(layers, min(t, last.P), min(t, last.Q), element_bytes=eb, weights=weights)
                       for t in sizes)
    before, after = chain_points(chosen, layers, hw)
    return ChainAnalysis(layers, chosen, buffer_bytes, candidates, before, after)


def analyze_winograd(workload: Workload, hw: Hardware, m: int) -> tuple[WinogradRow, ...]:
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 8:
        raise ConfigError(f"Winograd output tile m must be an integer in 1..8, got {m!r}")
    rows = []
    for layer in workload.layers:
        if not eligible(layer):
            continue
        w = winograd_layer(layer, m)
        cost = operator_cost(layer, hw.element_bytes)
        direct = place(layer.name, layer.kind.value, cost, hw)
        fast = place(layer.name, layer.kind.value, OpCost(w.flops, cost.bytes), hw)
        rows.append(WinogradRow(w, direct, fast))
    return tuple(rows)


def analyze(workload: Workload, hw: Hardware, *, epilogue: Sequence[str] = ("bias", "relu"),
            chain: Sequence[str] | None = None, tile: int | None = None, buffer_bytes: float | None = None,
            weights: str = "resident", winograd_m: int | None = None) -> RooflineReport:
    model = model_roofline(workload, hw)
    fusion = model_epilogue_fusion(workload, hw, epilogue) if epilogue else None
    chain_analysis = (analyze_chain(workload, hw, chain, tile=tile, buffer_bytes=buffer_bytes, weights=weights)
                      if chain else None)
    wino = analyze_winograd(workload, hw, winograd_m) if winograd_m is not None else None
    return RooflineReport(model, fusion, chain_analysis, wino, winograd_m)


# ---------------------------------------------------------------------------------------------
# JSON

def _cost_dict(cost: OpCost, time_s: float, hw: Hardware) -> dict:
    return {"flops": cost.flops, "bytes": cost.bytes, "intensity": cost.intensity,
            "attainable_flops": hw.attainable(cost.intensity), "time_s": time_s}


def to_dict(report: RooflineReport) -> dict:
    m = report.model
    hw = m.hardware
    doc = {
        "schema": SCHEMA,
        "accelsim_version": __version__,
        "workload": m.workload,
        "batch": m.batch,
        "hardware": hardware_dict(hw),
        "layers": [p.as_dict() for p in m.layers],
        "model": m.model_dict(),
    }
    if report.fusion is not None:
        f = report.fusion
        doc["epilogue_fusion"] = {
            "ops": list(f.ops),
            "separate": _cost_dict(f.separate_cost, f.separate_time_s, hw),
            "fused": _cost_dict(f.fused_cost, f.fused_time_s, hw),
            "saved_bytes": f.separate_cost.bytes - f.fused_cost.bytes,
        }
    if report.chain is not None:
        c = report.chain
        doc["chain"] = {
            "buffer_bytes": c.buffer_bytes,
            "chosen": c.chosen.as_dict(),
            "candidates": [t.as_dict() for t in c.candidates],
            "before": c.before.as_dict(),
            "after": c.after.as_dict(),
        }
    if report.winograd is not None and report.winograd_m is not None:
        tc = tile_cost(report.winograd_m, 3)
        doc["winograd"] = {
            "m": report.winograd_m,
            "layers": [{"name": r.layer.name, "r": r.layer.r, "tiles_per_image": r.layer.tiles,
                        "direct_flops": r.layer.direct_flops, "winograd_flops": r.layer.flops,
                        "transform_flops": r.layer.transform_flops, "bound": r.direct.bound,
                        "direct_time_s": r.direct.time_s, "winograd_time_s": r.fast.time_s,
                        "speedup": r.speedup} for r in report.winograd],
            "multiply_reduction_3x3": tc.reduction,
        }
    return doc


# ---------------------------------------------------------------------------------------------
# terminal table

def _g(x: float) -> str:
    return f"{x:,.4g}"


def _time(seconds: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale:
            return f"{seconds / scale:,.4g} {unit}"
    return f"{seconds / 1e-9:,.4g} ns"


def _mb(x: float) -> str:
    return f"{x / 1e6:,.3f}"


def _gflops(x: float) -> str:
    return f"{x / 1e9:,.1f}"


def _cols(rows: list[list[str]], header: list[str], right: set[int]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def table(report: RooflineReport) -> str:
    m = report.model
    hw = m.hardware
    out = [f"Roofline of {m.workload} (batch {m.batch}) on {hw.describe()}"]
    if hw.bandwidth is None:
        out.append("  bandwidth is unlimited (the architecture gives no dram.bandwidth_gb_per_s): "
                   "attainable = peak for every layer")
    out.append("")
    rows = [[p.name, p.kind, f"{p.flops / 1e6:,.1f}", _mb(p.bytes), f"{p.intensity:,.2f}",
             _gflops(p.attainable_flops), p.bound] for p in m.layers]
    rows.append(["MODEL", "", f"{m.flops / 1e6:,.1f}", _mb(m.bytes), f"{m.intensity:,.2f}",
                 _gflops(m.attainable_flops), m.bound])
    out += _cols(rows, ["layer", "kind", "MFLOP", "MB", "FLOP/B", "attain GFLOP/s", "bound"], {2, 3, 4, 5})
    out.append(f"model: {m.count('compute')} compute-bound and {m.count('memory')} memory-bound layers; "
               f"sum of layer times {_time(m.time_s)} = {_gflops(m.achieved_flops)} GFLOP/s achieved "
               f"({100 * m.achieved_flops / hw.peak_flops:.1f}% of peak)")
    if report.fusion is not None:
        f = report.fusion
        sep, fus = f.separate_cost, f.fused_cost
        out += ["", f"Epilogue fusion ({' + '.join(f.ops)} after every MAC layer):"]
        for label, cost, t in (("separate", sep, f.separate_time_s), ("fused", fus, f.fused_time_s)):
            out.append(f"  {label:8s} {_gflops(cost.flops)} GFLOP  {_mb(cost.bytes)} MB  "
                       f"{cost.intensity:,.2f} FLOP/B  attainable {_gflops(hw.attainable(cost.intensity))} "
                       f"GFLOP/s  time {_time(t)}")
        out.append(f"  saved {_mb(sep.bytes - fus.bytes)} MB: one write + one read of the output tensor "
                   f"per fused operator; {f.separate_time_s / f.fused_time_s:.2f}x faster")
    if report.chain is not None:
        c = report.chain
        chosen = c.chosen
        how = (f"of the square tiles that fit {c.buffer_bytes / 1024:,.0f} kB, fewest MACs recomputed"
               if c.buffer_bytes is not None else "tile given")
        out += ["", f"Tiled fusion of {' -> '.join(chosen.layers)} ({how}: {chosen.tile_h}x{chosen.tile_w}, "
                    f"{chosen.tiles} tiles; weights {chosen.weights})"]
        rows = []
        for cand in c.candidates:
            mark = " *" if (cand.tile_h, cand.tile_w) == (chosen.tile_h, chosen.tile_w) else ""
            rows.append([f"{cand.tile_h}x{cand.tile_w}{mark}", str(cand.tiles), _mb(cand.unfused_bytes),
                         _mb(cand.fused_bytes), _mb(cand.saved_bytes), f"{cand.recomputed_macs:,}",
                         f"{100 * cand.recomputed_macs / (cand.flops // 2):.1f}", f"{cand.onchip_bytes / 1024:,.1f}"])
        out += ["  " + line for line in _cols(
            rows, ["tile", "tiles", "unfused MB", "fused MB", "saved MB", "MACs recomputed", "% MACs", "on-chip kB"],
            {1, 2, 3, 4, 5, 6, 7})]
        for label, p in (("before", c.before), ("after", c.after)):
            out.append(f"  {label:6s} {p.intensity:,.2f} FLOP/B  attainable {_gflops(p.attainable_flops)} "
                       f"GFLOP/s  {p.bound}-bound  time {_time(p.time_s)}")
    if report.winograd is not None:
        mm = report.winograd_m
        out += ["", f"Winograd F({mm}x{mm}, RxR) on the eligible layers (square filter > 1, stride 1):"]
        if not report.winograd:
            out.append("  no eligible layer")
        else:
            rows = [[r.layer.name, f"F({mm}x{mm},{r.layer.r}x{r.layer.r})", r.direct.bound,
                     f"{r.layer.direct_flops / 1e6:,.1f}", f"{r.layer.flops / 1e6:,.1f}",
                     _time(r.direct.time_s), _time(r.fast.time_s), f"{r.speedup:.2f}"]
                    for r in report.winograd]
            direct = sum(r.direct.time_s for r in report.winograd)
            fast = sum(r.fast.time_s for r in report.winograd)
            rows.append(["ALL", "", "", f"{sum(r.layer.direct_flops for r in report.winograd) / 1e6:,.1f}",
                         f"{sum(r.layer.flops for r in report.winograd) / 1e6:,.1f}", _time(direct),
                         _time(fast), f"{direct / fast:.2f}"])
            out += ["  " + line for line in _cols(
                rows, ["layer", "algorithm", "bound", "direct MFLOP", "Winograd MFLOP", "direct time", "Winograd time",
                       "speedup"], {3, 4, 5, 6, 7})]
            out.append("  (Winograd MFLOP = elementwise products + input/output transforms; filters transformed "
                       "in advance; bytes unchanged, so memory-bound layers gain nothing)")
    return "\n".join(out)
