"""Dataflow comparison in the style of the Eyeriss ISCA'16 figures, from a sweep's results.

- ``plot_dataflow_comparison``: energy per MAC of every dataflow on every layer, normalized to a
  baseline dataflow (RS), one panel per combination of the other axes (array size, batch, ...);
- ``plot_dataflow_levels``: energy per MAC by storage level, one stacked bar per dataflow, summed
  over a set of layers (the paper's CONV-layer and FC-layer breakdowns);
- ``plot_isca16``: both for one setting (the README figure).

The sweep must have a ``dataflow`` axis; a ``layers`` axis gives the per-layer x axis.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.plots.style import FORMATS, LEVEL_COLOURS, LEVEL_LABELS, per_mac_unit, pyplot, save
from accelsim.sweep.results import SweepResults

# the paper's names (OS-A/B/C as in its figures) and order: the baseline (RS) last
SHORT_LABELS = {"os": "OS-A", "os_moc_mop": "OS-B", "os_moc_sop": "OS-C"}
LABELS = {"ws": "WS", "os": "OS-A (SOC-MOP)", "os_moc_mop": "OS-B (MOC-MOP)", "os_moc_sop": "OS-C (MOC-SOP)",
          "nlr": "NLR", "rs": "RS", "is": "IS"}
ORDER = ("ws", "os", "os_moc_mop", "os_moc_sop", "nlr", "is", "rs")
COLOURS = {"ws": "#4c72b0", "os": "#55a868", "os_moc_mop": "#8fbf7f", "os_moc_sop": "#c6dbbf", "nlr": "#8172b3",
           "is": "#937860", "rs": "#c44e52"}
SHORT = {"pe_array.rows": "rows", "pe_array.cols": "cols", "glb.size_kb": "GLB kB", "batch": "batch"}


RATIO_TICKS = (1 / 8, 1 / 4, 1 / 2, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 16, 32, 64, 128, 256)


def _ratio_axis(ax, lo: float, hi: float) -> None:
    """A log2 axis for ratios to the baseline, labelled 0.5x, 1x, 2x..., a dashed line at 1."""
    from matplotlib.ticker import FixedLocator, NullLocator

    lo, hi = min(lo, 1.0) / 1.15, max(hi, 1.0) * 1.15
    ax.set_yscale("log", base=2)
    ax.set_ylim(lo, hi)
    candidates = RATIO_TICKS + ((0.8, 0.9, 1.1, 1.25) if hi / lo < 2.5 else ())   # finer ticks for a narrow range
    ticks = sorted(t for t in candidates if lo <= t <= hi)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:.2g}x" for t in ticks])
    ax.axhline(1.0, color="black", linewidth=0.9, linestyle="--")


def _ratio_bars(ax, xs: list[float], ys: list[float], width: float, flow: str) -> None:
    """Bars from the baseline (1) to each ratio: up = more energy than the baseline, down = less."""
    ax.bar(xs, [y - 1 for y in ys], bottom=1, width=width, color=COLOURS.get(flow, "#999999"), label=_label(flow),
           edgecolor="white", linewidth=0.3)


def _label(flow: str) -> str:
    return LABELS.get(flow, flow.upper())


def _flows(values) -> list[str]:
    present = list(dict.fromkeys(values))
    return [f for f in ORDER if f in present] + sorted(f for f in present if f not in ORDER)


def _prepare(results: SweepResults, where: dict | None) -> tuple[SweepResults, list[int], int | None]:
    if "dataflow" not in results.axes:
        raise ConfigError(f"sweep {results.name!r} has no dataflow axis; axes: {', '.join(results.axes)}")
    res = results.ok()
    if where:
        res = res.where(**where)
    if "energy_per_mac_pj" in res.columns:      # a point without MACs has no per-MAC energy to compare
        i = res.columns.index("energy_per_mac_pj")
        res = replace(res, rows=tuple(r for r in res.rows if r[i] is not None))
    if not res.rows:
        raise ConfigError(f"no finished points in sweep {results.name!r}" + (f" where {where}" if where else ""))
    flow_group = next(i for i, g in enumerate(res.groups) if "dataflow" in g)
    layer_group = next((i for i, g in enumerate(res.groups) if "layers" in g), None)
    facets = [i for i in range(len(res.groups)) if i not in (flow_group, layer_group)]
    return res, facets, layer_group


def _facet_keys(res: SweepResults, facet_groups: list[int]) -> list[str]:
    """The axes that name a setting: every key of the facet groups (so no two settings share a title
    or a file name); a {times: k} axis is named by its factor (x2), its values follow the arch."""
    return [k for g in facet_groups for k in res.groups[g]]


def _facet_title(rows: list[dict], keys: list[str], res: SweepResults | None = None) -> str:
    """The setting the rows share: PEs and array shape when single, then every facet key's value."""
    from accelsim.sweep.points import coords_of

    parts = []
    pes = {r["pes"] for r in rows}
    if len(pes) == 1:
        parts.append(f"{pes.pop()} PEs")
    labels = dict(res.relative_labels) if res is not None else {}
    rows_cols = ({r.get("pe_array.rows") for r in rows}, {r.get("pe_array.cols") for r in rows})
    shape = (all(len(v) == 1 and None not in v for v in rows_cols)
             and not {"pe_array.rows", "pe_array.cols"} & set(labels))
    if shape:
        parts.append(f"{next(iter(rows_cols[0]))}x{next(iter(rows_cols[1]))} array")
    for k in keys:
        if shape and k in ("pe_array.rows", "pe_array.cols"):
            continue
        vals: set = set()
        if k in labels and res is not None:
            group = next(i for i, g in enumerate(res.groups) if k in g)
            vals = {labels[k][coords_of(r["point"], res.sizes)[group]] for r in rows}
        else:
            vals = {r.get(k) for r in rows}
        if len(vals) == 1:
            parts.append(f"{SHORT.get(k, k)} {vals.pop()}")
    return ", ".join(parts)


def _layers_in_order(rows: list[dict], layer_key: str | None) -> list[str]:
    if layer_key is None:
        return ["all layers"]
    return list(dict.fromkeys(str(r[layer_key]) for r in sorted(rows, key=lambda r: r["point"])))


def plot_dataflow_comparison(results: SweepResults, *, where: dict | None = None, baseline: str = "rs",
                             metric: str = "energy_per_mac_pj"):
    """Grouped bars: per layer, each dataflow's ``metric`` divided by the baseline's (same layer,
    same other settings); one panel per setting of the remaining axes."""
    res, facet_groups, layer_group = _prepare(results, where)
    if metric not in res.columns:
        raise ConfigError(f"unknown metric {metric!r}; columns: {', '.join(res.columns)}")
    layer_key = "layers" if layer_group is not None else None
    records = res.records()
    flows = _flows(r["dataflow"] for r in records)
    if baseline not in flows:
        raise ConfigError(f"baseline dataflow {baseline!r} is not in the sweep; dataflows: {', '.join(flows)}")
    facets: dict[tuple, list[dict]] = {}
    for r, row in zip(records, res.rows):
        coords = res.coords(row)
        facets.setdefault(tuple(coords[g] for g in facet_groups), []).append(r)
    keys = sorted(facets)
    n = len(keys)
    if len(facet_groups) == 2:
        nrows, ncols = len({k[0] for k in keys}), len({k[1] for k in keys})
    else:
        ncols = min(3, n)
        nrows = math.ceil(n / ncols)
    layers_all = _layers_in_order(records, layer_key)
    drawn = [f for f in flows if f != baseline]
    panel_w = max(4.5, 0.12 * len(layers_all) * len(drawn) + 1.6)
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols, 3.0 * nrows + 1.0), squeeze=False,
                             sharey=True)
    facet_keys = _facet_keys(res, facet_groups)
    lo, hi = 1.0, 1.0
    for idx, key in enumerate(keys):
        rows = facets[key]
        ax = axes[idx // ncols][idx % ncols]
        layers = _layers_in_order(rows, layer_key)
        base = {str(r[layer_key]) if layer_key else "all layers": r[metric] for r in rows if r["dataflow"] == baseline}
        width = 0.8 / len(drawn)
        for j, flow in enumerate(drawn):
            vals = {}
            for r in rows:
                if r["dataflow"] == flow:
                    lay = str(r[layer_key]) if layer_key else "all layers"
                    if base.get(lay):
                        vals[lay] = r[metric] / base[lay]
            xs = [i + (j - (len(drawn) - 1) / 2) * width for i, lay in enumerate(layers) if lay in vals]
            ys = [vals[lay] for lay in layers if lay in vals]
            lo, hi = min([lo] + ys), max([hi] + ys)
            _ratio_bars(ax, xs, ys, width, flow)
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, fontsize=8, rotation=0 if len(layers) <= 8 else 45)
        ax.set_xlim(-0.55, len(layers) - 0.45)
        ax.set_title(_facet_title(rows, facet_keys, res), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if idx % ncols == 0:
            ax.set_ylabel(f"energy/MAC vs {_label(baseline)} (log)" if metric == "energy_per_mac_pj"
                          else f"{metric} vs {_label(baseline)} (log)")
        if idx // ncols == nrows - 1:
            ax.set_xlabel("layer")
    for idx in range(n, nrows * ncols):
        axes[idx // ncols][idx % ncols].set_visible(False)
    for idx in range(n):
        _ratio_axis(axes[idx // ncols][idx % ncols], lo, hi)
    handles, labels = axes[0][0].get_legend_handles_labels()
    height = 3.0 * nrows + 1.0
    fig.legend(handles, labels, loc="upper center", ncol=len(drawn), frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.45 / height))
    what = "Energy per MAC" if metric == "energy_per_mac_pj" else metric
    fig.suptitle(f"{what} of each dataflow relative to {_label(baseline)} (dashed line; bars up = more energy than "
                 f"{_label(baseline)}), sweep {results.name}", fontsize=11, y=1 - 0.1 / height)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / height))
    return fig


def level_shares(rows: list[dict]) -> dict[str, float]:
    """Energy per MAC by level over a set of result rows: sum(energy) / sum(MACs)."""
    macs = sum(r["macs"] for r in rows)
    return {p: sum(r[f"energy_{p}_pj"] for r in rows) / macs for p in LEVEL_COLOURS} if macs else {}


def plot_dataflow_levels(results: SweepResults, *, where: dict | None = None,
                         layer_sets: dict[str, list[str]] | None = None, ax_row=None):
    """Stacked bars: energy per MAC by level for each dataflow, one panel per layer set
    (default: the CONV layers and the FC layers)."""
    res, facet_groups, layer_group = _prepare(results, where)
    if len(facet_settings(res, facet_groups)) > 1:
        raise ConfigError(f"plot_dataflow_levels sums one setting, but several remain; narrow it with where= "
                          f"(axes: {', '.join(k for g in facet_groups for k in res.groups[g])})")
    records = res.records()
    if layer_sets is None:
        names = _layers_in_order(records, "layers" if layer_group is not None else None)
        conv = [n for n in names if n.upper().startswith("CONV")]
        fc = [n for n in names if n.upper().startswith("FC")]
        layer_sets = {k: v for k, v in (("CONV layers", conv), ("FC layers", fc)) if v} or {"all layers": names}
    flows = _flows(r["dataflow"] for r in records)
    plt = pyplot()
    if ax_row is None:
        fig, ax_row = plt.subplots(1, len(layer_sets), figsize=(4.8 * len(layer_sets) + 1.8, 4.6), squeeze=False)
        ax_row = ax_row[0]
    else:
        fig = ax_row[0].figure
    for ax, (title, names) in zip(ax_row, layer_sets.items()):
        chosen = set(names)
        for i, flow in enumerate(flows):
            rows = [r for r in records if r["dataflow"] == flow
                    and (layer_group is None or str(r["layers"]) in chosen)]
            shares = level_shares(rows)
            bottom = 0.0
            for part, colour in LEVEL_COLOURS.items():
                v = shares.get(part, 0.0)
                ax.bar(i, v, bottom=bottom, color=colour, width=0.7, label=LEVEL_LABELS[part] if i == 0 else None,
                       edgecolor="white", linewidth=0.4)
                bottom += v
            ax.annotate(f"{bottom:.2f}", (i, bottom), textcoords="offset points", xytext=(0, 2), ha="center",
                        fontsize=8)
        ax.set_xticks(range(len(flows)))
        ax.set_xticklabels([SHORT_LABELS.get(f, _label(f)) for f in flows], fontsize=9)
        ax.set_title(title, fontsize=10)
        presets = {r.get("energy_preset") for r in records}
        ax.set_ylabel(per_mac_unit(str(presets.pop())) if len(presets) == 1 else "energy per MAC (pJ)")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        top = max((p.get_y() + p.get_height() for p in ax.patches), default=1.0)
        ax.set_ylim(0, top * 1.12)
    handles, labels = ax_row[0].get_legend_handles_labels()
    ax_row[-1].legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                      title="energy of")
    return fig


def plot_isca16(results: SweepResults, *, where: dict | None = None, baseline: str = "rs"):
    """The README figure: per-layer energy/MAC normalized to RS (top) and the CONV / FC breakdowns
    by level (bottom), for one setting of the other axes (``where``, e.g. pes=256, batch=16)."""
    res, facet_groups, _layer_group = _prepare(results, where)
    distinct = facet_settings(res, facet_groups)
    if len(distinct) > 1:
        raise ConfigError(f"plot_isca16 draws one setting, but {len(distinct)} remain; narrow it with where= "
                          f"(axes: {', '.join(k for g in facet_groups for k in res.groups[g])})")
    plt = pyplot()
    fig = plt.figure(figsize=(12.5, 9.0))
    gs = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.05], hspace=0.32, wspace=0.25, top=0.91)
    top = fig.add_subplot(gs[0, :])
    records = res.records()
    flows = _flows(r["dataflow"] for r in records)
    layers = _layers_in_order(records, "layers" if "layers" in res.axes else None)
    base = {str(r.get("layers", "all layers")): r["energy_per_mac_pj"] for r in records if r["dataflow"] == baseline}
    drawn = [f for f in flows if f != baseline]
    width = 0.8 / len(drawn)
    lo, hi = 1.0, 1.0
    for j, flow in enumerate(drawn):
        ys, xs = [], []
        for i, lay in enumerate(layers):
            r = next((r for r in records if r["dataflow"] == flow and str(r.get("layers", "all layers")) == lay), None)
            if r is not None and base.get(lay):
                xs.append(i + (j - (len(drawn) - 1) / 2) * width)
                ys.append(r["energy_per_mac_pj"] / base[lay])
        lo, hi = min([lo] + ys), max([hi] + ys)
        _ratio_bars(top, xs, ys, width, flow)
    _ratio_axis(top, lo, hi)
    top.set_xticks(range(len(layers)))
    top.set_xticklabels(layers)
    top.set_xlabel("AlexNet layer")
    top.set_ylabel(f"energy per MAC vs {_label(baseline)} (log scale)")
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="dataflow")
    setting = _facet_title(records, _facet_keys(res, facet_groups), res)
    top.set_title(f"(a) energy per MAC relative to {_label(baseline)} (dashed line = {_label(baseline)}; bars up = "
                  f"more energy), per layer: {setting}",
                  fontsize=10)
    plot_dataflow_levels(res, ax_row=[fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])])
    for ax, letter in zip(fig.axes[1:3], "bc"):
        ax.set_title(f"({letter}) {ax.get_title()}: energy per MAC by level", fontsize=10)
    fig.suptitle(f"Dataflows under equal storage area (Eyeriss ISCA'16 setup), sweep {results.name}",
                 fontsize=12, y=0.97)
    return fig


def facet_settings(res: SweepResults, facet_groups: list[int]) -> dict[tuple, SweepResults]:
    """The results of each setting of the facet axes (everything but dataflow and layers)."""
    out: dict[tuple, list] = {}
    for row in res.rows:
        coords = res.coords(row)
        out.setdefault(tuple(coords[g] for g in facet_groups), []).append(row)
    return {k: replace(res, rows=tuple(v)) for k, v in sorted(out.items())}


def _slug(text: str) -> str:
    import re

    return re.sub(r"_+", "_", "".join(ch if ch.isalnum() else "_" for ch in text.replace(" PEs", "pes"))).strip("_").lower()


def save_dataflow_plots(results: SweepResults, out_dir: str | Path, formats: tuple[str, ...] = FORMATS,
                        where: dict | None = None) -> list[Path]:
    """dataflow_comparison.* (every setting in one grid) and, per setting, dataflow_levels_<setting>.*
    (energy per MAC by level over the CONV and the FC layers); when one setting remains (``where``)
    and the sweep has a layers axis, also dataflow_summary.* (the ISCA'16-style figure). The baseline
    is RS when the sweep has it, else its first dataflow."""
    res, facet_groups, _ = _prepare(results, where)
    flows = _flows(r["dataflow"] for r in res.records())
    baseline = "rs" if "rs" in flows else flows[0]
    out = save(plot_dataflow_comparison(results, where=where, baseline=baseline), Path(out_dir) / "dataflow_comparison",
               formats)
    keys = _facet_keys(res, facet_groups)
    settings = facet_settings(res, facet_groups)
    names: set[str] = set()
    for sub in settings.values():
        title = _facet_title(sub.records(), keys, sub)
        fig = plot_dataflow_levels(sub)
        fig.suptitle(f"Energy per MAC by level: {title}" if title else "Energy per MAC by level", fontsize=11)
        name = f"dataflow_levels_{_slug(title)}" if len(settings) > 1 and title else "dataflow_levels"
        if name in names:                    # never overwrite another setting's figure
            pyplot().close(fig)
            raise ConfigError(f"two settings of sweep {results.name!r} would share the file name {name!r}; "
                              f"narrow the plot with --where")
        names.add(name)
        out += save(fig, Path(out_dir) / name, formats)
    if len(settings) == 1 and "layers" in res.axes:
        out += save(plot_isca16(res, baseline=baseline), Path(out_dir) / "dataflow_summary", formats)
    return out


def _is_dataflow_sweep(directory: Path) -> bool:
    import json

    meta = directory / "sweep.json"
    if not (meta.is_file() and (directory / "results.csv").is_file()):
        return False
    try:
        groups = json.loads(meta.read_text(encoding="utf-8")).get("groups", [])
    except (OSError, ValueError):
        return False
    return any("dataflow" in g.get("keys", []) for g in groups if isinstance(g, dict))


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    from accelsim.sweep.results import load_results

    return save_dataflow_plots(load_results(directory), out_dir, formats, where or None)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("dataflow comparison", "energy per MAC per dataflow, normalized to RS (a sweep with a "
                    "dataflow axis)", _is_dataflow_sweep, _render),)


DIR_PLOTS = _dir_plots()
