"""The roofline plot: the roof, one point per layer coloured by kind, the model, and fusion/Winograd moves."""

from __future__ import annotations

from pathlib import Path

from accelsim.plots.style import save_as

KIND_COLOURS = {
    "conv": "tab:blue", "depthwise": "tab:orange", "fc": "tab:green", "gemm": "tab:purple",
    "pool": "tab:brown", "eltwise": "tab:gray", "activation": "tab:pink", "softmax": "tab:olive",
}


def plot_roofline(report, path: str | Path) -> Path:
    """Draw ``report`` (an :class:`accelsim.roofline.report.RooflineReport`) to a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from accelsim.roofline.hardware import flops_text

    model = report.model
    hw = model.hardware
    scale, unit = (1e12, "TFLOP/s") if hw.peak_flops >= 1e12 else (1e9, "GFLOP/s")
    xs = [p.intensity for p in model.layers] + [model.intensity]
    extra = []
    if report.fusion is not None:
        extra += [report.fusion.separate_cost.intensity, report.fusion.fused_cost.intensity]
    if report.chain is not None:
        extra += [report.chain.before.intensity, report.chain.after.intensity]
    lo = min(xs + extra + ([hw.ridge] if hw.ridge else [])) / 3
    hi = max(xs + extra + ([hw.ridge] if hw.ridge else [])) * 3

    fig, ax = plt.subplots(figsize=(10.5, 6.2))
    peak = hw.peak_flops / scale
    if hw.bandwidth is None:
        ax.plot([lo, hi], [peak, peak], color="black", lw=2, label="roof (bandwidth unlimited)")
    else:
        bw = hw.bandwidth / scale
        grid = [lo, hw.ridge, hi] if lo < hw.ridge < hi else [lo, hi]
        ax.plot(grid, [min(peak, bw * x) for x in grid], color="black", lw=2,
                label=f"roof: {flops_text(hw.peak_flops)}, {hw.bandwidth / 1e9:g} GB/s")
        ax.axvline(hw.ridge, color="black", ls=":", lw=1)
        ax.annotate(f"ridge {hw.ridge:.3g} FLOP/B", (hw.ridge, peak), textcoords="offset points",
                    xytext=(4, -14), fontsize=8)

    kinds: dict[str, list] = {}
    for p in model.layers:
        kinds.setdefault(p.kind, []).append(p)
    for kind, points in kinds.items():
        ax.scatter([p.intensity for p in points], [p.attainable_flops / scale for p in points], s=28,
                   color=KIND_COLOURS.get(kind, "tab:cyan"), alpha=0.8, edgecolor="white", lw=0.5,
                   label=f"{kind} layers ({len(points)})", zorder=3)
    ax.scatter([model.intensity], [model.attainable_flops / scale], marker="*", s=260, color="gold",
               edgecolor="black", zorder=5, label=f"model ({model.intensity:,.1f} FLOP/B)")

    def arrow(a, b, colour, label, marker):
        ax.scatter([a[0]], [a[1]], marker=marker, s=90, facecolor="none", edgecolor=colour, lw=1.5, zorder=4)
        ax.scatter([b[0]], [b[1]], marker=marker, s=90, color=colour, edgecolor="black", zorder=4, label=label)
        ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5}, zorder=4)

    if report.fusion is not None:
        f = report.fusion
        s, u = f.separate_cost, f.fused_cost
        arrow((s.intensity, hw.attainable(s.intensity) / scale), (u.intensity, hw.attainable(u.intensity) / scale),
              "tab:red", f"model, {'+'.join(f.ops)} separate (open) -> fused", "o")
    if report.chain is not None:
        c = report.chain
        arrow((c.before.intensity, c.before.attainable_flops / scale),
              (c.after.intensity, c.after.attainable_flops / scale), "tab:green",
              f"chain {c.chosen.layers[0]}..{c.chosen.layers[-1]}, unfused (open) -> tiled "
              f"{c.chosen.tile_h}x{c.chosen.tile_w}", "D")
    if report.winograd:
        ax.scatter([r.direct.intensity for r in report.winograd],
                   [r.direct.flops / r.fast.time_s / scale for r in report.winograd], marker="^", s=40,
                   color="tab:purple", zorder=4,
                   label=f"Winograd F({report.winograd_m}x{report.winograd_m}): direct-equivalent rate")

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("operational intensity (FLOP/byte)")
    ax.set_ylabel(f"attainable performance ({unit})")
    ax.set_title(f"Roofline: {model.workload} (batch {model.batch}) on {hw.name}, "
                 f"{hw.element_bytes:g} B/element")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return save_as(fig, path)
