"""CPU/GPU timeline (Gantt chart) of co-execution plans.

``accelsim partition SOC --workload W --plot FILE.png`` draws it directly; ``accelsim partition ... --out
DIR`` writes ``DIR/partition.json`` with every plan's events, and ``accelsim plot DIR`` draws it through
the plots registry (``DIR_PLOTS``): the CoDL plan above each baseline, one CPU and one GPU row each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_COLORS = {("compute", "CPU"): "#4C72B0", ("compute", "GPU"): "#55A868",
           "sharing": "#DD8452", "sync": "#C44E52"}


def plot_timeline(plans: Sequence[tuple[str, Sequence]], title: str, path: str | Path) -> Path:
    """Draw one CPU row and one GPU row per plan. ``plans``: (plan label, events) with events from
    :func:`accelsim.partition.timeline.events`. Returns the written path."""
    import matplotlib

    matplotlib.use("Agg")
    from accelsim.plots.style import save_as

    return save_as(figure_timeline(plans, title), path)


def figure_timeline(plans: Sequence[tuple[str, Sequence]], title: str):
    """The Gantt chart as a matplotlib figure (see :func:`plot_timeline`)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = []
    for label, evs in plans:
        for proc in ("CPU", "GPU"):
            rows.append((f"{label}\n{proc}", proc, [e for e in evs if e.processor == proc]))
    end = max((e.end_ms for _, evs in plans for e in evs), default=1.0) or 1.0
    height = 1.7 + 0.55 * len(rows)
    fig, ax = plt.subplots(figsize=(12, height))
    for y, (_, proc, evs) in enumerate(rows):
        y = len(rows) - 1 - y
        for e in evs:
            color = _COLORS[("compute", proc)] if e.kind == "compute" else _COLORS[e.kind]
            ax.barh(y, e.end_ms - e.start_ms, left=e.start_ms, height=0.7, color=color,
                    edgecolor="white", linewidth=0.4)
            if e.kind == "compute" and e.end_ms - e.start_ms > 0.045 * end:
                ax.text((e.start_ms + e.end_ms) / 2, y, e.label, ha="center", va="center", fontsize=7,
                        color="white", clip_on=True)
    for i, (_label, evs) in enumerate(plans):
        finish = max((e.end_ms for e in evs), default=0.0)
        y_mid = len(rows) - 1.5 - 2 * i
        ax.text(finish + 0.005 * end, y_mid, f"{finish:.1f} ms", va="center", ha="left", fontsize=8,
                fontweight="bold")
        if i > 0:
            ax.axhline(y_mid + 1.0, color="0.6", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in reversed(rows)], fontsize=8)
    ax.set_xlabel("time (ms)")
    ax.set_xlim(0, end * 1.12)
    ax.set_ylim(-0.6, len(rows) - 0.2)
    ax.set_title(title)
    handles = [Patch(color=_COLORS[("compute", "CPU")], label="CPU compute"),
               Patch(color=_COLORS[("compute", "GPU")], label="GPU compute"),
               Patch(color=_COLORS["sharing"], label="data sharing (transform + map)"),
               Patch(color=_COLORS["sync"], label="pre-sync")]
    ax.grid(axis="x", alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))
    return fig


def _partition_doc(directory: Path) -> dict | None:
    import json

    p = directory / "partition.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text())
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("timeline"), dict) else None


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    from accelsim.partition.timeline import Event
    from accelsim.plots.style import save

    doc = _partition_doc(directory)
    assert doc is not None
    order = ["codl"] + sorted(k for k in doc["timeline"] if k != "codl")
    plans = [("CoDL" if name == "codl" else name, [Event(**e) for e in doc["timeline"][name]]) for name in order]
    title = f"{doc['workload']} on {doc['soc_name']}: CPU/GPU timeline (predicted)"
    return save(figure_timeline(plans, title), Path(out_dir) / "partition_timeline", formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("partition", "CPU/GPU Gantt chart of a co-execution plan (partition.json from "
                                 "accelsim partition --out)", lambda d: _partition_doc(d) is not None, _render),)


DIR_PLOTS = _dir_plots()
