"""A two-axis sweep as heatmaps: energy per MAC, latency and DRAM accesses per MAC for every
combination of the two axis groups (e.g. PE array shape x GLB size), the best cell outlined."""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.plots.style import per_mac_unit, pyplot, save
from accelsim.sweep.results import SweepResults

METRICS = (
    ("energy_per_mac_pj", None, "{:.3g}"),          # label from the energy preset
    ("latency_ms", "latency (ms)", "{:.3g}"),
    ("dram_accesses_per_mac", "DRAM accesses per MAC (words)", "{:.3g}"),
)
_NAMES = {"pe_array.rows": "rows", "pe_array.cols": "cols", "glb.size_kb": "GLB kB", "batch": "batch"}


def _group_label(keys: tuple[str, ...], record: dict) -> str:
    if keys == ("pe_array.rows", "pe_array.cols"):
        return f"{record['pe_array.rows']} x {record['pe_array.cols']}"
    if len(keys) == 1:
        return str(record[keys[0]])
    return ", ".join(f"{_NAMES.get(k, k)} {record[k]}" for k in keys)


def _group_title(keys: tuple[str, ...]) -> str:
    if keys == ("pe_array.rows", "pe_array.cols"):
        return "PE array (rows x cols)"
    return " / ".join(_NAMES.get(k, k) for k in keys)


def plot_sweep_grid(results: SweepResults, *, where: dict | None = None):
    """Heatmaps over the sweep's two axis groups (first group: rows of the map, second: columns)."""
    res = results.ok()
    if where:
        res = res.where(**where)
    if len(res.groups) != 2:
        raise ConfigError(f"a sweep grid plot needs exactly 2 axis groups; sweep {results.name!r} has "
                          f"{len(res.groups)}: {res.groups}")
    if not res.rows:
        raise ConfigError(f"no finished points in sweep {results.name!r}")
    records = res.records()
    cells = {res.coords(row): rec for row, rec in zip(res.rows, records)}
    ys = sorted({c[0] for c in cells})
    xs = sorted({c[1] for c in cells})
    ylab = {c[0]: _group_label(res.groups[0], r) for c, r in cells.items()}
    xlab = {c[1]: _group_label(res.groups[1], r) for c, r in cells.items()}
    plt = pyplot()
    import numpy as np

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.4 * len(METRICS) + 0.6, 0.5 * len(ys) + 2.6),
                             squeeze=False)
    presets = {r.get("energy_preset") for r in records}
    for ax, (column, title, fmt) in zip(axes[0], METRICS):
        title = title or (per_mac_unit(str(presets.pop())) if len(presets) == 1 else "energy per MAC (pJ)")
        grid = np.full((len(ys), len(xs)), np.nan)
        for (yi, xi), rec in cells.items():
            grid[ys.index(yi), xs.index(xi)] = np.nan if rec[column] is None else rec[column]   # None: no MACs
        im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
        if np.isnan(grid).all():
            raise ConfigError(f"sweep {results.name!r}: no point has a {column} (no MAC layers)")
        best = np.unravel_index(np.nanargmin(grid), grid.shape)
        lo, hi = np.nanmin(grid), np.nanmax(grid)
        for i in range(len(ys)):
            for j in range(len(xs)):
                if not np.isnan(grid[i, j]):
                    dark = (grid[i, j] - lo) / (hi - lo) > 0.55 if hi > lo else False
                    ax.text(j, i, fmt.format(grid[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if dark else "black", weight="bold" if (i, j) == best else None)
        ax.add_patch(plt.Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([xlab[x] for x in xs], fontsize=8)
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([ylab[y] for y in ys], fontsize=8)
        ax.set_xlabel(_group_title(res.groups[1]))
        ax.set_ylabel(_group_title(res.groups[0]))
        ax.set_title(f"{title} (lowest outlined)", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(f"Sweep {results.name}: every combination of the two axes", fontsize=11)
    fig.tight_layout()
    return fig


def _is_two_axis_sweep(directory: Path) -> bool:
    import json

    meta = directory / "sweep.json"
    if not (meta.is_file() and (directory / "results.csv").is_file()):
        return False
    try:
        groups = json.loads(meta.read_text(encoding="utf-8")).get("groups", [])
    except (OSError, ValueError):
        return False
    return len(groups) == 2 and not any("dataflow" in g.get("keys", []) for g in groups if isinstance(g, dict))


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    from accelsim.sweep.results import load_results

    return save(plot_sweep_grid(load_results(directory), where=where or None), out_dir / "sweep_grid", formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("sweep grid", "heatmaps of a sweep with two axis groups and no dataflow axis", _is_two_axis_sweep,
                    _render),)


DIR_PLOTS = _dir_plots()
