"""Fusion plots: off-chip traffic per layer (layer by layer vs the network mapper's plan) and the
on-chip capacity vs DRAM traffic trade-off of one group as its tile varies.

``accelsim plot DIR`` draws the traffic plot for a run directory whose stats.json has a ``fusion``
section (``accelsim run --fuse --out DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path

from accelsim.plots.registry import DirPlot
from accelsim.plots.style import save_as

MODE_STYLE = {"recompute": ("tab:red", "o"), "keep_h": ("tab:orange", "s"), "keep": ("tab:blue", "D")}


def traffic_per_layer(plan: dict) -> list[tuple[str, int, int]]:
    """(node, DRAM words alone, DRAM words in the plan) in graph order: what the traffic plot draws."""
    return [(n, g["per_layer_alone"][n], g["dram_by_layer"].get(n, 0)) for g in plan["groups"] for n in g["layers"]]


def plot_fusion_traffic(plan: dict, path: str | Path, title: str = "") -> Path:
    """Bars per graph node: DRAM words run alone vs in the plan (a fused group's traffic charged to
    the layer that reads or writes it: the group's input to its first layer, the output to its last)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = traffic_per_layer(plan)
    names = [n for n, _, _ in rows]
    alone = [a for _, a, _ in rows]
    fused = [f for _, _, f in rows]
    fig, ax = plt.subplots(figsize=(max(8, 0.28 * len(names)), 4.6))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [a / 1e6 for a in alone], 0.4, label="layer by layer", color="tab:gray")
    ax.bar([x + 0.2 for x in xs], [f / 1e6 for f in fused], 0.4, label="fused plan", color="tab:blue")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylabel("DRAM traffic (M words)")
    total = plan["dram_words"] / plan["layer_by_layer"]["dram_words"]
    ax.set_title(title or f"off-chip traffic per layer: fused plan = {total:.2f} x layer by layer")
    ax.legend()
    fig.tight_layout()
    return save_as(fig, path)


def plot_capacity_tradeoff(points: list[dict], path: str | Path, title: str = "",
                           word_bytes: float = 4.0) -> Path:
    """``points``: ``accelsim.mapper.network.tradeoff`` rows; x = peak on-chip KiB, y = DRAM MiB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for mode, (color, marker) in MODE_STYLE.items():
        pts = sorted((p["peak_words"] * word_bytes / 1024, p["dram_words"] * word_bytes / 2**20)
                     for p in points if p["mode"] == mode)
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker=marker, color=color, label=mode, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("peak on-chip storage (KiB)")
    ax.set_ylabel("DRAM traffic (MiB)")
    ax.set_title(title or "capacity vs off-chip traffic as the tile varies")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_as(fig, path)


def _has_fusion(d: Path) -> bool:
    p = d / "stats.json"
    try:
        return p.is_file() and "fusion" in json.loads(p.read_text())
    except (OSError, ValueError):
        return False


def _render(d: Path, out: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    doc = json.loads((d / "stats.json").read_text())
    return [plot_fusion_traffic(doc["fusion"], out / f"fusion_traffic.{fmt}") for fmt in formats]


DIR_PLOTS = (DirPlot("fusion_traffic", "DRAM traffic per layer, layer by layer vs the fused plan (run --fuse)",
                     _has_fusion, _render),)
