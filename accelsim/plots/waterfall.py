"""Eyexam waterfall per layer: one bar per step (MACs/cycle after that step's constraint), the part
lost to each step hatched above it. The y axis stops a little above the PE count: steps 1 and 2
(workload and dataflow parallelism) are usually far above it, so their bars are clipped and
labelled with their value.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.plots.style import FORMATS, human, pyplot, save

STEP_SHORT = ("1\nlayer", "2\ndataflow", "3\n#PEs", "4\narray", "5\nstorage", "6\nbandwidth", "7\nsim")
PANEL_W, PANEL_H = 4.6, 3.4          # inches per layer panel: seven labelled bars side by side
STEP_COLOURS = ("#9e9e9e", "#8172b3", "#4c72b0", "#64b5cd", "#55a868", "#dd8452", "#c44e52")


def _steps_of(entry) -> list[tuple[int, float]]:
    """Accept Step objects or stats.json dicts."""
    out = []
    for s in entry:
        if isinstance(s, dict):
            out.append((int(s["step"]), float(s["macs_per_cycle"])))
        else:
            out.append((s.step, float(s.macs_per_cycle)))
    return out


def plot_waterfall(layers: list[tuple], pes: int, title: str):
    """``layers``: (panel title, its seven steps) pairs, or (title, steps, PEs) when the panels come
    from arrays of different sizes; ``pes``: the PE count of panels that do not give their own."""
    plt = pyplot()
    n = len(layers)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_W * ncols, PANEL_H * nrows + 1.2), squeeze=False)
    top = max([pes] + [entry[2] for entry in layers if len(entry) > 2]) * 1.25
    for idx, entry in enumerate(layers):
        name, steps = entry[0], entry[1]
        panel_pes = entry[2] if len(entry) > 2 else pes
        ax = axes[idx // ncols][idx % ncols]
        vals = _steps_of(steps)
        x = list(range(len(vals)))
        prev = None
        for i, (step, v) in enumerate(vals):
            shown = min(v, top)
            ax.bar(i, shown, color=STEP_COLOURS[step - 1], width=0.7, zorder=2)
            if v > top:
                ax.annotate(f"{human(v)}", (i, top), textcoords="offset points", xytext=(0, -11), ha="center",
                            fontsize=6.5, color="white", fontweight="bold")
            else:
                ax.annotate(f"{v:.0f}" if v >= 10 else f"{v:.2g}", (i, shown), textcoords="offset points",
                            xytext=(0, 2), ha="center", fontsize=7)
            if prev is not None and min(prev, top) > shown:
                ax.bar(i, min(prev, top) - shown, bottom=shown, color="none", edgecolor="#c44e52", hatch="///",
                       width=0.7, linewidth=0.6, zorder=2)
            prev = v
        ax.axhline(panel_pes, color="black", linestyle=":", linewidth=1, zorder=3)
        ax.set_ylim(0, top)
        ax.set_xticks(x)
        ax.set_xticklabels([STEP_SHORT[s - 1] for s, _ in vals], fontsize=6.5)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3, zorder=0)
        if idx % ncols == 0:
            ax.set_ylabel("MACs per cycle")
    for idx in range(n, nrows * ncols):
        axes[idx // ncols][idx % ncols].axis("off")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    mixed = any(len(entry) > 2 and entry[2] != pes for entry in layers)
    handles = [Line2D([0], [0], color="black", linestyle=":",
                      label="the array's PE count (peak)" if mixed else f"{pes} PEs (peak)"),
               Patch(facecolor="none", edgecolor="#c44e52", hatch="///", label="lost at this step")]
    # title on top (wrapped to the figure's width), legend in a row of its own at the bottom
    import textwrap

    width_chars = max(20, int(fig.get_figwidth() * 72 / (10 * 0.62)))
    wrapped = textwrap.fill(title, width_chars)
    lines = wrapped.count("\n") + 1
    fig.suptitle(wrapped, fontsize=10, x=0.5, ha="center", y=0.995, va="top")
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1 - (0.1 + 0.2 * lines) / height))
    return fig


def save_waterfall(layers: list[tuple], pes: int, title: str, path: str | Path) -> list[Path]:
    """Save to ``path`` (its suffix picks the format: .png or .svg; none: both)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    formats = (fmt,) if fmt else FORMATS
    return save(plot_waterfall(layers, pes, title), path.with_suffix(""), formats)


def _has_eyexam(directory: Path) -> bool:
    import json

    p = directory / "stats.json"
    if not p.is_file():
        return False
    try:
        doc = json.loads(p.read_text())
    except ValueError:
        return False
    return any("eyexam" in layer for layer in doc.get("layers", []))


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    import json

    doc = json.loads((directory / "stats.json").read_text())
    layers = [(layer["name"], layer["eyexam"]) for layer in doc["layers"] if "eyexam" in layer]
    title = f"Eyexam | {doc['arch']} ({doc['pes']} PEs) | {doc['workload']} batch {doc['batch']} | {doc['dataflow']}"
    return save(plot_waterfall(layers, doc["pes"], title), Path(out_dir) / "eyexam_waterfall", formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("eyexam", "Eyexam seven-step waterfall per layer (stats.json with eyexam)", _has_eyexam,
                    _render),)


DIR_PLOTS = _dir_plots()
