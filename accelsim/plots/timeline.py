"""CPU/GPU timeline (Gantt chart) of co-execution plans.

``accelsim partition SOC --workload W --plot FILE.png`` draws it directly; ``accelsim partition ... --out
DIR`` writes ``DIR/partition.json`` with every plan's events, and ``accelsim plot DIR`` draws it through
the plots registry (``DIR_PLOTS``): the CoDL plan above each baseline, one CPU and one GPU row each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from accelsim.errors import ConfigError

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


def _has_partition(directory: Path) -> bool:
    """Whether ``directory`` holds a partition.json of ``accelsim partition --out``, checked whole before
    any plot is drawn (a bad one is one ConfigError). A JSON document without this schema (another
    tool's file of the same name) is not ours: ignored, so it does not stop the directory's other plots;
    a file that is not JSON at all (empty, truncated, binary) is named as bad."""
    from accelsim.partition.report import SCHEMA

    path = directory / "partition.json"
    if not path.is_file():
        return False
    doc = _document(path)
    if not (isinstance(doc, dict) and doc.get("schema") == SCHEMA):
        return False
    _plans(doc, str(path))
    return True


def read_partition(path: Path) -> tuple[str, list[tuple[str, list]]]:
    """The title and the plans' events (CoDL first) of a ``partition.json`` written by ``accelsim
    partition ... --out DIR``; anything else is one ConfigError naming the file, the key and what is
    allowed."""
    return _plans(_document(path), str(path))


def _document(path: Path) -> object:
    """The parsed JSON of ``path``, or one ConfigError naming it (unreadable, not UTF-8, empty, not JSON)."""
    import json

    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror or exc})", source=source) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; expected the JSON of accelsim partition --out", source=source) from None
    if not text.strip():
        raise ConfigError("empty; expected the JSON of accelsim partition --out", source=source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                          source=source) from None


def _plans(doc: object, source: str) -> tuple[str, list[tuple[str, list]]]:
    """The title and the plans' events of a parsed partition.json, every key checked (:func:`read_partition`)."""
    from accelsim.fields import Fields
    from accelsim.partition.report import SCHEMA
    from accelsim.partition.timeline import KINDS, PROCESSORS, Event

    top = Fields(doc, source)
    top.str("schema", choices=(SCHEMA,))
    if not top.has("timeline"):
        raise top.error("timeline", "missing; write it with accelsim partition SOC --workload W --out DIR")
    timeline = top.sub("timeline")
    plans = []
    for name in ["codl"] + sorted(k for k in timeline.data if k != "codl"):
        evs = []
        for i, item in enumerate(timeline.list(name)):
            e = Fields(item, source, f"{timeline.key(name)}[{i}]")
            start = e.number("start_ms", minimum=0.0)
            end = e.number("end_ms", minimum=0.0)
            if end < start:
                raise e.error("end_ms", f"value {end} is before start_ms {start}")
            evs.append(Event(processor=e.str("processor", choices=PROCESSORS), start_ms=start, end_ms=end,
                             kind=e.str("kind", choices=KINDS), label=e.str("label")))
            e.done()
        plans.append(("CoDL" if name == "codl" else name, evs))
    title = f"{top.str('workload')} on {top.str('soc_name')}: CPU/GPU timeline (predicted)"
    return title, plans


def _render(directory: Path, out_dir: Path, formats: tuple[str, ...], where: dict) -> list[Path]:
    from accelsim.plots.style import save

    title, plans = read_partition(directory / "partition.json")
    return save(figure_timeline(plans, title), Path(out_dir) / "partition_timeline", formats)


def _dir_plots():
    from accelsim.plots.registry import DirPlot

    return (DirPlot("partition", "CPU/GPU Gantt chart of a co-execution plan (partition.json from "
                                 "accelsim partition --out)", _has_partition, _render),)


DIR_PLOTS = _dir_plots()
