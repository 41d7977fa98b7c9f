"""Energy and cycles against density for two sparse designs (accelsim.sparse.compare's points):
left, energy per dense MAC; right, ideal cycles (log scales). The energy crossover is marked."""

from __future__ import annotations

from pathlib import Path

from accelsim.plots.style import pyplot, save_as


def plot_formats(points, crossover: float | None, title: str, energy_unit: str = "MAC = 1"):
    """``points``: objects with design, density, energy_pj, cycles and dense_cycles."""
    plt = pyplot()
    fig, (ax_e, ax_c) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    designs = list(dict.fromkeys(p.design for p in points))
    for name, style in zip(designs, ("o-", "s--")):
        pts = sorted((p for p in points if p.design == name), key=lambda p: p.density)
        macs = pts[0].dense_cycles            # one PE: the dense cycles are the dense MACs
        ax_e.plot([p.density for p in pts], [p.energy_pj / macs for p in pts], style, label=name.replace("_", " + "))
        ax_c.plot([p.density for p in pts], [p.cycles for p in pts], style, label=name.replace("_", " + "))
    if crossover is not None:
        ax_e.axvline(crossover, color="#888888", lw=0.8, ls=":")
        ax_e.annotate(f"crossover {crossover:.3f}", (crossover, ax_e.get_ylim()[1]), textcoords="offset points",
                      xytext=(4, -12), fontsize=8, color="#444444")
    for ax, label in ((ax_e, f"energy per dense MAC ({energy_unit})"), (ax_c, "cycles (ideal)")):
        ax.set_xscale("log")
        ax.set_xlabel("density of both operands")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    ax_c.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_formats_plot(points, crossover: float | None, title: str, path: str | Path,
                      energy_unit: str = "MAC = 1") -> Path:
    return save_as(plot_formats(points, crossover, title, energy_unit), path)
