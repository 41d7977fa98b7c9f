"""Cycles and PE utilisation per layer.

Top: each layer's cycles; when the run was simulated, split into the ideal compute-bound cycles and
the stalls by cause. Bottom: utilisation (MACs / (cycles x PEs)) next to the share of PEs the
mapping occupies (its spatial utilisation), so a gap between the two is time lost to stalls,
partial tiles or fill/drain.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.plots.breakdown import stats_doc
from accelsim.plots.style import FORMATS, human, pyplot, save

STALL_COLOURS = {"dram": "#c44e52", "glb": "#dd8452", "noc": "#55a868", "fill_drain": "#8c8c8c"}


def plot_cycles(run_or_doc):
    doc = stats_doc(run_or_doc)
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter

    layers = doc["layers"]
    names = [layer["name"] for layer in layers]
    n = len(layers)
    x = list(range(n))
    width = max(7.0, 0.55 * n + 3.0)
    fig, (ax_c, ax_u) = plt.subplots(2, 1, figsize=(width, 7.0), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2], "hspace": 0.08})
    simulated = doc["simulated"] and all("stall_cycles" in layer for layer in layers)
    if simulated:
        base = [min(layer["ideal_cycles"], layer["cycles"]) for layer in layers]
        ax_c.bar(x, base, color="#4c72b0", width=0.75, label="compute (ideal)")
        bottom = base
        for cause, colour in STALL_COLOURS.items():
            vals = [layer["stall_cycles"].get(cause, 0) for layer in layers]
            if any(vals):
                ax_c.bar(x, vals, bottom=bottom, color=colour, width=0.75, label=f"stall: {cause.replace('_', '/')}")
                bottom = [b + v for b, v in zip(bottom, vals)]
        ax_c.plot(x, [layer["cycles"] for layer in layers], "k_", markersize=14, label="simulated total")
    else:
        ax_c.bar(x, [layer["cycles"] for layer in layers], color="#4c72b0", width=0.75,
                 label="ideal (compute-bound; not simulated)")
    top = max(layer["cycles"] for layer in layers)
    ax_c.set_ylim(0, top * 1.12 if top else 1)
    for i, layer in enumerate(layers):
        if n <= 24:
            ax_c.annotate(human(layer["cycles"]), (i, layer["cycles"]), textcoords="offset points", xytext=(0, 2),
                          ha="center", fontsize=7, color="#333333")
    ax_c.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: human(v)))
    ax_c.set_ylabel(f"cycles (at {doc['clock_mhz']:g} MHz)")
    ax_c.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    util = [100 * layer["utilization"] for layer in layers]
    spatial = [100 * layer["spatial_utilization"] for layer in layers]
    ax_u.bar(x, util, color="#64b5cd", width=0.75, label="utilisation: MACs / (cycles x PEs)")
    ax_u.plot(x, spatial, linestyle="none", marker="_", markersize=16, markeredgewidth=2.5, color="black",
              label="PEs the mapping occupies")
    ax_u.axhline(100 * doc["totals"]["utilization"], color="#333333", linestyle=":", linewidth=1,
                 label=f"whole run: {100 * doc['totals']['utilization']:.0f}%")
    ax_u.set_ylim(0, 110)
    ax_u.set_ylabel("PE utilisation (%)")
    ax_u.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax_u.set_xticks(x)
    ax_u.set_xticklabels(names, rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center",
                         fontsize=8 if n > 20 else 9)
    ax_u.set_xlabel("layer")
    for ax in (ax_c, ax_u):
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlim(-0.6, n - 0.4)
    t = doc["totals"]
    ax_c.set_title(f"Cycles and utilisation per layer | {doc['arch']} ({doc['pes']} PEs) | {doc['workload']} "
                   f"batch {doc['batch']} | dataflow {doc['dataflow']}\ntotal {human(t['cycles'])} cycles = "
                   f"{t['latency_ms']:.3g} ms" + ("" if simulated else " (ideal, not simulated)"), fontsize=10)
    return fig


def save_cycles(run_or_doc, out_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    return save(plot_cycles(run_or_doc), Path(out_dir) / "cycles_utilization", formats)


def _has_stats(directory: Path) -> bool:
    return (directory / "stats.json").is_file()


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    return save_cycles(directory / "stats.json", out_dir, formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("cycles", "cycles and utilisation per layer (stats.json)", _has_stats, _render),)


DIR_PLOTS = _dir_plots()
