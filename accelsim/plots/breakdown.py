"""Energy breakdown per layer as stacked bars: by storage level (MAC, RF, NoC, GLB, DRAM) or by
tensor (ifmaps, weights, psums). Two panels: the energy itself, and each part's share of it.

Takes a run's stats (the ``accelsim.stats/2`` document of stats.json, or an older ``/1`` one, or a
``pipeline.Run``).
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.plots.style import (
    FORMATS,
    LEVEL_COLOURS,
    LEVEL_LABELS,
    TENSOR_COLOURS,
    TENSOR_LABELS,
    energy_unit,
    pyplot,
    save,
)
from accelsim.report import READABLE_SCHEMAS as STATS_SCHEMAS

GROUPINGS = {
    "level": ("energy_breakdown_pj", LEVEL_COLOURS, LEVEL_LABELS, "by storage level"),
    "tensor": ("energy_by_tensor_pj", TENSOR_COLOURS, TENSOR_LABELS, "by tensor (data movement; MAC energy excluded)"),
}


def stats_doc(run_or_doc) -> dict:
    """A stats.json document from a document, a Run, or a stats.json path."""
    if isinstance(run_or_doc, dict):
        doc = run_or_doc
    elif isinstance(run_or_doc, (str, Path)):
        import json

        path = Path(run_or_doc)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read stats: {exc}", source=str(path)) from None
    else:
        from accelsim.report import stats

        doc = stats(run_or_doc)
    if not isinstance(doc, dict) or doc.get("schema") not in STATS_SCHEMAS or not doc.get("layers"):
        raise ConfigError(f"not an accelsim stats document (schema {' or '.join(STATS_SCHEMAS)} with layers)")
    return doc


def plot_energy_breakdown(run_or_doc, by: str = "level"):
    """A figure: per layer, energy stacked by ``by`` ("level" or "tensor"), absolute and in shares."""
    if by not in GROUPINGS:
        raise ConfigError(f"unknown breakdown {by!r}; allowed: {', '.join(GROUPINGS)}")
    doc = stats_doc(run_or_doc)
    field, colours, labels, title = GROUPINGS[by]
    plt = pyplot()
    layers = doc["layers"]
    names = [layer["name"] for layer in layers]
    scale, unit = energy_unit(doc["energy_preset"])
    parts = list(colours)
    values = {p: [layer[field][p] / scale for layer in layers] for p in parts}
    totals = [sum(values[p][i] for p in parts) for i in range(len(layers))]

    width = max(7.0, 0.55 * len(layers) + 3.0)
    fig, (ax_abs, ax_pct) = plt.subplots(2, 1, figsize=(width, 7.2), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 2], "hspace": 0.08})
    x = range(len(layers))
    bottom = [0.0] * len(layers)
    bottom_pct = [0.0] * len(layers)
    for p in parts:
        ax_abs.bar(x, values[p], bottom=bottom, color=colours[p], label=labels[p], width=0.75,
                   edgecolor="white", linewidth=0.4)
        shares = [100 * v / t if t else 0.0 for v, t in zip(values[p], totals)]
        ax_pct.bar(x, shares, bottom=bottom_pct, color=colours[p], width=0.75, edgecolor="white", linewidth=0.4)
        bottom = [b + v for b, v in zip(bottom, values[p])]
        bottom_pct = [b + s for b, s in zip(bottom_pct, shares)]
    top = max(totals) if totals else 1.0
    for i, t in enumerate(totals):
        if len(layers) <= 24:
            ax_abs.annotate(f"{t:,.0f}" if t >= 100 else f"{t:.3g}", (i, t), textcoords="offset points", xytext=(0, 2), ha="center",
                            fontsize=7, color="#333333")
    ax_abs.set_ylim(0, top * 1.12 if top > 0 else 1)
    ax_abs.set_ylabel(unit)
    ax_pct.set_ylabel("share of layer energy (%)")
    ax_pct.set_ylim(0, 100)
    ax_pct.set_xticks(list(x))
    ax_pct.set_xticklabels(names, rotation=45 if len(layers) > 8 else 0, ha="right" if len(layers) > 8 else "center",
                           fontsize=8 if len(layers) > 20 else 9)
    ax_pct.set_xlabel("layer")
    for ax in (ax_abs, ax_pct):
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlim(-0.6, len(layers) - 0.4)
    search = doc.get("search")
    given = doc.get("hand_written_mappings")
    how = (f"searched ({search['objective']}, budget {search['budget']})" if search
           else "hand-written mapping" if given else "named mapping")
    ax_abs.set_title(f"Energy {title}\n{doc['arch']} | {doc['workload']} batch {doc['batch']} | dataflow "
                     f"{doc['dataflow']} | {how}", fontsize=10)
    handles, leg_labels = ax_abs.get_legend_handles_labels()
    ax_abs.legend(handles[::-1], leg_labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="energy of")
    return fig


def save_energy_breakdowns(run_or_doc, out_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """energy_by_level.* and energy_by_tensor.* in ``out_dir``."""
    doc = stats_doc(run_or_doc)
    out = []
    for by in GROUPINGS:
        out += save(plot_energy_breakdown(doc, by), Path(out_dir) / f"energy_by_{by}", formats)
    return out


def _has_stats(directory: Path) -> bool:
    return (directory / "stats.json").is_file()


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    return save_energy_breakdowns(directory / "stats.json", out_dir, formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("energy breakdown", "energy per layer by level and by tensor (stats.json)", _has_stats, _render),)


DIR_PLOTS = _dir_plots()
